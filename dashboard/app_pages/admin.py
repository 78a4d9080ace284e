"""Admin: the database, the reference data with its sources and status, and the audit trail."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from models import ctcae, queries, references
from models.migrate import current_revision, head_revision
from models.settings import database_choice, masked_url

st.title("Admin")

database, reference_data, trail = st.tabs(["Database", "Reference data", "Audit trail"])

with database:
    choice = database_choice()
    st.markdown("**Database**")
    st.code(masked_url(choice.url), language=None)
    st.caption(f"Backend {choice.backend}; schema revision {current_revision(choice.url)} "
               f"(newest {head_revision()}).")
    counts = queries.table_counts()
    st.dataframe(pd.DataFrame({"records": counts}), width="content")

with reference_data:
    st.markdown("**CTCAE v5.0 terms used here**")
    terms = pd.DataFrame([{"term": t.name, "MedDRA code": t.meddra_code, "grades defined": ", ".join(
        str(g) for g in sorted(t.grades)), "status": t.status, "source": t.source} for t in ctcae.terms()])
    st.dataframe(terms, hide_index=True, width="stretch")
    st.markdown("**Reference rates**")
    rates = pd.DataFrame([{"set": r.reference_set, "term": r.ctcae_term, "trial term": r.trial_term,
                           "arm": r.arm, "n": r.arm_n, "any grade %": r.any_grade_text,
                           "grade ≥2 %": r.grade_2_plus_text, "grade ≥3 %": r.grade_3_plus_text,
                           "verified": r.verified, "source": r.source}
                          for name in references.reference_sets() for r in references.rates(name, arm="*")])
    st.dataframe(rates, hide_index=True, width="stretch")

with trail:
    st.dataframe(queries.audit_trail(), hide_index=True, width="stretch")
