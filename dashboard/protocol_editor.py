"""Admin > Reference data: the monitoring protocol in force, edited as a table and saved as a new version."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.widgets import plain, saved_then_rerun, show_notice, show_problems
from models.clinical import alerts as alert_data
from models.clinical.vocabulary import LAB_TEST_LABELS
from models.store import protocols
from models.store.record_errors import Actor, RecordError

NOTICE = "protocol_notice"
LABELS = {"panel": "Panel", "tests": "Lab tests (comma-separated)", "baseline_days_before_start":
          "Baseline: days before the start", "from_day": "From day", "to_day": "To day (empty: onwards)",
          "every_days": "Every (days)", "source": "Source", "status": "Status"}


def monitoring_protocol_editor(who: Actor) -> None:
    current = protocols.in_force()
    st.markdown("**Monitoring protocol** (the worklist's monitoring schedule)")
    show_notice(NOTICE)
    st.caption(plain("In force: " + current.describe() + ". The label asks for these tests before the start and "
                     "'periodically' without intervals: an interval no source gives is clinic policy, and its "
                     "status says so. Lab tests: " + ", ".join(LAB_TEST_LABELS.values()) + "."))
    rows = alert_data.protocol_rows(current.intervals)
    for row in rows:  # the tests by the names people read, not their codes
        row["tests"] = ", ".join(LAB_TEST_LABELS[test] for test in row["tests"].split())
    frame = pd.DataFrame(rows, columns=list(alert_data.PROTOCOL_COLUMNS)).astype({"to_day": "Int64"})
    frame = frame.rename(columns=LABELS)  # the editor's headers are what people read
    version = current.version or 0  # a fresh editor for each version in force
    edited = st.data_editor(frame, num_rows="dynamic", hide_index=True, width="stretch", key=f"protocol_{version}",
                            placeholder="")
    comment = st.text_input("Why this change", key=f"protocol_comment_{version}")
    if st.button("Save as a new version", key=f"protocol_save_{version}", disabled=who.role != "admin"):
        fields = {label: column for column, label in LABELS.items()}
        rows = [{fields[label]: _cell(value) for label, value in row.items()} for row in edited.to_dict("records")]
        for row in rows:
            row["tests"] = " ".join(_test_code(name) for name in row["tests"].split(",") if name.strip())
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


def _test_code(name: str) -> str:
    """A lab test as typed (its name, any case, or its code) as its code; an unknown one is kept, and refused
    with its name by the protocol's validator."""
    typed = name.strip()
    by_name = {label.casefold(): code for code, label in LAB_TEST_LABELS.items()}
    return by_name.get(typed.casefold(), typed.replace(" ", "_"))
