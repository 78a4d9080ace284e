"""The Worklist page through AppTest: the home page of nurses and oncologists, most urgent first with MRN, name
and why in the first columns, the demo's act-today cases found, and an acknowledgement or a snooze through the
write path (a snooze without a reason refused, nothing saved)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from models.store import queries
from tests.dashboard.pages.test_pages import open_app
from tests.support.shown import shown_table

PAGE = "app_pages/worklist.py"


@pytest.mark.parametrize("role", ["nurse", "oncologist"])
def test_the_worklist_is_the_home_page_of_nurses_and_oncologists(monkeypatch, demo_sqlite_url, role):
    app = open_app(monkeypatch, demo_sqlite_url, role=role)
    assert [t.value for t in app.title] == ["Worklist"]
    table = shown_table(app, "Why")
    assert list(table.columns[:3]) == ["mrn", "name", "Urgency"], "MRN and name first: no sideways scrolling"
    urgency = list(table["Urgency"])
    order = ["Act today", "This week", "For information"]
    assert urgency == sorted(urgency, key=order.index), "most urgent first"
    today = table[table["Urgency"] == "Act today"]
    reasons = " | ".join(today["Why"])
    # the demo's open act-today cases (its grade 3 lab is from the demo's own day, outside today's 14 days)
    for words in ("Pneumonitis grade 2 open since", "Dyspnea grade 3 open since", "Stomatitis grade 2 since"):
        assert words in reasons, words
    on_treatment = 0.1 * len(queries.patients(demo_sqlite_url))
    assert len(set(today["mrn"])) <= on_treatment, "act today on at most 10% of patients"


def test_a_pharmacist_opens_it_and_the_dosing_audit_stays_their_home(monkeypatch, demo_sqlite_url):
    app = open_app(monkeypatch, demo_sqlite_url, role="pharmacist")
    assert [t.value for t in app.title] == ["Dosing audit"]
    app.switch_page(PAGE).run()
    assert not app.exception and [t.value for t in app.title] == ["Worklist"]


def test_acknowledging_names_the_patient_and_quiets_the_alert(monkeypatch, demo_copy_url):
    app = open_app(monkeypatch, demo_copy_url, PAGE, role="nurse")
    alert_box = app.selectbox(key="worklist_alert")
    index = next(i for i, shown in enumerate(alert_box.options) if "Pneumonitis grade 2 open since" in shown)
    mrn = alert_box.options[index].split(" · ")[0]
    alert_box.select_index(index).run()
    assert not app.exception, [e.value for e in app.exception]
    next(w for w in app.text_input if w.key.startswith("comment_")).input("seen in clinic, CT booked")
    next(b for b in app.button if b.label == f"Save review for {mrn}").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert any(s.value.startswith(f"Acknowledged for {mrn} (") for s in app.success), [s.value for s in app.success]
    reviews = queries.alert_reviews(demo_copy_url)
    saved = reviews[reviews["rule"] == "pneumonitis_grade_2"].iloc[0]
    assert (saved["decision"], saved["comment"], saved["created_by"]) == ("acknowledged", "seen in clinic, CT booked",
                                                                         "nurse")
    box = app.selectbox(key="worklist_alert")
    assert not any("Pneumonitis grade 2 open since" in shown for shown in box.options)


def test_a_snooze_without_a_reason_is_refused_and_nothing_is_saved(monkeypatch, demo_copy_url):
    app = open_app(monkeypatch, demo_copy_url, PAGE, role="nurse")
    box = app.selectbox(key="worklist_alert")
    mrn = box.options[0].split(" · ")[0]
    box.select_index(0).run()
    app.radio(key=next(w.key for w in app.radio if w.key and w.key.startswith("decision_"))).set_value("snoozed")
    until = next(w for w in app.text_input if w.key.startswith("until_"))
    until.input((date.today() + timedelta(days=7)).isoformat())
    next(b for b in app.button if b.label == f"Save review for {mrn}").click().run()
    assert any("Snoozing an alert needs a reason." in e.value for e in app.error), [e.value for e in app.error]
    assert queries.alert_reviews(demo_copy_url).empty


def test_an_admin_saves_the_monitoring_protocol_as_a_new_version(monkeypatch, demo_copy_url):
    from models.store import protocols

    app = open_app(monkeypatch, demo_copy_url, "app_pages/admin.py", role="admin")
    assert any(c.value.startswith("In force: the default protocol shipped with ToxWatch") for c in app.caption)
    next(w for w in app.text_input if w.label == "Why this change").input("reviewed with the pharmacy team")
    next(b for b in app.button if b.label == "Save as a new version").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert any("Monitoring protocol version 1 saved by admin" in s.value for s in app.success)
    current = protocols.in_force(demo_copy_url)
    assert (current.version, current.comment) == (1, "reviewed with the pharmacy team")
    assert any(c.value.startswith("In force: version 1, saved by admin on ") for c in app.caption)
