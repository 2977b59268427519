"""The Streamlit dashboard over the runs folder: `streamlit run dashboard/app.py`."""
