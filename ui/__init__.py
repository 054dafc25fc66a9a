"""Streamlit-side helpers shared by app.py and the pages (drawing and session state only)."""
