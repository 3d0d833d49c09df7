"""Benchmarks: the runs `vidprov bench detector` / `bench watermark` wrote, one or two side by side."""

from __future__ import annotations

import streamlit as st

from vidprov.app import runs, shared

st.title("Benchmarks")
root = shared.results_root()
found = runs.list_runs(root)
st.caption(f"Runs are the result folders under the server's results folder ({shared.RESULTS_ENV}, "
           "default ./reports) written by `vidprov bench detector --out ...` or `vidprov bench watermark --out ...`.")
if not found:
    st.info("No benchmark runs found yet. Run `vidprov bench detector --out reports/bench-detector` "
            "or `vidprov bench watermark --out reports/bench-watermark`, then reload.")
    st.stop()

names = list(found)
c1, c2 = st.columns(2)
first = c1.selectbox("Run", names)
second = c2.selectbox("Compare with", ["(none)", *[n for n in names if n != first]])
chosen = [first] if second == "(none)" else [first, second]
cols = st.columns(len(chosen))
for col, name in zip(cols, chosen, strict=True):
    with col:
        runs.render(name, found[name])
