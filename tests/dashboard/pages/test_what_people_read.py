"""Every page, as each role opens it, shows labels, not field names: no table header or cell, and no option of
a choice, reads as a snake_case identifier, `None` or `nan` (dashboard/labels.py is the one vocabulary).

The walk opens each page of each role on the demo cohort, and the views a page hides behind a choice: the
nurse's four modes with a patient chosen, the busiest patient's course, a record to change, a finding to
review, a user to change.
"""
from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest

from dashboard.access import may_open
from dashboard.event_forms import CHOSEN
from dashboard.labels import FIELD_LABELS, TEXT_COLUMNS, people_table
from models.analysis import dose_audit
from models.store import queries
from tests.dashboard.pages.test_pages import open_app

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)+")
NOT_A_VALUE = {"None", "none", "nan", "NaN", "NaT", "<NA>", "null"}
ROLES = ("nurse", "oncologist", "pharmacist", "admin")
PAGES = {"log_event": "app_pages/log_event.py", "patients": "app_pages/patients.py",
         "cohort": "app_pages/cohort.py", "dosing_audit": "app_pages/dosing_audit.py", "admin": "app_pages/admin.py"}
# Tables each page must show on the demo cohort, so a page that stopped early cannot pass.
MIN_TABLES = {"log_event": 0, "patients": 1, "cohort": 2, "dosing_audit": 2, "admin": 4}
USER_TEXT_HEADERS = {FIELD_LABELS[field] for field in TEXT_COLUMNS}  # shown as typed, whatever they look like


def unreadable(text: str) -> bool:
    return text.strip() in NOT_A_VALUE or bool(SNAKE_CASE.fullmatch(text.strip()))


def raw_field_name(header: str) -> bool:
    """A header that is a field's name rather than its label ("mrn", "term", "kind")."""
    return (header in FIELD_LABELS and FIELD_LABELS[header] != header) or bool(re.fullmatch(r"[a-z][a-z0-9]*", header))


def table_problems(where: str, element) -> list[str]:
    frame: pd.DataFrame = element.value
    problems = [f"{where}: header {column!r}" for column in frame.columns
                if unreadable(str(column)) or raw_field_name(str(column))]
    if not isinstance(frame.index, pd.RangeIndex):  # row labels are shown too
        problems += [f"{where}: row label {label!r}" for label in frame.index if unreadable(str(label))]
    blank = element.proto.HasField("placeholder") and element.proto.placeholder == ""
    if frame.isna().to_numpy().any() and not blank:
        problems.append(f"{where}: missing cells would show as 'None' (no blank placeholder)")
    for column in frame.columns:
        if column in USER_TEXT_HEADERS:
            continue
        bad = next((v for v in frame[column].dropna().unique() if isinstance(v, str) and unreadable(v)), None)
        if bad is not None:
            problems.append(f"{where}: column {column!r} has a cell {bad!r}")
    return problems


def choice_problems(where: str, app) -> list[str]:
    problems = []
    for kind in ("selectbox", "multiselect", "radio", "button_group"):
        for widget in getattr(app, kind, []):
            options = [str(o) for o in getattr(widget, "options", [])]
            problems += [f"{where}: {kind} {widget.label!r} offers {o!r}" for o in options if unreadable(o)]
    return problems


def page_problems(where: str, app, min_tables: int = 0) -> list[str]:
    assert not app.exception, (where, [e.value for e in app.exception])
    assert app.title, f"{where}: the page drew no title"
    assert len(app.dataframe) >= min_tables, f"{where}: {len(app.dataframe)} tables, expected {min_tables}"
    problems = []
    for position, element in enumerate(app.dataframe):
        problems += table_problems(f"{where}, table {position + 1}", element)
    return problems + choice_problems(where, app)


def walk(monkeypatch, url: str, role: str) -> list[str]:
    problems = []
    for key, page in PAGES.items():
        if not may_open(role, key):
            continue
        app = open_app(monkeypatch, url, page, role=role)
        problems += page_problems(f"{role} on {page}", app, MIN_TABLES[key])
        if key == "log_event":
            problems += _log_event_views(app, role)
        elif key == "patients":
            problems += _patient_views(monkeypatch, url, role)
        elif key == "dosing_audit":
            findings, *_ = dose_audit.cohort_audit(url, as_of=date.today())
            reviewable = next(f.key for f in findings if f.status != "compliant")
            app.selectbox(key="review_choice").set_value(reviewable).run()
            problems += page_problems(f"{role} on {page} reviewing a finding", app)
    return problems


def _log_event_views(app, role: str) -> list[str]:
    problems = []
    busiest = _busiest_mrn()
    for mode in ("Adverse event", "Labs", "Today", "Import CSV"):
        app.segmented_control(key="log_mode").set_value(mode).run()
        if mode in ("Adverse event", "Labs"):
            picker = app.selectbox(key="log_patient")
            picker.select(next(o for o in picker.options if o.startswith(busiest))).run()
        problems += page_problems(f"{role} logging, mode {mode}", app)
        if mode == "Adverse event":
            events = queries.event_records(queries.patient_id_for_mrn(busiest))
            app.selectbox(key=CHOSEN).set_value(int(events["id"].iloc[0])).run()
            problems += page_problems(f"{role} logging, a record to change", app)
    return problems


def _busiest_mrn() -> str:
    events = queries.adverse_events()
    return events.groupby("mrn").size().idxmax()


def _patient_views(monkeypatch, url: str, role: str) -> list[str]:
    app = open_app(monkeypatch, url, role=role)
    app.query_params["mrn"] = _busiest_mrn()
    app.switch_page("app_pages/patient_detail.py")
    app.run()
    return page_problems(f"{role} on the busiest patient's page", app, 5)


@pytest.mark.parametrize("role", ROLES)
def test_no_page_shows_a_field_name_none_or_nan(monkeypatch, demo_sqlite_url, role):
    problems = walk(monkeypatch, demo_sqlite_url, role)
    assert not problems, "\n".join(problems)


def test_the_check_itself_finds_field_names_and_missing_words(monkeypatch, demo_sqlite_url):
    """The walk would pass vacuously if unreadable() missed what it is for."""
    assert unreadable("onset_date") and unreadable("glucose_fasting") and unreadable("None")
    assert unreadable("nan") and unreadable("NaT")
    assert not unreadable("Onset") and not unreadable("DEMO-00012") and not unreadable("Fasting glucose")
    assert raw_field_name("mrn") and raw_field_name("term") and raw_field_name("kind") and not raw_field_name("MRN")
    raw = pd.DataFrame({"onset_date": [pd.Timestamp("2026-01-02"), pd.NaT], "action_taken": ["none", None],
                        "test": ["glucose_fasting", "ast"], "serious": [True, False], "grade": [2.0, float("nan")]})
    shown = people_table(raw)
    assert list(shown.columns) == ["Onset", "Action taken", "Test", "Serious", "Grade"]
    assert shown.drop(columns="Grade").to_dict("list") == {
        "Onset": ["2026-01-02", ""], "Action taken": ["Dose not changed", ""], "Test": ["Fasting glucose", "AST"],
        "Serious": ["Yes", "No"]}
    assert str(shown["Grade"].dtype) == "Int64" and shown["Grade"].iloc[0] == 2 and pd.isna(shown["Grade"].iloc[1])

    # a bare st.dataframe with a missing cell (shown as "None") and a raw header is caught
    from streamlit.testing.v1 import AppTest

    def bare_table():
        import pandas as pd
        import streamlit as st

        st.title("Bare")
        st.dataframe(pd.DataFrame({"onset_date": ["2026-01-02", None], "Grade": [1.0, float("nan")]}))

    app = AppTest.from_function(bare_table)
    app.run()
    problems = page_problems("bare", app)
    assert any("header 'onset_date'" in p for p in problems)
    assert any("no blank placeholder" in p for p in problems)


def test_every_label_is_its_own():
    """Two fields with one label could not be told apart in a table (people_table refuses them)."""
    labels = list(FIELD_LABELS.values())
    assert len(labels) == len(set(labels)), sorted({x for x in labels if labels.count(x) > 1})
