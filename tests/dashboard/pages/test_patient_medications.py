"""The Medications tab of the patient page (app_pages/patient_detail.py, dashboard/medication_form.py) in
AppTest: the patient's records, recording one (a catalogue drug or free text), and stopping, correcting or
marking one entered in error. What is saved is read back from the database.

One patient (T-200) who started everolimus 60 days ago, in a new SQLite database.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.medication_form import CHOSEN, OTHER
from models import settings
from models.store import queries, records
from models.store.db import dispose_engine
from models.store.migrate import upgrade_to_head
from tests.dashboard.pages.test_pages import APP, signed_in_account

NURSE = records.Actor("nurse", "nurse")
MRN = "T-200"
TODAY = date.today()
TABLE_HEADERS = ["Drug", "From the catalogue", "Interaction class", "Dose", "Route", "Start", "Stop", "Indication",
                 "Notes"]


@pytest.fixture
def clinic(tmp_path):
    url = f"sqlite:///{tmp_path / 'toxwatch.db'}"
    upgrade_to_head(url)
    patient = records.create("patient", {"mrn": MRN, "name": "Test Patient",
                                         "treatment_start": TODAY - timedelta(days=60)}, NURSE, url=url)
    yield url, int(patient["id"])
    dispose_engine(url)


def medication(url: str, pid: int, drug: str, start: date, stop: date | None = None, **values) -> dict:
    return records.create("concomitant_medication", {"patient_id": pid, "drug": drug, "start_date": start,
                                                     "stop_date": stop, **values}, NURSE, url=url)


def open_patient(monkeypatch, url: str, role: str = "oncologist") -> AppTest:
    monkeypatch.setenv(settings.DATABASE_URL_ENV, url)
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["user"] = signed_in_account(url, role)
    app.run()
    app.query_params["mrn"] = MRN
    app.switch_page("app_pages/patient_detail.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def medications_tab(app: AppTest):
    return next(tab for tab in app.tabs if tab.label == "Medications")


def widget(app: AppTest, kind: str, label: str):
    return next(w for w in getattr(app, kind) if w.label == label)


def run(target) -> AppTest:
    """Run the app (or the app of a widget just set or clicked) and check it drew no exception."""
    app = target.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def stored(url: str) -> list[dict]:
    """Every medication record of the database (entered in error too), as the write path returns them."""
    return [records.get("concomitant_medication", int(i), url=url) for i in _all_ids(url)]


def _all_ids(url: str) -> list[int]:
    from sqlmodel import select

    from models.store.db import read_session
    from models.store.tables import ConcomitantMedication

    with read_session(url) as session:
        return sorted(session.exec(select(ConcomitantMedication.id)).all())


def choose_drug(app: AppTest, pid: int, drug: str, n: int = 0) -> AppTest:
    return run(app.selectbox(key=f"med_drug_{pid}_{n}").set_value(drug))


def record(app: AppTest, pid: int, *, start: date, stop: date | None = None, dose: str = "", n: int = 0,
           indication: str = "", notes: str = "") -> AppTest:
    app.text_input(key=f"med_start_{pid}_{n}").input(start.isoformat())
    app.text_input(key=f"med_stop_{pid}_{n}").input("" if stop is None else stop.isoformat())
    app.text_input(key=f"med_dose_{pid}_{n}").input(dose)
    app.text_input(key=f"med_indication_{pid}_{n}").input(indication)
    app.text_area(key=f"med_notes_{pid}_{n}").input(notes)
    return run(widget(app, "button", "Record medication").click())


def errors(app: AppTest) -> list[str]:
    return [e.value.replace("\\", "") for e in app.error]


def successes(app: AppTest) -> list[str]:
    return [s.value.replace("\\", "") for s in app.success]


# --- the tab ----------------------------------------------------------------------------------------------

def test_the_medications_tab_lists_the_patients_records_with_a_download(monkeypatch, clinic):
    url, pid = clinic
    medication(url, pid, "Clarithromycin", TODAY - timedelta(days=20), route="oral", dose="500 mg twice daily",
               indication="Pneumonia")
    medication(url, pid, "Salt water *rinse*", TODAY - timedelta(days=40), TODAY - timedelta(days=30))
    app = open_patient(monkeypatch, url)
    assert [t.label for t in app.tabs] == ["Adverse events", "Labs", "Doses", "Medications"]
    tab = medications_tab(app)
    shown = tab.dataframe[0].value
    assert list(shown.columns) == TABLE_HEADERS
    rows = {r["Drug"]: r for r in shown.to_dict("records")}
    assert rows["Clarithromycin"] == {
        "Drug": "Clarithromycin", "From the catalogue": "Yes", "Interaction class": "Strong CYP3A4/P-gp inhibitor",
        "Dose": "500 mg twice daily", "Route": "Oral", "Start": str(TODAY - timedelta(days=20)), "Stop": "ongoing",
        "Indication": "Pneumonia", "Notes": ""}
    assert rows["Salt water *rinse*"]["From the catalogue"] == "No"
    assert rows["Salt water *rinse*"]["Interaction class"] == "Free text (not in the catalogue)"
    assert rows["Salt water *rinse*"]["Stop"] == str(TODAY - timedelta(days=30))
    assert rows["Salt water *rinse*"]["Route"] == "" and rows["Salt water *rinse*"]["Dose"] == ""
    assert [b.label for b in tab.get("download_button")] == ["Download medications CSV"]
    # and the chart has the panel, under the dose line
    assert "Medication bars run from start to stop" in " ".join(c.value for c in app.caption)


@pytest.mark.parametrize("role", ["nurse", "oncologist", "pharmacist", "admin"])
def test_every_role_that_writes_medications_gets_the_form_and_reads_no_field_name_none_or_nan(
        monkeypatch, clinic, role):
    from tests.dashboard.pages.test_what_people_read import page_problems

    url, pid = clinic
    rinse = medication(url, pid, "Dexamethasone mouthwash", TODAY - timedelta(days=59), route="oral_rinse")
    medication(url, pid, "Salt water rinse", TODAY - timedelta(days=20), TODAY - timedelta(days=10))
    assert role in records.WRITE_ROLES["concomitant_medication"]
    app = open_patient(monkeypatch, url, role=role)
    assert any(e.label == "Record a medication" for e in app.expander)
    problems = page_problems(f"{role}, patient page", app, 4)  # the four tabs
    app = choose_drug(app, pid, "Prednisone")
    problems += page_problems(f"{role}, recording a medication", app)
    app = choose_record(app, pid, rinse["id"], "Correct")
    problems += page_problems(f"{role}, correcting a medication", app)
    assert not problems, "\n".join(problems)


# --- recording one ----------------------------------------------------------------------------------------

def test_a_catalogue_drug_is_saved_as_shown_and_the_confirmation_names_the_patient(monkeypatch, clinic):
    url, pid = clinic
    app = open_patient(monkeypatch, url)
    assert app.selectbox(key=f"med_drug_{pid}_0").value is None, "no drug chosen until one is"
    assert not [b for b in app.button if b.label == "Record medication"]
    app = choose_drug(app, pid, "Dexamethasone mouthwash")
    route = app.selectbox(key=f"med_route_{pid}_0_Dexamethasone mouthwash")
    assert route.value == "oral_rinse", "the catalogue drug's route, shown"
    assert route.format_func(route.value) == "Oral rinse (swish and spit)"
    assert widget(app, "selectbox", "Adverse event it treats").options == ["No linked event"]
    start = TODAY - timedelta(days=59)
    app = record(app, pid, start=start, dose="10 mL 4 times daily", indication="Stomatitis prophylaxis")
    assert not errors(app)
    [saved] = stored(url)
    assert (saved["drug"], saved["in_catalogue"], saved["route"], saved["start_date"], saved["stop_date"],
            saved["dose"], saved["indication"], saved["adverse_event_id"]) == (
        "Dexamethasone mouthwash", True, "oral_rinse", start, None, "10 mL 4 times daily",
        "Stomatitis prophylaxis", None)
    assert successes(app) == [f"Recorded for {MRN}: Dexamethasone mouthwash from {start}, ongoing."]
    assert app.selectbox(key=f"med_drug_{pid}_1").value is None, "a fresh form for the next one"
    assert len(medications_tab(app).dataframe[0].value) == 1


def test_the_route_follows_the_drug_and_a_changed_route_is_what_is_saved(monkeypatch, clinic):
    url, pid = clinic
    app = choose_drug(open_patient(monkeypatch, url), pid, "Dexamethasone mouthwash")
    app = choose_drug(app, pid, "Clarithromycin")
    route = app.selectbox(key=f"med_route_{pid}_0_Clarithromycin")
    assert route.value == "oral", "another drug starts from its own route"
    route.set_value("intravenous")
    app = record(app, pid, start=TODAY - timedelta(days=3), stop=TODAY - timedelta(days=1))
    [saved] = stored(url)
    assert (saved["drug"], saved["route"], saved["start_date"], saved["stop_date"]) == (
        "Clarithromycin", "intravenous", TODAY - timedelta(days=3), TODAY - timedelta(days=1))


def test_free_text_is_saved_as_typed_and_marked_not_in_the_catalogue(monkeypatch, clinic):
    url, pid = clinic
    app = choose_drug(open_patient(monkeypatch, url), pid, OTHER)
    assert widget(app, "selectbox", "Drug").format_func(OTHER).startswith("Another drug, not in the catalogue")
    app = run(app.text_input(key=f"med_drug_{pid}_0_text").input("Magic [mouthwash](x)"))
    warning = [w.value.replace("\\", "") for w in app.warning]
    assert warning == ["“Magic [mouthwash](x)” is not in the catalogue: it is saved as typed and therefore not "
                       "checked for interactions."]
    route = app.selectbox(key=f"med_route_{pid}_0_{OTHER}")
    assert route.value is None, "no route made up for a drug the catalogue does not know"
    app = record(app, pid, start=TODAY - timedelta(days=10), notes="**bold** $x$")
    [saved] = stored(url)
    assert (saved["drug"], saved["in_catalogue"], saved["route"], saved["notes"]) == (
        "Magic [mouthwash](x)", False, None, "**bold** $x$")
    assert successes(app) == [f"Recorded for {MRN}: Magic [mouthwash](x) (not in the catalogue: not checked for "
                              f"interactions) from {TODAY - timedelta(days=10)}, ongoing."]
    assert "[" in app.success[0].value and "\\[" in app.success[0].value, "shown as typed, never as a link"
    row = medications_tab(app).dataframe[0].value.iloc[0]
    assert (row["Drug"], row["From the catalogue"], row["Interaction class"], row["Notes"]) == (
        "Magic [mouthwash](x)", "No", "Free text (not in the catalogue)", "**bold** $x$")


def test_a_catalogue_synonym_typed_as_free_text_is_saved_by_its_catalogue_name(monkeypatch, clinic):
    url, pid = clinic
    app = choose_drug(open_patient(monkeypatch, url), pid, OTHER)
    app = run(app.text_input(key=f"med_drug_{pid}_0_text").input("rifampicin"))
    assert any("is the catalogue's Rifampin: it is saved as Rifampin" in i.value for i in app.info)
    assert app.selectbox(key=f"med_route_{pid}_0_Rifampin").value == "oral"
    record(app, pid, start=TODAY - timedelta(days=2))
    [saved] = stored(url)
    assert (saved["drug"], saved["in_catalogue"], saved["route"]) == ("Rifampin", True, "oral")


def test_a_stop_before_the_start_is_refused_and_nothing_is_saved(monkeypatch, clinic):
    url, pid = clinic
    app = choose_drug(open_patient(monkeypatch, url), pid, "Fluconazole")
    start, stop = TODAY - timedelta(days=10), TODAY - timedelta(days=20)
    app = record(app, pid, start=start, stop=stop)
    assert errors(app) == [f"Stop date {stop} is before the start date {start}."]
    assert stored(url) == [] and not app.success
    assert app.text_input(key=f"med_stop_{pid}_0").value == stop.isoformat(), "what was typed stays"


def test_a_mistyped_date_is_refused_not_replaced(monkeypatch, clinic):
    url, pid = clinic
    app = choose_drug(open_patient(monkeypatch, url), pid, "Fluconazole")
    app.text_input(key=f"med_start_{pid}_0").input("2026-02-30")
    app = run(widget(app, "button", "Record medication").click())
    assert len(errors(app)) == 1 and errors(app)[0].startswith("Start: “2026-02-30”")
    assert stored(url) == []


def test_an_overlapping_record_of_the_same_drug_is_refused_with_the_write_paths_message(monkeypatch, clinic):
    url, pid = clinic
    existing = medication(url, pid, "Clarithromycin", TODAY - timedelta(days=30))
    app = choose_drug(open_patient(monkeypatch, url), pid, "Clarithromycin")
    app = record(app, pid, start=TODAY - timedelta(days=5))
    with pytest.raises(records.DuplicateRecord) as refused:
        records.create("concomitant_medication", {"patient_id": pid, "drug": "Clarithromycin",
                                                  "start_date": TODAY - timedelta(days=5)}, NURSE, url=url)
    assert errors(app) == [str(refused.value)]
    assert str(refused.value).startswith(f"Clarithromycin is already recorded for this patient from "
                                         f"{TODAY - timedelta(days=30)} and not stopped")
    assert [m["id"] for m in stored(url)] == [existing["id"]], "nothing saved"
    app = run(widget(app, "button", "Open the existing record").click())
    assert app.selectbox(key=CHOSEN + str(pid)).value == existing["id"]


def test_a_pharmacist_records_a_medication(monkeypatch, clinic):
    url, pid = clinic
    app = choose_drug(open_patient(monkeypatch, url, role="pharmacist"), pid, "Verapamil")
    app = record(app, pid, start=TODAY - timedelta(days=7), dose="80 mg three times daily")
    [saved] = stored(url)
    assert (saved["drug"], saved["created_by"], saved["route"]) == ("Verapamil", "pharmacist", "oral")
    assert successes(app) == [f"Recorded for {MRN}: Verapamil from {TODAY - timedelta(days=7)}, ongoing."]


def test_the_linked_event_is_one_of_the_patients_events(monkeypatch, clinic):
    url, pid = clinic
    pneumonitis = records.create("adverse_event", {"patient_id": pid, "term": "Pneumonitis", "grade": 2,
                                                   "onset_date": TODAY - timedelta(days=8)}, NURSE, url=url)
    app = choose_drug(open_patient(monkeypatch, url), pid, "Prednisone")
    box = widget(app, "selectbox", "Adverse event it treats")
    assert box.options == ["No linked event", f"{TODAY - timedelta(days=8)} · Pneumonitis · grade 2"]
    assert box.value is None, "no event linked unless one is chosen"
    box.set_value(pneumonitis["id"])
    record(app, pid, start=TODAY - timedelta(days=7), indication="Pneumonitis")
    [saved] = stored(url)
    assert (saved["drug"], saved["adverse_event_id"]) == ("Prednisone", pneumonitis["id"])


# --- one record: stop, correct, entered in error ----------------------------------------------------------

def choose_record(app: AppTest, pid: int, record_id: int, action: str) -> AppTest:
    app = run(app.selectbox(key=CHOSEN + str(pid)).set_value(record_id))
    return run(app.button_group(key=f"med_action_{record_id}").set_value(action))


def test_a_record_is_stopped_on_the_date_shown(monkeypatch, clinic):
    url, pid = clinic
    rinse = medication(url, pid, "Dexamethasone mouthwash", TODAY - timedelta(days=59), route="oral_rinse")
    app = choose_record(open_patient(monkeypatch, url), pid, rinse["id"], "Stop")
    assert app.button_group(key=f"med_action_{rinse['id']}").options == ["Stop", "Correct", "Entered in error"]
    field = widget(app, "text_input", "Stopped on (the last day taken)")
    assert field.value == TODAY.isoformat()
    field.input((TODAY - timedelta(days=3)).isoformat())
    app = run(widget(app, "button", "Stop").click())
    [saved] = stored(url)
    assert saved["stop_date"] == TODAY - timedelta(days=3) and saved["version"] == rinse["version"] + 1
    assert successes(app) == [f"Stopped Dexamethasone mouthwash (from {TODAY - timedelta(days=59)}) for {MRN} on "
                              f"{TODAY - timedelta(days=3)}."]
    assert medications_tab(app).dataframe[0].value.iloc[0]["Stop"] == str(TODAY - timedelta(days=3))


def test_a_correction_saves_the_fields_and_a_stale_one_is_refused(monkeypatch, clinic):
    url, pid = clinic
    drug = medication(url, pid, "Fluconazole", TODAY - timedelta(days=12), route="oral", dose="100 mg")
    app = choose_record(open_patient(monkeypatch, url), pid, drug["id"], "Correct")
    keys = f"{drug['id']}_{drug['version']}"
    assert app.selectbox(key=f"med_fix_drug_{keys}").value == "Fluconazole"
    assert app.text_input(key=f"med_fix_dose_{keys}").value == "100 mg"
    # someone else changes the record meanwhile: this edit is refused, not applied
    records.update("concomitant_medication", drug["id"], drug["version"], {"notes": "checked"}, NURSE, url=url)
    app.text_input(key=f"med_fix_dose_{keys}").input("200 mg")
    app = run(widget(app, "button", "Save correction").click())
    assert errors(app) and stored(url)[0]["dose"] == "100 mg"
    # the next try starts from the record as it is stored now
    app = choose_record(app, pid, drug["id"], "Correct")
    keys = f"{drug['id']}_{drug['version'] + 1}"
    assert app.text_area(key=f"med_fix_notes_{keys}").value == "checked"
    app.text_input(key=f"med_fix_dose_{keys}").input("200 mg")
    app = run(widget(app, "button", "Save correction").click())
    assert not errors(app)
    saved = stored(url)[0]
    assert (saved["dose"], saved["notes"], saved["route"], saved["drug"]) == ("200 mg", "checked", "oral", "Fluconazole")
    assert successes(app) == [f"Corrected the Fluconazole record (from {TODAY - timedelta(days=12)}) of {MRN}."]


def test_entered_in_error_needs_a_reason_and_keeps_the_record(monkeypatch, clinic):
    url, pid = clinic
    wrong = medication(url, pid, "Erythromycin", TODAY - timedelta(days=15), TODAY - timedelta(days=9))
    app = choose_record(open_patient(monkeypatch, url), pid, wrong["id"], "Entered in error")
    assert app.button_group(key=f"med_action_{wrong['id']}").options == ["Correct", "Entered in error"], \
        "a stopped record cannot be stopped again"
    app = run(widget(app, "button", "Mark entered in error").click())
    assert errors(app) == ["Say why the record was entered in error."]
    assert stored(url)[0]["record_status"] == "active"
    widget(app, "text_input", "Why was it entered in error?").input("Wrong patient")
    app = run(widget(app, "button", "Mark entered in error").click())
    assert not errors(app)
    [kept] = stored(url)
    assert (kept["record_status"], kept["entered_in_error_reason"]) == ("entered_in_error", "Wrong patient")
    assert queries.medications(url, patient_id=pid).empty
    assert successes(app) == [f"Marked the Erythromycin record (from {TODAY - timedelta(days=15)}) of {MRN} entered "
                              "in error; it stays in the audit trail."]
    assert len(medications_tab(app).dataframe[0].value) == 0
    assert not [s for s in app.selectbox if s.label == "Medication record to change"]


def test_the_form_of_one_patient_does_not_carry_over_to_another(monkeypatch, clinic):
    url, pid = clinic
    other = records.create("patient", {"mrn": "T-201", "name": "Other Patient",
                                       "treatment_start": TODAY - timedelta(days=30)}, NURSE, url=url)
    app = choose_drug(open_patient(monkeypatch, url), pid, "Fluconazole")
    app.text_input(key=f"med_dose_{pid}_0").input("400 mg")
    app.query_params["mrn"] = "T-201"
    app = run(app)
    assert app.title[0].value.replace("\\", "").endswith("T-201")
    assert app.selectbox(key=f"med_drug_{other['id']}_0").value is None
    assert not [t for t in app.text_input if t.label == "Dose"]
