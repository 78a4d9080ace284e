"""The oncologist's review pages in AppTest on the demo cohort: the roster (app_pages/patients.py) and one
patient's course (app_pages/patient_detail.py, opened with the query parameter `mrn`).

The pages compute as of today (date.today()); the expected figures come from the read models on the same
database as of today. Nothing here writes to the shared demo database: a test that needs a new patient
works on a copy.
"""
from __future__ import annotations

import json
import statistics
import time
from datetime import date, timedelta

import pytest

from models.analysis import patient_view, roster
from models.clinical import ctcae
from models.clinical.vocabulary import LAB_TEST_LABELS, LAB_TESTS
from models.store import queries, records
from tests.dashboard.pages.test_pages import open_app
from tests.support.shown import as_fields

DETAIL = "app_pages/patient_detail.py"
PATIENTS = "app_pages/patients.py"
MRN = "DEMO-00029"  # events (incl. grade changes), holds, a reduction, a discontinuation and labs
TERM_COLUMNS = [roster.term_column(t) for t in ctcae.BOLERO2_TERMS]
TERM_LABELS = {column: column.removeprefix("worst ") for column in TERM_COLUMNS}  # as the roster labels them


def elements(node, kind: str) -> list:
    """Every element of a type under a node of the AppTest tree (charts have no accessor of their own)."""
    found = []
    for child in getattr(node, "children", {}).values():
        if getattr(child, "type", None) == kind:
            found.append(child)
        found += elements(child, kind)
    return found


def open_patient(monkeypatch, url: str, mrn: str | None):
    app = open_app(monkeypatch, url, role="oncologist")
    if mrn is not None:
        app.query_params["mrn"] = mrn
    app.switch_page(DETAIL)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def unescaped(markdown: str) -> str:
    return markdown.replace("\\", "")


def median_rerun_seconds(app, runs: int = 5) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        app.run()
        timings.append(time.perf_counter() - started)
        assert not app.exception
    return statistics.median(timings)


# --- the roster -------------------------------------------------------------------------------------------

def test_roster_lists_every_patient_with_flags_and_worst_grades(monkeypatch, demo_sqlite_url):
    app = open_app(monkeypatch, demo_sqlite_url, PATIENTS, role="oncologist")
    expected = roster.roster(demo_sqlite_url, as_of=date.today()).set_index("mrn")
    shown = as_fields(app.dataframe[0].value, TERM_LABELS)
    assert len(shown) == 120 == len(expected)
    assert {"flags", "days_since_assessment", "open_grade_3_plus", "relative_dose_intensity_pct",
            *TERM_COLUMNS} <= set(shown.columns)
    assert "id" not in shown.columns and "treatment_start" not in shown.columns
    shown = shown.set_index("mrn")
    assert shown["flags"].to_dict() == expected["flags"].to_dict()
    for column in TERM_COLUMNS:
        assert shown[column].astype("Int64").equals(expected.loc[shown.index, column].astype("Int64")), column
    assert (shown["flags"] != "").sum() > 0, "the demo cohort has flagged patients"
    assert shown[TERM_COLUMNS].notna().any().any(), "and recent graded events"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Patients"] == "120"
    assert metrics["Flagged"] == str((expected["flags"] != "").sum())


def test_only_patients_with_a_flag_filters_the_roster(monkeypatch, demo_sqlite_url):
    app = open_app(monkeypatch, demo_sqlite_url, PATIENTS, role="oncologist")
    expected = roster.roster(demo_sqlite_url, as_of=date.today())
    flagged = set(expected.loc[expected["flags"] != "", "mrn"])
    assert 0 < len(flagged) < 120
    app.toggle(key="flagged_only").set_value(True).run()
    shown = as_fields(app.dataframe[0].value)
    assert set(shown["mrn"]) == flagged and len(shown) == len(flagged)
    assert (shown["flags"] != "").all()
    assert any(c.value.startswith(f"{len(flagged)} of 120 patients") for c in app.caption)
    app.toggle(key="flagged_only").set_value(False).run()
    assert len(app.dataframe[0].value) == 120


def test_open_a_patient_picker_goes_to_the_patient(monkeypatch, demo_sqlite_url):
    app = open_app(monkeypatch, demo_sqlite_url, PATIENTS, role="oncologist")
    app.selectbox(key="open_patient").set_value(queries.patient_id_for_mrn(MRN, demo_sqlite_url)).run()
    assert not app.exception
    assert app.query_params["mrn"] == MRN
    assert unescaped(app.title[0].value).endswith(f"· {MRN}")


# --- one patient ------------------------------------------------------------------------------------------

def test_patient_view_shows_the_summary_of_the_patient_course(monkeypatch, demo_sqlite_url):
    pid = queries.patient_id_for_mrn(MRN, demo_sqlite_url)
    course = patient_view.patient_course(pid, as_of=date.today(), url=demo_sqlite_url)
    summary = course.summary
    assert not course.events.empty and not course.doses.empty and not course.labs.empty

    app = open_patient(monkeypatch, demo_sqlite_url, MRN)
    assert [unescaped(t.value) for t in app.title] == [f"{course.patient['name']} · {MRN}"]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {
        "Days on treatment": str(summary["days_on_treatment"]),
        "Current dose": f"{summary['current_dose_mg']:g} mg/day",
        "Relative dose intensity": f"{summary['relative_dose_intensity_pct']:.0f}%",
        "Days held · reductions": f"{summary['days_held']} · {summary['reductions']}",
        "Open adverse events": str(summary["open_events"]),
    }
    assert summary["days_held"] > 0 and summary["reductions"] > 0  # the figures checked are not all zero

    worst, last_labs = app.dataframe[0].value, app.dataframe[1].value
    assert dict(zip(worst["CTCAE term"], worst["Worst grade"])) == summary["worst_grade_by_term"]
    assert list(last_labs["Test"]) == [lab["label"] for lab in summary["last_labs"]]
    last_labs = as_fields(last_labs)
    assert list(last_labs["value"]) == [lab["value"] for lab in summary["last_labs"]]


def test_patient_view_draws_one_stacked_chart_on_one_day_axis(monkeypatch, demo_sqlite_url):
    pid = queries.patient_id_for_mrn(MRN, demo_sqlite_url)
    course = patient_view.patient_course(pid, as_of=date.today(), url=demo_sqlite_url)
    app = open_patient(monkeypatch, demo_sqlite_url, MRN)
    charts = elements(app.main, "vega_lite_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    tests = [t for t in LAB_TESTS if t in set(course.labs["test"])]
    assert [part["title"] for part in spec["vconcat"]] == [
        "Adverse events", "Everolimus daily dose (holds shaded)",
        *[title for title in (f"{LAB_TEST_LABELS[t]} (x ULN)" if t in patient_view.RELATIVE_TO_ULN
                              else f"{LAB_TEST_LABELS[t]} ({course.labs[course.labs['test'] == t]['unit'].iloc[-1]})"
                              for t in tests)]]
    first_day = min([0, *course.labs["day"], *course.events["start_day"]])
    today = patient_view.day_on_treatment(course.patient["treatment_start"], course.as_of)  # axis runs to today
    domain = [int(first_day), max(today, *course.labs["day"], *course.events["end_day"]) + 1]
    x_domains = [layer["encoding"]["x"]["scale"]["domain"] for part in spec["vconcat"] for layer in part["layer"]
                 if "x" in layer["encoding"]]
    assert x_domains and all(d == domain for d in x_domains)


def test_patient_view_has_the_four_tables_with_downloads(monkeypatch, demo_sqlite_url):
    pid = queries.patient_id_for_mrn(MRN, demo_sqlite_url)
    app = open_patient(monkeypatch, demo_sqlite_url, MRN)
    assert [t.label for t in app.tabs] == ["Adverse events", "Labs", "Doses", "Medications"]
    tables = [tab.dataframe[0].value for tab in app.tabs]
    assert len(tables[0]) == len(queries.adverse_events(demo_sqlite_url, patient_id=pid)) > 0
    assert len(tables[1]) == len(queries.labs(demo_sqlite_url, patient_id=pid)) > 0
    assert len(tables[2]) == len(queries.dose_events(demo_sqlite_url, patient_id=pid)) > 0
    assert len(tables[3]) == len(queries.medications(demo_sqlite_url, patient_id=pid))
    assert "CTCAE term" in tables[0].columns and "Test" in tables[1].columns and "Action" in tables[2].columns
    assert "Drug" in tables[3].columns
    assert [b.label for b in app.get("download_button")] == [
        "Download adverse events CSV", "Download labs CSV", "Download doses CSV", "Download medications CSV"]


def test_a_patient_with_nothing_recorded(monkeypatch, demo_copy_url):
    records.create("patient", {"mrn": "NEW-0001", "name": "Nobody Yet", "treatment_start":
                               date.today() - timedelta(days=6)}, records.Actor("nurse", "nurse"), url=demo_copy_url)
    app = open_patient(monkeypatch, demo_copy_url, "NEW-0001")
    assert [unescaped(t.value) for t in app.title] == ["Nobody Yet · NEW-0001"]
    assert {m.label: m.value for m in app.metric}["Days on treatment"] == "7"
    assert {m.label: m.value for m in app.metric}["Open adverse events"] == "0"
    assert any(i.value.startswith("Nothing recorded for this patient yet") for i in app.info)
    assert elements(app.main, "vega_lite_chart") == []
    assert {"No adverse events.", "No labs."} <= {c.value for c in app.caption}
    assert [len(tab.dataframe[0].value) for tab in app.tabs] == [0, 0, 0, 0]


@pytest.mark.parametrize("mrn,message", [
    ("NO-SUCH-MRN", "No patient with that MRN. Choose one on the Patients page."),
    (None, "Choose a patient on the Patients page."),
])
def test_an_unknown_or_missing_mrn_says_what_to_do(monkeypatch, demo_sqlite_url, mrn, message):
    app = open_patient(monkeypatch, demo_sqlite_url, mrn)
    assert [t.value for t in app.title] == ["Patient"]
    assert [w.value for w in app.warning] == [message]
    assert not app.metric and elements(app.main, "vega_lite_chart") == []


# --- how long a rerun takes (printed, not asserted) --------------------------------------------------------

def test_warm_rerun_timings(monkeypatch, demo_sqlite_url):
    app = open_app(monkeypatch, demo_sqlite_url, PATIENTS, role="oncologist")
    assert len(app.dataframe[0].value) == 120
    roster_s = median_rerun_seconds(app)
    app = open_patient(monkeypatch, demo_sqlite_url, MRN)
    assert elements(app.main, "vega_lite_chart")
    patient_s = median_rerun_seconds(app)
    print(f"\nwarm rerun, median of 5 AppTest runs: roster {roster_s * 1000:.0f} ms, "
          f"patient view ({MRN}) {patient_s * 1000:.0f} ms")
