"""Altair chart builders: DataFrame in, Chart out (no Streamlit here, so they are testable alone)."""
from __future__ import annotations

import altair as alt
import pandas as pd

# One grade palette for the whole app: pale for grade 1, deep red for grade 4, black for death.
GRADE_COLORS = {1: "#f6d55c", 2: "#f29e4c", 3: "#d9534f", 4: "#8b1e3f", 5: "#222222"}


def grade_scale() -> alt.Scale:
    return alt.Scale(domain=list(GRADE_COLORS), range=list(GRADE_COLORS.values()))


def incidence_vs_reference(rows: pd.DataFrame) -> alt.Chart:
    """Forest-style chart: the cohort's incidence with its 95% CI per term, the reference as a tick.

    `rows` has term, band ("Any grade" / "Grade >= 3"), pct, ci_low_pct, ci_high_pct, reference_pct,
    reference_source, patients, exposed.
    """
    base = alt.Chart(rows).encode(
        y=alt.Y("term:N", title=None, sort=None),
        tooltip=[alt.Tooltip("term:N", title="CTCAE term"), alt.Tooltip("band:N", title="Band"),
                 alt.Tooltip("patients:Q", title="Patients"), alt.Tooltip("exposed:Q", title="Exposed"),
                 alt.Tooltip("pct:Q", title="Cohort %", format=".1f"),
                 alt.Tooltip("ci_low_pct:Q", title="95% CI low", format=".1f"),
                 alt.Tooltip("ci_high_pct:Q", title="95% CI high", format=".1f"),
                 alt.Tooltip("reference_pct:Q", title="Reference %"),
                 alt.Tooltip("reference_source:N", title="Reference source")],
    )
    interval = base.mark_rule(strokeWidth=2, color="#1f6f78").encode(
        x=alt.X("ci_low_pct:Q", title="Patients with the event (%), 95% CI", scale=alt.Scale(domain=[0, 100])),
        x2="ci_high_pct:Q")
    estimate = base.mark_point(filled=True, size=70, color="#1f6f78").encode(x="pct:Q")
    reference = base.mark_tick(color="#d9534f", thickness=3, size=18).encode(x="reference_pct:Q")
    return alt.layer(interval, estimate, reference).properties(height=alt.Step(26)).facet(
        column=alt.Column("band:N", title=None, sort=["Any grade", "Grade >= 3"]))
