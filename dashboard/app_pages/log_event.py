"""Log adverse event: what the clinic logged most recently, and who needs attention."""
from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from dashboard.access import require_page
from models import queries

user = require_page("log_event")
st.title("Log adverse event")

events = queries.adverse_events()
today = date.today()
open_events = events[events["resolved_date"].isna() & ~events["baseline"]]
columns = st.columns(3)
columns[0].metric("Open adverse events", len(open_events))
columns[1].metric("Open grade ≥ 3", int((open_events["grade"] >= 3).sum()))
columns[2].metric("Onset in the last 7 days", int((events["onset_date"] > today - timedelta(days=7)).sum()))

st.subheader("Patients with an open grade ≥ 3 event")
severe = open_events[open_events["grade"] >= 3].sort_values("onset_date")
st.dataframe(severe[["mrn", "term", "grade", "onset_date", "serious"]], hide_index=True, width="stretch",
             column_config={"mrn": "MRN", "term": "CTCAE term", "onset_date": "Onset"})

st.subheader("Most recent adverse events")
st.dataframe(events.sort_values(["onset_date", "id"], ascending=False).head(50)
             [["mrn", "term", "grade", "onset_date", "resolved_date", "serious", "source", "created_by"]],
             hide_index=True, width="stretch",
             column_config={"mrn": "MRN", "term": "CTCAE term", "onset_date": "Onset",
                            "resolved_date": "Resolved", "created_by": "Logged by"})
