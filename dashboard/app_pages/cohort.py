"""Cohort vs BOLERO-2: the clinic's toxicity incidence against published reference rates."""
from __future__ import annotations

from datetime import date

import streamlit as st

from dashboard.access import require_page
from dashboard.charts import incidence_vs_reference
from models import incidence, references

user = require_page("cohort")
st.title("Cohort vs BOLERO-2")

left, right = st.columns([2, 1])
sets = references.reference_sets()
reference_set = left.selectbox("Reference set", sets, index=sets.index(references.DEFAULT_REFERENCE_SET),
                               help="Published rates to compare against; the source of each is in the table.")
as_of = right.date_input("Analysis date", value=date.today(), max_value=date.today(), format="YYYY-MM-DD")
st.caption(references.citation(reference_set))

exposed, rows = incidence.cohort_incidence(as_of=as_of, reference_set=reference_set)
if exposed == 0:
    st.info("No patient had started everolimus on or before the analysis date, so there is nothing to "
            "compare yet.")
    st.stop()
if exposed < 20:
    st.warning(f"Only {exposed} patients are exposed: confidence intervals are wide and a difference from "
               "the reference is hard to show.")

frame = incidence.long_frame(rows)
st.metric("Exposed patients", exposed)
st.altair_chart(incidence_vs_reference(frame), width="stretch")
st.caption("Dot: the cohort's incidence (treatment-emergent, worst grade per patient); line: exact 95% "
           "Clopper-Pearson interval; red tick: the reference rate. Hover for counts and sources.")

for text in frame[frame["signal"].isin(["higher", "lower"])]["reading"]:
    st.markdown(f"- {text}", unsafe_allow_html=False)

st.dataframe(frame.drop(columns=["reading"]), hide_index=True, width="stretch",
             column_config={"pct": st.column_config.NumberColumn("Cohort %", format="%.1f"),
                            "ci_low_pct": st.column_config.NumberColumn("CI low %", format="%.1f"),
                            "ci_high_pct": st.column_config.NumberColumn("CI high %", format="%.1f"),
                            "reference_pct": st.column_config.NumberColumn("Reference %", format="%g"),
                            "p_value": st.column_config.NumberColumn("p (exact binomial)", format="%.4f")})
st.download_button("Download CSV", frame.to_csv(index=False), file_name=f"incidence_{as_of}.csv",
                   mime="text/csv")
