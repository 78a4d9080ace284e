"""Dosing audit: dose holds, reductions and relative dose intensity per patient."""
from __future__ import annotations

from datetime import date

import streamlit as st

from dashboard.access import require_page
from models import dosing, queries

user = require_page("dosing_audit")
st.title("Dosing audit")

as_of = st.date_input("Analysis date", value=date.today(), max_value=date.today(), format="YYYY-MM-DD")
patients = queries.patients()
doses = queries.dose_events()
intensity = dosing.dose_intensity(patients, doses, as_of)

if intensity.empty:
    st.info("No patient had started everolimus on or before the analysis date.")
    st.stop()

columns = st.columns(4)
columns[0].metric("Median relative dose intensity", f"{intensity['relative_dose_intensity_pct'].median():.0f}%")
columns[1].metric("Patients with a reduction", int((intensity["reductions"] > 0).sum()))
columns[2].metric("Patients with a hold", int((intensity["days_held"] > 0).sum()))
columns[3].metric("Dose events", len(doses[doses["effective_date"] <= as_of]))

st.subheader("Relative dose intensity per patient")
st.dataframe(intensity.drop(columns=["patient_id"]).sort_values("relative_dose_intensity_pct"),
             hide_index=True, width="stretch",
             column_config={"mrn": "MRN", "relative_dose_intensity_pct": st.column_config.ProgressColumn(
                 "RDI %", min_value=0, max_value=100, format="%.0f%%")})
st.caption("RDI = mg taken / (planned mg/day × days from start to the earlier of discontinuation and the "
           "analysis date).")

st.subheader("Holds, reductions and discontinuations")
changes = doses[(doses["action"] != "start") & (doses["effective_date"] <= as_of)]
st.dataframe(changes.drop(columns=["id", "patient_id"]).sort_values("effective_date", ascending=False),
             hide_index=True, width="stretch")
st.download_button("Download dose intensity CSV", intensity.to_csv(index=False),
                   file_name=f"dose_intensity_{as_of}.csv", mime="text/csv")
