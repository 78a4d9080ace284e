"""The nurse's Log adverse event page (AppTest): each validation message, and nothing saved on error."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from models import settings
from models.store import queries, records
from tests.dashboard.pages.test_pages import APP, signed_in_account
from tests.support.shown import as_fields

NURSE = records.Actor("nurse", "nurse")


@pytest.fixture
def clinic(db_url):
    """A database with one patient who started everolimus 60 days ago."""
    start = date.today() - timedelta(days=60)
    patient = records.create("patient", {"mrn": "T-100", "name": "Test Patient", "treatment_start": start},
                             NURSE, url=db_url)
    return db_url, patient


def open_log(monkeypatch, url: str) -> AppTest:
    monkeypatch.setenv(settings.DATABASE_URL_ENV, url)
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["user"] = signed_in_account(url, "nurse")
    app.run()
    app.switch_page("app_pages/log_event.py").run()  # the nurse's home is the worklist
    app.selectbox(key="log_patient").select(app.selectbox(key="log_patient").options[0]).run()
    return app


def form_widget(app: AppTest, kind: str, label: str):
    return next(w for w in getattr(app, kind) if w.label == label)


def fill_event(app: AppTest, term: str, grade: int | None, *, onset=None, resolved=None, death=None,
               baseline=False) -> AppTest:
    app.selectbox(key="event_term").select(term).run()
    if grade is not None:
        form_widget(app, "radio", "CTCAE v5 grade").set_value(grade)
    if onset is not None:
        form_widget(app, "text_input", "Onset").input(str(onset))
    if resolved is not None:
        form_widget(app, "text_input", "Resolved (empty while ongoing)").input(str(resolved))
    if death is not None:
        form_widget(app, "text_input", "Date of death (grade 5 only)").input(str(death))
    if baseline:
        form_widget(app, "checkbox", "Pre-existing before treatment (baseline)").check()
    form_widget(app, "button", "Save event").click().run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def errors(app: AppTest) -> list[str]:
    return [e.value for e in app.error]


def event_count(url: str) -> int:
    return len(queries.adverse_events(url))


def test_a_valid_event_is_saved_and_the_form_is_ready_for_the_next(monkeypatch, clinic):
    url, patient = clinic
    app = fill_event(open_log(monkeypatch, url), "Mucositis oral", 2)
    assert not errors(app)
    assert any("Saved for T-100 (Test Patient): Mucositis oral grade 2" in s.value for s in app.success)
    assert event_count(url) == 1
    assert app.selectbox(key="event_term").value is None, "the next event starts with no term chosen"
    assert not [r for r in app.radio if r.label == "CTCAE v5 grade"], "and no grade"


def test_synonyms_find_their_term_and_grades_come_with_their_definitions(monkeypatch, clinic):
    url, _ = clinic
    app = open_log(monkeypatch, url)
    term_box = app.selectbox(key="event_term")
    assert term_box.options[:8] == ["Mucositis oral (Stomatitis, Mouth ulceration, Aphthous stomatitis, "
                                    "Oral mucositis)", "Pneumonitis", "Hyperglycemia", "Anemia",
                                    "Aspartate aminotransferase increased (AST increased)",
                                    "Alanine aminotransferase increased (ALT increased)", "Fatigue", "Dyspnea"]
    term_box.select("Fatigue").run()
    grades = form_widget(app, "radio", "CTCAE v5 grade")
    assert grades.options == ["Grade 1", "Grade 2", "Grade 3"], "Fatigue has no grade 4 or 5 in CTCAE v5"
    assert "Fatigue relieved by rest" in str(grades.proto)


def test_onset_before_treatment_start_needs_the_baseline_mark(monkeypatch, clinic):
    url, patient = clinic
    early = patient["treatment_start"] - timedelta(days=3)
    app = fill_event(open_log(monkeypatch, url), "Fatigue", 1, onset=early)
    assert errors(app) == [f"Onset {early} is before the treatment start {patient['treatment_start']}; mark the "
                           "event as baseline (pre-existing) if it was."]
    assert event_count(url) == 0
    app = fill_event(app, "Fatigue", 1, onset=early, baseline=True)
    assert not errors(app) and event_count(url) == 1


def test_resolution_before_onset_is_refused(monkeypatch, clinic):
    url, _ = clinic
    onset = date.today() - timedelta(days=5)
    app = fill_event(open_log(monkeypatch, url), "Dyspnea", 2, onset=onset, resolved=onset - timedelta(days=1))
    assert errors(app) == [f"Resolution date {onset - timedelta(days=1)} is before the onset date {onset}."]
    assert event_count(url) == 0


def test_grade_5_needs_a_date_of_death(monkeypatch, clinic):
    url, _ = clinic
    app = fill_event(open_log(monkeypatch, url), "Pneumonitis", 5)
    assert errors(app) == ["Grade 5 (death) needs the date of death."]
    assert event_count(url) == 0


def test_a_grade_is_required(monkeypatch, clinic):
    url, _ = clinic
    app = fill_event(open_log(monkeypatch, url), "Pneumonitis", None)
    assert errors(app) == ["Choose a CTCAE grade."]
    assert event_count(url) == 0


def test_the_same_event_twice_offers_the_existing_record(monkeypatch, clinic):
    url, _ = clinic
    app = fill_event(open_log(monkeypatch, url), "Hyperglycemia", 2)
    app = fill_event(app, "Hyperglycemia", 2)
    assert errors(app) == [f"Hyperglycemia with onset {date.today()} is already recorded for this patient."]
    assert event_count(url) == 1
    form_widget(app, "button", "Open the existing record").click().run()
    existing = queries.adverse_events(url).iloc[0]
    assert app.selectbox(key="event_choice").value == existing["id"]


def test_future_dates_are_refused_by_the_write_path(clinic):
    url, patient = clinic
    tomorrow = date.today() + timedelta(days=1)
    with pytest.raises(records.ValidationFailed, match="in the future"):
        records.create("adverse_event", {"patient_id": patient["id"], "term": "Fatigue", "grade": 1,
                                         "onset_date": tomorrow}, NURSE, url=url)
    assert event_count(url) == 0


def test_change_grade_ends_the_record_and_opens_a_new_one(monkeypatch, clinic):
    url, _ = clinic
    onset = date.today() - timedelta(days=10)
    app = fill_event(open_log(monkeypatch, url), "Mucositis oral", 2, onset=onset)
    event_id = int(queries.adverse_events(url).iloc[0]["id"])
    app.selectbox(key="event_choice").select(event_id).run()
    form_widget(app, "radio", "New grade").set_value(3)
    changed_on = date.today() - timedelta(days=4)
    form_widget(app, "text_input", "Date of the change").input(str(changed_on))
    form_widget(app, "button", "Change grade").click().run()
    assert not errors(app), errors(app)
    events = queries.adverse_events(url).sort_values("onset_date")
    assert list(events["grade"]) == [2, 3]
    assert events.iloc[0]["resolved_date"] == changed_on - timedelta(days=1)
    assert events.iloc[1]["onset_date"] == changed_on and pd.isna(events.iloc[1]["resolved_date"])


def test_a_stale_correction_is_refused_with_who_changed_it(monkeypatch, clinic):
    url, _ = clinic
    app = fill_event(open_log(monkeypatch, url), "Anemia", 1)
    event = queries.event_records(int(queries.patients(url).iloc[0]["id"]), url).iloc[0]
    app.selectbox(key="event_choice").select(int(event["id"])).run()  # the nurse opens version 1
    records.update("adverse_event", int(event["id"]), 1, {"notes": "checked by phone"},
                   records.Actor("oncologist", "oncologist"), url=url)  # someone else saves first
    app.button_group(key=f"event_action_{int(event['id'])}").set_value("Correct").run()
    form_widget(app, "selectbox", "Grade").select(2)
    form_widget(app, "button", "Save correction").click().run()
    assert any("changed by oncologist" in message for message in errors(app))
    stored = queries.event_records(int(event["patient_id"]), url).iloc[0]
    assert stored["grade"] == 1 and stored["notes"] == "checked by phone" and stored["version"] == 2


def test_a_lab_is_graded_as_typed_and_offers_its_event(monkeypatch, clinic):
    url, _ = clinic
    app = open_log(monkeypatch, url)
    app.button_group(key="log_mode").set_value("Labs").run()
    app.selectbox(key="lab_test").select("glucose_fasting").run()
    app.number_input(key="lab_value_glucose_fasting_0").set_value(300).run()
    assert any("CTCAE grade 3: Hyperglycemia" in w.value and "v4.03" in w.value for w in app.warning)
    form_widget(app, "button", "Save lab").click().run()
    offer = form_widget(app, "button", "Log Hyperglycemia grade 3 from this value "
                                       "(graded with CTCAE v4.03 fasting-glucose cut points)")
    offer.click().run()
    assert app.session_state["log_mode"] == "Adverse event"
    assert app.selectbox(key="event_term").value == "Hyperglycemia"
    form_widget(app, "button", "Save event").click().run()
    saved = queries.adverse_events(url).iloc[0]
    assert (saved["term"], saved["grade"], saved["source"]) == ("Hyperglycemia", 3, "lab")
    lab = queries.labs(url).iloc[0]
    assert lab["ctcae_grade"] == 3 and lab["ctcae_term"] == "Hyperglycemia"


def test_the_today_panel_lists_this_users_work(monkeypatch, clinic):
    url, _ = clinic
    app = fill_event(open_log(monkeypatch, url), "Pneumonitis", 3)
    app.button_group(key="log_mode").set_value("Today").run()
    logged = as_fields(app.dataframe[0].value)
    assert list(logged["term"]) == ["Pneumonitis"]
    severe = as_fields(app.dataframe[2].value)
    assert list(severe["mrn"]) == ["T-100"] and list(severe["grade"]) == [3]


# --- what is shown is what is saved (issue 15) ----------------------------------------------------------

@pytest.mark.parametrize("typed,message", [
    ("", "Onset is empty: type the date as YYYY-MM-DD. Nothing was saved."),
    ("2026-13-45", "Onset: “2026-13-45” — no such date (type it as YYYY-MM-DD). Nothing was saved."),
    ("5/11/2026", "Onset: “5/11/2026” — not a date in yyyy-mm-dd form (type it as YYYY-MM-DD). Nothing was saved."),
])
def test_an_empty_or_invalid_date_blocks_the_save_and_names_what_was_typed(monkeypatch, clinic, typed, message):
    url, _ = clinic
    app = open_log(monkeypatch, url)
    app.selectbox(key="event_term").select("Fatigue").run()
    form_widget(app, "radio", "CTCAE v5 grade").set_value(1)
    form_widget(app, "text_input", "Onset").input(typed)
    form_widget(app, "button", "Save event").click().run()
    assert errors(app) == [message]
    assert event_count(url) == 0
    assert form_widget(app, "text_input", "Onset").value == typed, "what was typed stays on screen"


def test_a_future_onset_or_resolution_is_refused_not_replaced(monkeypatch, clinic):
    url, _ = clinic
    tomorrow = date.today() + timedelta(days=1)
    app = fill_event(open_log(monkeypatch, url), "Fatigue", 1, onset=tomorrow)
    assert errors(app) == [f"Onset date {tomorrow} is in the future (today is {date.today()})."]
    app = fill_event(app, "Fatigue", 1, onset=date.today(), resolved=tomorrow)
    assert errors(app) == [f"Resolution date {tomorrow} is in the future (today is {date.today()})."]
    assert event_count(url) == 0


def test_changing_the_term_clears_the_grade(monkeypatch, clinic):
    url, _ = clinic
    app = open_log(monkeypatch, url)
    app.selectbox(key="event_term").select("Pneumonitis").run()
    form_widget(app, "radio", "CTCAE v5 grade").set_value(4).run()
    app.selectbox(key="event_term").select("Hyperglycemia").run()
    assert form_widget(app, "radio", "CTCAE v5 grade").value is None
    form_widget(app, "button", "Save event").click().run()
    assert errors(app) == ["Choose a CTCAE grade."] and event_count(url) == 0


def test_the_saved_banner_and_its_undo_belong_to_one_patient(monkeypatch, clinic):
    url, patient = clinic
    records.create("patient", {"mrn": "T-200", "name": "Other Patient", "treatment_start": patient["treatment_start"]},
                   NURSE, url=url)
    app = fill_event(open_log(monkeypatch, url), "Fatigue", 1)
    assert any(s.value.startswith("Saved for T-100 (Test Patient): Fatigue grade 1") for s in app.success)
    assert any("Undo: mark this Fatigue record of T-100 entered in error" in e.label for e in app.expander)
    app.selectbox(key="log_patient").select(app.selectbox(key="log_patient").options[1]).run()
    assert not any("Saved for" in s.value for s in app.success), "gone with the patient"
    assert not any("Undo" in e.label for e in app.expander)
    app.selectbox(key="log_patient").select(app.selectbox(key="log_patient").options[0]).run()
    assert not any("Saved for" in s.value for s in app.success), "and does not come back"


def test_a_second_open_record_of_a_term_is_refused_and_the_open_one_offered(monkeypatch, clinic):
    url, _ = clinic
    first_onset = date.today() - timedelta(days=6)
    app = fill_event(open_log(monkeypatch, url), "Diarrhea", 1, onset=first_onset)
    app = fill_event(app, "Diarrhea", 1, onset=date.today() - timedelta(days=2))
    assert errors(app) == [f"Diarrhea is already open for this patient: grade 1 since {first_onset}. Change its "
                           "grade or resolve it instead of adding a second open record."]
    assert event_count(url) == 1
    form_widget(app, "button", "Open the existing record").click().run()
    existing = int(queries.adverse_events(url).iloc[0]["id"])
    assert app.selectbox(key="event_choice").value == existing
    assert app.button_group(key=f"event_action_{existing}").options == [
        "Change grade", "Resolve", "Correct", "Entered in error"]
    app.button_group(key=f"event_action_{existing}").set_value("Resolve").run()
    resolved_on = date.today() - timedelta(days=3)
    form_widget(app, "text_input", "Resolved on").input(str(resolved_on))
    form_widget(app, "selectbox", "Outcome").select("recovered")
    form_widget(app, "button", "Resolve").click().run()
    assert not errors(app), errors(app)
    assert any(f"Diarrhea grade 1 resolved on {resolved_on}." in s.value for s in app.success)
    app = fill_event(app, "Diarrhea", 2, onset=date.today() - timedelta(days=2))  # a new episode now
    assert not errors(app) and event_count(url) == 2


def test_a_same_day_grade_change_and_a_message_that_matches_the_records(monkeypatch, clinic):
    url, _ = clinic
    onset = date.today() - timedelta(days=3)
    app = fill_event(open_log(monkeypatch, url), "Dyspnea", 1, onset=onset)
    event_id = int(queries.adverse_events(url).iloc[0]["id"])
    app.selectbox(key="event_choice").select(event_id).run()
    form_widget(app, "radio", "New grade").set_value(2)
    form_widget(app, "text_input", "Date of the change").input(str(onset))
    form_widget(app, "button", "Change grade").click().run()
    assert not errors(app), errors(app)
    events = queries.adverse_events(url).sort_values("id")
    assert list(events["grade"]) == [1, 2]
    assert events.iloc[0]["resolved_date"] == onset and events.iloc[1]["onset_date"] == onset
    assert any(f"Dyspnea: grade 1 ended {onset}; grade 2 from {onset}." in s.value for s in app.success)
    new_id = int(events.iloc[1]["id"])
    assert app.selectbox(key="event_choice").value == new_id, "the new record is the one now open"
    assert "grade 2 (open)" in app.selectbox(key="event_choice").format_func(new_id)


def test_a_lab_for_a_term_already_open_says_so_and_offers_its_grade_change(monkeypatch, clinic):
    url, patient = clinic
    onset = date.today() - timedelta(days=4)
    app = fill_event(open_log(monkeypatch, url), "Hyperglycemia", 1, onset=onset)
    app.button_group(key="log_mode").set_value("Labs").run()
    app.selectbox(key="lab_test").select("glucose_fasting").run()
    app.number_input(key="lab_value_glucose_fasting_0").set_value(300).run()
    form_widget(app, "button", "Save lab").click().run()
    assert any(f"Hyperglycemia is already open for T-100: grade 1 since {onset}. This value suggests grade 3."
               in i.value for i in app.info), [i.value for i in app.info]
    assert app.number_input(key="lab_value_glucose_fasting_1").value is None, "a fresh value field after the save"
    recent = as_fields(next(d.value for d in app.dataframe if "Test" in d.value.columns))
    assert list(recent["value"]) == [300] and list(recent["ctcae_grade"]) == [3]
    form_widget(app, "button", "Change the grade of the open Hyperglycemia record").click().run()
    event_id = int(queries.adverse_events(url).iloc[0]["id"])
    assert app.session_state["log_mode"] == "Adverse event"
    assert app.selectbox(key="event_choice").value == event_id


def test_registration_records_the_start_dose_and_refuses_a_bad_date(monkeypatch, db_url):
    from tests.dashboard.pages.test_pages import open_app

    app = open_app(monkeypatch, db_url, "app_pages/patients.py", role="nurse")
    start = date.today() - timedelta(days=30)
    app.text_input(key="reg_mrn_0").input("REG-1")
    app.text_input(key="reg_name_0").input("Reg Istered")
    app.text_input(key="reg_start_0").input("2026-02-30")
    app.selectbox(key="reg_dose_0").select(7.5)
    form_widget(app, "button", "Register patient").click().run()
    assert errors(app) == ["Treatment start: “2026-02-30” — no such date (type it as YYYY-MM-DD). Nothing was "
                           "saved."]
    assert queries.patients(db_url).empty
    app.text_input(key="reg_start_0").input(str(start))
    form_widget(app, "button", "Register patient").click().run()
    assert not errors(app), errors(app)
    assert any(f"Registered REG-1 (Reg Istered): everolimus 7.5 mg/day from {start}" in s.value for s in app.success)
    doses = queries.dose_events(db_url)
    assert [(d.action, d.dose_mg, d.effective_date) for d in doses.itertuples()] == [("start", 7.5, start)]
    from models.analysis import patient_view
    course = patient_view.patient_course(int(queries.patients(db_url).iloc[0]["id"]), date.today(), db_url)
    assert course.summary["current_dose_mg"] == 7.5


def test_the_patient_search_takes_words_in_any_order_and_ranks_the_exact_mrn_first(monkeypatch, demo_sqlite_url):
    monkeypatch.setenv(settings.DATABASE_URL_ENV, demo_sqlite_url)
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["user"] = signed_in_account(demo_sqlite_url, "nurse")
    app.run()
    app.switch_page("app_pages/log_event.py").run()  # the nurse's home is the worklist
    picker = app.selectbox(key="log_patient")
    first = picker.options[0]  # as shown: MRN, name, birth date, status
    assert " · born " in first and first.endswith(("On treatment", "Held", "Discontinued")), first
    name = queries.patients(demo_sqlite_url).set_index("mrn").loc["DEMO-00012", "name"]
    given, family = name.removesuffix(" (fictional)").split(" ", 1)
    app.text_input(key="log_patient_search").input(f"{family.lower()} {given.upper()}").run()
    assert any(option.startswith("DEMO-00012 · ") for option in app.selectbox(key="log_patient").options)
    app.text_input(key="log_patient_search").input("12").run()
    assert app.selectbox(key="log_patient").options[0].startswith("DEMO-00012 · ")
    app.selectbox(key="log_patient").select(app.selectbox(key="log_patient").options[0]).run()
    app.text_input(key="log_patient_search").input("no such patient").run()
    assert app.selectbox(key="log_patient").value is not None, "a new search never drops the chosen patient"


def test_no_term_is_chosen_for_the_nurse_until_one_is_picked(monkeypatch, clinic):
    """A typed name that is not a term is refused in Chromium (AppTest cannot type a new option)."""
    url, _ = clinic
    app = open_log(monkeypatch, url)
    assert app.selectbox(key="event_term").value is None, "no term is chosen until the nurse picks one"
    assert not [r for r in app.radio if r.label == "CTCAE v5 grade"]
    assert not [b for b in app.button if b.label == "Save event"]
    assert "Choose a CTCAE term to grade it." in [c.value for c in app.caption]


def test_a_total_cholesterol_is_graded_with_its_status_and_logs_cholesterol_high(monkeypatch, clinic):
    """Issue 16.2 (dyslipidemia): the lipid tests are graded by CTCAE v5 cut points marked 'check' on screen,
    and the event they suggest falls under the metabolic rule."""
    url, _ = clinic
    app = open_log(monkeypatch, url)
    app.button_group(key="log_mode").set_value("Labs").run()
    app.selectbox(key="lab_test").select("cholesterol_total").run()
    app.number_input(key="lab_value_cholesterol_total_0").set_value(420).run()
    assert any("CTCAE grade 3: Cholesterol high" in w.value and "status check" in w.value for w in app.warning), \
        [w.value for w in app.warning]
    form_widget(app, "button", "Save lab").click().run()
    lab = queries.labs(url).iloc[0]
    assert (lab["test"], lab["ctcae_term"], lab["ctcae_grade"]) == ("cholesterol_total", "Cholesterol high", 3)
    offer = next(b for b in app.button if b.label.startswith("Log Cholesterol high grade 3 from this value"))
    offer.click().run()
    assert app.selectbox(key="event_term").value == "Cholesterol high"


def test_grade_definitions_still_to_be_checked_say_so_above_the_grades(monkeypatch, clinic):
    url, _ = clinic
    app = open_log(monkeypatch, url)
    note = ("**CTCAE v5 grade** · these definitions were transcribed and are still to be checked against the "
            "CTCAE v5.0 document")
    app.selectbox(key="event_term").select("Febrile neutropenia").run()
    assert note in [c.value for c in app.caption]
    assert form_widget(app, "radio", "CTCAE v5 grade").options == ["Grade 3", "Grade 4", "Grade 5"]
    app.selectbox(key="event_term").select("Mucositis oral").run()  # a checked term: the plain label
    assert note not in [c.value for c in app.caption]
