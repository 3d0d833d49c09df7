"""The app's pages: Streamlit runs each file as a script (see app/main.py)."""
