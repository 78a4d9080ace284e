"""ToxWatch domain: data model, clinical logic and persistence. Never imports Streamlit."""
