"""How a scan report reads on the Check page: the finding in plain words first, then the details."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from vidprov.detector.evidence import noise_residual
from vidprov.detector.evidence import scope_notes as _detector_scope_notes

# Fields of ScanReport.to_dict() this page shows in its own panels; any other non-empty field a
# detector adds is shown as it comes under "More evidence".
KNOWN_FIELDS = {"path", "p_generated", "verdict", "error", "threshold", "real_below", "segments", "drivers", "evidence",
                "analysed_s", "duration_s", "analysed_fraction", "detector", "provenance", "provenance_verdict",
                "elapsed_s", "input", "scope_notes"}

NOT_PROOF = ("A low score is not proof that a clip is authentic: the detector has only seen some generators, "
             "and edits such as re-encoding, cropping or filters change what it measures. Missing Content "
             "Credentials or watermark prove nothing either: both can be stripped, and most real clips have neither. "
             "The detector was built for camera footage and AI video: animation and screen recordings are outside "
             "what it can judge.")


def scope_notes(info) -> list[str]:
    return _detector_scope_notes(info)


def one_line(exc: BaseException, replacements: dict[str, str]) -> str:
    """An exception as one line of text without server paths."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for server, public in replacements.items():
        if server:
            text = text.replace(server + "/", "").replace(server, public)
    return text[:300]


def headline(report: dict[str, Any]) -> tuple[str, str, str]:
    """(level, title, explanation): level is 'substantial', 'uncertain' or 'little'."""
    prov = report.get("provenance_verdict") or ""
    p = report.get("p_generated")
    if prov.startswith("generated"):
        reason = prov[prov.find("(") + 1: prov.rfind(")")] if "(" in prov else prov
        return "substantial", "Substantial evidence this clip was made by AI", f"Provenance says so: {reason}."
    if report.get("verdict") == "likely generated":
        return ("substantial", "Substantial evidence this clip was made by AI",
                f"The detector scores it {p:.2f} on a 0-1 scale, at or above its threshold of {report['threshold']:.2f}.")
    if report.get("verdict") == "uncertain":
        return ("uncertain", "Uncertain: the detector cannot tell",
                f"The score {p:.2f} lies between the 'likely real' ({report['real_below']:.2f}) and "
                f"'likely generated' ({report['threshold']:.2f}) limits.")
    return ("little", "Little evidence this clip was made by AI",
            f"The detector scores it {p:.2f}, below its 'likely real' limit of {report['real_below']:.2f}, and "
            "no Content Credentials or watermark say otherwise.")


def key_frames(path: Path, n: int = 3) -> list[np.ndarray]:
    """n frames spread over the clip, each at most 360 px tall (for display only)."""
    import vidprov

    # decoded at 360 px: full-size 1080p frames x 240 would pass the decode limit meant for uploads
    clip = vidprov.read_video(path, max_frames=240, size=360, allow_partial=True)
    idx = np.linspace(0, len(clip.frames) - 1, min(n, len(clip.frames))).round().astype(int)
    out = []
    for f in clip.frames[idx]:
        if f.shape[0] > 360:
            import cv2

            f = cv2.resize(f, (round(f.shape[1] * 360 / f.shape[0]), 360), interpolation=cv2.INTER_AREA)
        out.append(np.ascontiguousarray(f))
    return out


def render(report: dict[str, Any], frames: list[np.ndarray]) -> None:
    level, title, why = headline(report)
    box = {"substantial": st.error, "uncertain": st.warning, "little": st.info}[level]
    box(f"### {title}\n{why}")
    notes = report.get("scope_notes") or []
    if notes:
        st.warning("**Outside what the detector was built for**, so its score means less: " + "; ".join(notes) + ".")
    st.caption("What this does not prove: " + NOT_PROOF)

    c1, c2, c3 = st.columns(3)
    c1.metric("P(generated)", f"{report['p_generated']:.2f}")
    c2.metric("Looked at", f"{report['analysed_s']:.1f} s" + (f" of {report['duration_s']:.1f} s" if report.get("duration_s") else ""))
    c3.metric("Detector", str(report.get("detector")))
    from vidprov.detector.scan import model_card

    fpr = model_card(report.get("detector")).get("target_fpr") if report.get("detector") else None
    how = f" (set for {fpr:.0%} of held-out real clips above it)" if fpr else ""
    st.markdown(f"P(generated) is calibrated on held-out clips. At or above **{report['threshold']:.2f}** a clip is "
                f"called likely generated{how}; below **{report['real_below']:.2f}** likely real; in between, "
                "uncertain.")

    st.subheader("Score over time")
    segs = report.get("segments") or []
    if segs:
        import pandas as pd

        df = pd.DataFrame({"seconds": [s["start_s"] for s in segs], "P(generated)": [s["p_generated"] for s in segs],
                           "threshold": report["threshold"]}).set_index("seconds")
        st.line_chart(df, height=200)
        st.caption(f"One point per analysed {segs[0]['end_s'] - segs[0]['start_s']:.1f}-s segment, at its start time.")

    st.subheader("Evidence")
    evidence = report.get("evidence") or [f"{d['feature']}: towards {d['towards']} ({d['log_odds']:+.2f} log-odds)"
                                          for d in report.get("drivers") or []]
    if evidence:
        st.caption("The signals that moved the score most, strongest first (log-odds: how far each moved it).")
        st.markdown("\n".join(f"- {e}" for e in evidence))
    else:
        st.write("The detector reported no individual signals for this clip.")
    extra = {k: v for k, v in report.items() if k not in KNOWN_FIELDS and v not in (None, [], {}, "")}
    for key, value in extra.items():
        st.markdown(f"**{key.replace('_', ' ').capitalize()}**")
        render_any(value)

    if frames:
        st.subheader("Key frames and their noise residual")
        st.caption("Below each frame: what is left after removing the picture (frame minus a 3x3 median). Camera "
                   "clips show fine, even grain; generated frames are often smoother or carry a regular pattern.")
        cols = st.columns(len(frames))
        for col, f in zip(cols, frames, strict=True):
            col.image(f, width="stretch")
            col.image(noise_residual(f), width="stretch", clamp=True)

    prov = report.get("provenance") or {}
    left, right = st.columns(2)
    with left:
        credentials_panel(prov.get("c2pa") or {}, prov.get("error"))
    with right:
        watermark_panel(prov.get("watermark"), prov.get("latent_watermark"))
    if prov.get("finding"):
        st.caption(f"Provenance in one line: {prov['finding']}")


def render_any(value: Any) -> None:
    """An evidence field of unknown shape, shown as readably as its type allows."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        st.markdown("\n".join(f"- {v}" for v in value))
    elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
        st.dataframe(value, width="stretch")
    elif isinstance(value, (dict, list)):
        st.json(value, expanded=False)
    else:
        st.write(value)


def credentials_panel(c2pa: dict[str, Any], error: str | None) -> None:
    st.subheader("Content Credentials (C2PA)")
    if error:
        st.write(f"Could not be checked: {error}")
        return
    state = c2pa.get("state", "absent")
    meaning = {"Trusted": "signed by a signer on the trust list, and the file is unchanged since signing",
               "Valid": "signed and unchanged, but the signer is not on the trust list",
               "Invalid": "present but broken: the file was changed after signing, or the signature is bad",
               "absent": "none attached (most cameras and platforms do not add them, and they are easy to strip)"}
    st.markdown(f"**{state}**: {meaning.get(state, '')}")
    m = c2pa.get("manifest") or {}
    signer = m.get("signer") or {}
    if isinstance(signer, dict):
        signer = ", ".join(str(v) for v in (signer.get("common_name"), signer.get("issuer")) if v)
    gens = m.get("claim_generator")
    rows = {"signer": signer, "claim generator": ", ".join(map(str, gens)) if isinstance(gens, list) else gens,
            "digitalSourceType": m.get("digital_source_type"),
            "actions": ", ".join(str(a) for a in m.get("actions") or []),
            "validation codes": ", ".join(c2pa.get("codes") or [])}
    rows = {k: v for k, v in rows.items() if v}
    if rows:
        st.table({"field": list(rows), "value": [str(v) for v in rows.values()]})


def watermark_panel(wm: dict[str, Any] | None, latent: dict[str, Any] | None) -> None:
    st.subheader("Invisible watermark")
    if not wm:
        st.write("Not tested (no watermark key is configured on this server).")
    elif wm.get("detected"):
        st.markdown(f"**Detected** (p-value {wm['p_value']:.2g}): payload `{wm.get('payload')}`, key id `{wm.get('key_id')}`.")
    else:
        st.markdown(f"**Not detected** for key id `{wm.get('key_id')}` (p-value {wm['p_value']:.2g}; a mark counts "
                    "as detected below 1e-6). Only vidprov's own mark can be found here.")
    if latent and latent.get("tested"):
        st.markdown(f"Latent (generation-time) mark of `{latent.get('model')}`: "
                    f"{'**detected**' if latent.get('detected') else 'not detected'} (p-value {latent['p_value']:.2g}).")
