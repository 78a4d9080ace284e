"""Admin > Reference data: the monitoring protocol in force, edited as a table and saved as a new version."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.widgets import plain, saved_then_rerun, show_notice, show_problems
from models.clinical import alerts as alert_data
from models.store import protocols
from models.store.record_errors import Actor, RecordError

NOTICE = "protocol_notice"
LABELS = {"panel": "Panel", "tests": "Lab tests (codes, space-separated)", "baseline_days_before_start":
          "Baseline: days before the start", "from_day": "From day", "to_day": "To day (empty: onwards)",
          "every_days": "Every (days)", "source": "Source", "status": "Status"}


def monitoring_protocol_editor(who: Actor) -> None:
    current = protocols.in_force()
    st.markdown("**Monitoring protocol** (the worklist's monitoring schedule)")
    show_notice(NOTICE)
    st.caption(plain("In force: " + current.describe() + ". The label asks for these tests before the start and "
                     "'periodically' without intervals: an interval no source gives is clinic policy, and its "
                     "status says so. Lab test codes: " + ", ".join(alert_data.LAB_TESTS) + "."))
    frame = pd.DataFrame(alert_data.protocol_rows(current.intervals), columns=list(alert_data.PROTOCOL_COLUMNS))
    frame = frame.astype({"to_day": "Int64"})
    version = current.version or 0  # a fresh editor for each version in force
    edited = st.data_editor(frame, num_rows="dynamic", hide_index=True, width="stretch", key=f"protocol_{version}",
                            column_config={column: st.column_config.Column(label) for column, label in LABELS.items()})
    comment = st.text_input("Why this change", key=f"protocol_comment_{version}")
    if st.button("Save as a new version", key=f"protocol_save_{version}", disabled=who.role != "admin"):
        rows = [{column: _cell(value) for column, value in row.items()} for row in edited.to_dict("records")]
        try:
            number = protocols.save(rows, who, comment=comment)
        except RecordError as error:
            show_problems(error)
        else:
            saved_then_rerun(NOTICE, f"Monitoring protocol version {number} saved by {who.username}; the worklist "
                                     "uses it from now on.")


def _cell(value) -> str:
    """An edited cell as the text the protocol validator reads (a whole number added in a new row comes back as
    a float: 28.0 is 28)."""
    if value is None or pd.isna(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
