"""The vidprov web app: `vidprov app` runs this script with Streamlit."""

import streamlit as st

st.set_page_config(page_title="vidprov", page_icon=":material/verified:", layout="wide")

pages = [
    st.Page("views/check.py", title="Check a clip", icon=":material/search:", url_path="check", default=True),
    st.Page("views/generate.py", title="Generate", icon=":material/movie:", url_path="generate"),
    st.Page("views/how_it_works.py", title="How it works", icon=":material/schema:", url_path="how-it-works"),
    st.Page("views/benchmarks.py", title="Benchmarks", icon=":material/bar_chart:", url_path="benchmarks"),
    st.Page("views/about.py", title="About", icon=":material/info:", url_path="about"),
]
st.navigation(pages).run()
