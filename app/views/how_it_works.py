"""How it works: one run of a shipped generator, opened up (computed at request time)."""

from __future__ import annotations

import streamlit as st

from vidprov.app import figures, shared
from vidprov.errors import VidprovError
from vidprov.generator import DEFAULT_MODEL, FAMILIES
from vidprov.generator.explain import explain, token_grid

st.title("How it works")
st.caption("A latent spacetime diffusion model, opened up on a clip it makes now. Everything below comes "
           "from one run of the real model with your settings.")

c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
prompt = c1.text_input("Prompt", "a person walking on a beach", max_chars=200)
model = c2.selectbox("Model", list(FAMILIES), index=list(FAMILIES).index(DEFAULT_MODEL))
seed = c3.number_input("Seed", 0, 2**31 - 1, 0)
steps = c4.slider("Steps", 2, 30, 8)

try:
    gen = shared.generator(model)
    grid = token_grid(gen)
    q1, q2, q3 = st.columns(3)
    query = (q1.slider("Query patch: latent frame", 0, grid[0] - 1, 0),
             q2.slider("row", 0, grid[1] - 1, grid[1] // 2), q3.slider("column", 0, grid[2] - 1, grid[2] // 2))
    with st.spinner("Running the model..."):
        ex = explain(gen, prompt, seed=int(seed), steps=int(steps), query=query)
except (VidprovError, ValueError, OSError) as exc:
    st.error(f"The model could not run: {' '.join(str(exc).split())[:300]}")
    st.stop()

st.subheader("1. The frames")
st.image(figures.strip(ex.frames), caption=f"{len(ex.frames)} frames at {ex.fps:g} fps, "
         f"{ex.frames.shape[2]}x{ex.frames.shape[1]} px", width="stretch")

st.subheader("2. The latent after the VAE")
c = ex.compression
st.markdown(f"The VAE squeezes the clip into **{c['channels']} channels x {ex.latent.shape[1]} latent frames x "
            f"{ex.latent.shape[2]}x{ex.latent.shape[3]}**: about {c['temporal']:g}x fewer frames, {c['spatial']:g}x "
            f"fewer pixels per side, **{c['ratio']:g}x fewer numbers** than the pixels. Diffusion happens here.")
st.image(figures.channels(ex.latent), caption="Latent frame 0, one tile per channel (up to 16), each scaled to its own range.",
         width="stretch")

st.subheader("3. The spacetime patches the transformer sees")
pt, ph, pw = ex.patch
t, h, w = ex.token_grid
st.markdown(f"Each token is {pt}x{ph}x{pw} latent cells (frames x rows x columns): the transformer sees "
            f"**{t}x{h}x{w} = {t * h * w} tokens** and attends between all of them, across space and time.")
st.image(figures.patch_grid(ex.frames, ex.token_grid), caption="Frames of each latent step, with the patch grid.",
         width="stretch")

st.subheader("4. The denoising trajectory")
st.markdown("Starting from pure noise, each step predicts the clean clip and moves a little towards it. "
            "Rows: the clean clip the model predicts at that step.")
for point in ex.trajectory:
    st.image(figures.strip(point["frames"]), caption=f"step {point['step'] + 1} of {steps}, noise level "
             f"{point['sigma']:.2f}", width="stretch")

st.subheader("5. Attention across time")
if ex.attention is not None:
    st.markdown(f"Where the patch marked in green (latent frame {ex.query[0]}, row {ex.query[1]}, column "
                f"{ex.query[2]}) looks, in the first transformer block at step {ex.attention_step + 1}: bright "
                "patches in other frames are how the model keeps an object the same over time.")
    st.image(figures.attention(ex.frames, ex.attention, ex.query), width="stretch",
             caption="Self-attention of the query patch (mean over heads), overlaid on each latent frame's first pixel frame.")
else:
    st.write("This model's attention could not be recorded.")
