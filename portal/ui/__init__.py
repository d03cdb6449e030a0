"""Small shared Streamlit helpers: sign-in and guards, formatting, charts, feedback.

The only place besides pages/ and Home.py that imports streamlit.
"""
