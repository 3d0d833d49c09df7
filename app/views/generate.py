"""Generate: a clip from a prompt with a shipped generator, watermarked and signed by default."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

import vidprov
from vidprov.app import shared
from vidprov.errors import VidprovError

st.title("Generate")
st.caption("vidprov's own latent spacetime diffusion models, trained from scratch on a small CPU budget: "
           "64x64 px, about two seconds. By default every clip carries an invisible watermark and signed "
           "Content Credentials that say it was made by AI.")

from vidprov.generator import DEFAULT_MODEL, FAMILIES  # noqa: E402

with st.form("generate"):
    prompt = st.text_input("Prompt", "cars on a street at night", max_chars=200)
    c1, c2, c3 = st.columns(3)
    model = c1.selectbox("Model", list(FAMILIES), index=list(FAMILIES).index(DEFAULT_MODEL))
    seed = c2.number_input("Seed", 0, 2**31 - 1, 0)
    steps = c3.slider("Denoising steps", 1, 50, 20)
    protect = st.checkbox("Watermark and sign (Content Credentials)", value=True)
    go = st.form_submit_button("Generate", type="primary")


def make(prompt: str, model: str, seed: int, steps: int, protect: bool) -> bytes:
    gen = shared.generator(model)
    clip = gen(prompt, seed=int(seed), steps=int(steps))
    with tempfile.TemporaryDirectory(prefix="vidprov-app-") as tmp:
        out = Path(tmp) / "generated.mp4"
        if protect:
            from vidprov.provenance import protect as protect_clip
            from vidprov.watermark.credentials import Claims

            claims = Claims(generator=f"vidprov-{gen.family}", generator_version=vidprov.__version__, model=model,
                            checkpoint_sha256=gen.checkpoint_hash, prompt=prompt, seed=int(seed))
            protect_clip(clip, out, claims)
        else:
            vidprov.write_video(clip, out)  # H.264 yuv420p: plays in every browser
        return out.read_bytes()


if go:
    if not prompt.strip():
        st.error("Type a prompt first.")
    else:
        with st.spinner(f"Generating with {model} ({steps} steps)..."):
            try:
                data = make(prompt, model, seed, steps, protect)
                st.session_state["generated"] = (f"{model}-seed{seed}.mp4", data, protect)
            except (VidprovError, ValueError, OSError) as exc:
                st.error(f"Generation failed: {' '.join(str(exc).split())[:300]}")

if "generated" in st.session_state:
    name, data, signed = st.session_state["generated"]
    left, right = st.columns([2, 1])
    with left:
        st.video(data, format="video/mp4", loop=True, autoplay=True, muted=True)
    with right:
        st.markdown(f"**{name}**  \n{'Watermarked and signed.' if signed else 'Not watermarked, not signed.'}")
        st.download_button("Download the clip", data, file_name=name, mime="video/mp4")
        if st.button("Check this clip"):
            st.session_state["generated_for_check"] = (name, data)
            st.switch_page("views/check.py")
