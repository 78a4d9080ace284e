"""A patient's concomitant medications in the patient view (models.analysis.patient_view.patient_course) and
their panel in the patient course chart (dashboard.charts.patient_course_chart), on SQLite and PostgreSQL.

Same day axis as tests/analysis/test_patient_view.py: START = 2026-01-01 is day 1, AS_OF = 2026-04-10 is day
100, so a record not stopped runs to day 101 (the start of tomorrow), and a stopped one to the day after its
stop. Records go through models.store.records, as the app writes them.
"""
from __future__ import annotations

import math

import pytest

from dashboard import charts
from dashboard.labels import field_label
from models.analysis import patient_view
from models.store import records
from tests.analysis.test_patient_view import AS_OF, NURSE, day, dose, event, patient

RINSE_CLASS = "Stomatitis prophylaxis (dexamethasone mouthwash)"


def medication(url: str, pid: int, drug: str, start, stop=None, **values) -> dict:
    return records.create("concomitant_medication", {"patient_id": pid, "drug": drug, "start_date": start,
                                                     "stop_date": stop, **values}, NURSE, today=AS_OF, url=url)


@pytest.fixture
def medicated_patient(db_url):
    pid = patient(db_url, "PVM-001")["id"]
    dose(db_url, pid, day(1), "start", 10.0)
    event(db_url, pid, "Mucositis oral", 2, day(15), day(30))
    medication(db_url, pid, "Dexamethasone mouthwash", day(1), route="oral_rinse", dose="10 mL 4 times daily",
               indication="Stomatitis prophylaxis (SWISH)")
    medication(db_url, pid, "clarithromycin", day(20), day(29), route="oral", dose="500 mg twice daily")
    medication(db_url, pid, "Lisinopril", day(-400), route="oral")  # for years before the first dose
    medication(db_url, pid, "Erythromycin", day(-350), day(-340))   # over long before the axis begins
    medication(db_url, pid, "Rifampicin", day(60), day(62))        # a synonym: stored by its catalogue name
    medication(db_url, pid, "Salt  water *rinse*", day(5))         # free text
    wrong = medication(db_url, pid, "Ketoconazole", day(40), day(41))
    records.mark_entered_in_error("concomitant_medication", wrong["id"], wrong["version"], "Other patient's",
                                  NURSE, url=db_url)
    return db_url, pid


def test_medications_are_on_the_events_day_axis_with_their_classes(medicated_patient):
    url, pid = medicated_patient
    meds = patient_view.patient_course(pid, as_of=AS_OF, url=url).medications
    rows = {r.drug: r for r in meds.itertuples()}
    assert set(rows) == {"Dexamethasone mouthwash", "Clarithromycin", "Lisinopril", "Erythromycin", "Rifampin",
                         "Salt water *rinse*"}, "entered in error left out; catalogue names as the catalogue spells them"
    assert {d: (r.start_day, r.end_day, bool(r.open)) for d, r in rows.items()} == {
        "Dexamethasone mouthwash": (1, 101, True),   # to today, its whole last day included
        "Clarithromycin": (20, 30, False),           # stopped on day 29: the bar covers day 29
        "Lisinopril": (-400, 101, True),
        "Erythromycin": (-350, -339, False),
        "Rifampin": (60, 63, False),
        "Salt water *rinse*": (5, 101, True),
    }
    assert {d: r.classes for d, r in rows.items()} == {
        "Dexamethasone mouthwash": RINSE_CLASS, "Clarithromycin": "Strong CYP3A4/P-gp inhibitor",
        "Lisinopril": "ACE inhibitor", "Erythromycin": "Moderate CYP3A4/P-gp inhibitor",
        "Rifampin": "Strong CYP3A4 inducer", "Salt water *rinse*": patient_view.FREE_TEXT_CLASSES}
    assert {d for d, r in rows.items() if r.interaction} == {"Clarithromycin", "Lisinopril", "Erythromycin",
                                                             "Rifampin"}, "the mouthwash's class has no rule"
    assert {d for d, r in rows.items() if not r.in_catalogue} == {"Salt water *rinse*"}
    assert rows["Dexamethasone mouthwash"].stop_date is None and rows["Clarithromycin"].stop_date == day(29)
    assert rows["Clarithromycin"].start_date == day(20) and rows["Dexamethasone mouthwash"].route == "oral_rinse"
    assert rows["Dexamethasone mouthwash"].dose == "10 mL 4 times daily"
    assert list(meds["start_day"]) == sorted(meds["start_day"]), "by start date"


def test_a_patient_without_medications_has_an_empty_frame_with_the_columns(db_url):
    pid = patient(db_url, "PVM-NONE")["id"]
    meds = patient_view.patient_course(pid, as_of=AS_OF, url=db_url).medications
    assert meds.empty
    assert {"drug", "classes", "interaction", "in_catalogue", "start_day", "end_day", "open", "stop_date"} <= \
        set(meds.columns)


# --- the chart's panel ------------------------------------------------------------------------------------

def _panel(spec: dict, title: str) -> dict:
    return next(part for part in spec["vconcat"] if part.get("title") == title)


def _rows(spec: dict, part: dict) -> list[dict]:
    return spec["datasets"][part["data"]["name"]]


def _x_domains(part: dict) -> list:
    layers = part.get("layer", [part])
    return [layer["encoding"]["x"]["scale"]["domain"] for layer in layers if "x" in layer.get("encoding", {})]


def test_the_medications_panel_sits_under_the_dose_line_on_the_same_day_axis(medicated_patient):
    url, pid = medicated_patient
    course = patient_view.patient_course(pid, as_of=AS_OF, url=url)
    spec = charts.patient_course_chart(course).to_dict()
    titles = [part.get("title") for part in spec["vconcat"]]
    assert titles[:3] == ["Adverse events", "Everolimus daily dose (holds shaded)", "Medications"]
    domains = [d for part in spec["vconcat"] for d in _x_domains(part)]
    assert domains and all(d == [0, 101] for d in domains), "medications do not widen the axis"

    panel = _panel(spec, "Medications")
    assert panel["mark"]["type"] == "bar" and panel["mark"]["clip"] is True
    encoding = panel["encoding"]
    assert encoding["x2"] == {"field": "end_day"} and encoding["y"]["field"] == "drug"
    drawn = {row["drug"]: row for row in _rows(spec, panel)}
    # one lane per drug in order of start; the one over before day 0 is not drawn (the tab lists it)
    assert encoding["y"]["sort"] == encoding["y"]["scale"]["domain"] == [
        "Lisinopril", "Dexamethasone mouthwash", "Salt water *rinse*", "Clarithromycin", "Rifampin"]
    assert set(drawn) == set(encoding["y"]["sort"])
    assert (drawn["Lisinopril"]["start_day"], drawn["Lisinopril"]["end_day"]) == (-400, 101)
    assert drawn["Clarithromycin"]["stop"] == str(day(29)) and drawn["Dexamethasone mouthwash"]["stop"] == "ongoing"
    assert drawn["Dexamethasone mouthwash"]["route"] == "Oral rinse (swish and spit)"
    assert drawn["Salt water *rinse*"]["dose"] == "" and drawn["Salt water *rinse*"]["route"] == ""
    assert {d: row["kind"] for d, row in drawn.items()} == {
        "Lisinopril": "With an interaction rule", "Clarithromycin": "With an interaction rule",
        "Rifampin": "With an interaction rule", "Dexamethasone mouthwash": "No interaction rule",
        "Salt water *rinse*": "Free text (not in the catalogue)"}
    for row in drawn.values():
        for value in row.values():
            assert value is not None and not (isinstance(value, float) and math.isnan(value)), row
            assert str(value) not in {"None", "nan", "NaT"}, row
    assert encoding["color"]["scale"]["domain"] == list(charts.MEDICATION_KINDS)
    assert encoding["color"]["title"] == field_label("classes")
    assert [t["title"] for t in encoding["tooltip"]] == ["Drug", "Dose", "Route", "Start", "Stop", "Indication",
                                                         "Interaction class"]


def test_no_medications_panel_without_medications(db_url):
    pid = patient(db_url, "PVM-NOPANEL")["id"]
    dose(db_url, pid, day(1), "start", 10.0)
    spec = charts.patient_course_chart(patient_view.patient_course(pid, as_of=AS_OF, url=db_url)).to_dict()
    assert [part.get("title") for part in spec["vconcat"]] == ["Everolimus daily dose (holds shaded)"]


def test_only_medications_recorded_still_draws_their_panel(db_url):
    pid = patient(db_url, "PVM-ONLY")["id"]
    medication(db_url, pid, "Dexamethasone mouthwash", day(1))
    spec = charts.patient_course_chart(patient_view.patient_course(pid, as_of=AS_OF, url=db_url)).to_dict()
    assert [part.get("title") for part in spec["vconcat"]] == ["Medications"]
