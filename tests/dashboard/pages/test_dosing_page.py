"""The pharmacist's Dosing audit page (AppTest) on a fresh copy of the demo cohort per test: the metrics agree
with the audit engine, deviations come first, a review is saved (or refused) as the pharmacist expects, the
page is closed to an oncologist, and a dose change that does not fit the record is refused with its reason."""
from __future__ import annotations

import json
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from dashboard.widgets import plain
from models import settings
from models.analysis import dose_audit
from models.demo import seed_demo
from models.store import queries, records
from models.store.db import dispose_engine, read_session
from models.store.migrate import upgrade_to_head
from models.store.tables import AuditEntry, DoseEvent, FindingReview
from tests.conftest import DEMO_TODAY
from tests.dashboard.pages.test_pages import open_app, signed_in_account
from tests.support.shown import as_fields, shown_table

COMMENT = "Dose reduced at the next visit after talking to Dr Demo (page test)"


@pytest.fixture
def demo_copy(tmp_path):
    """The 120-patient demo cohort in a SQLite file of this test's own (the tests here write to it)."""
    url = f"sqlite:///{tmp_path / 'toxwatch.db'}"
    upgrade_to_head(url)
    seed_demo(url, patients=120, seed=7, today=DEMO_TODAY)
    yield url
    dispose_engine(url)


def audit_page(monkeypatch, url: str) -> AppTest:
    """The pharmacist's home page with the analysis date set to the demo cohort's today."""
    app = open_app(monkeypatch, url, role="pharmacist")
    assert [t.value for t in app.title] == ["Dosing audit"]
    date_input = next(w for w in app.date_input if w.label == "Analysis date")
    date_input.set_value(DEMO_TODAY).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def findings_table(app: AppTest):
    return shown_table(app, "What the dose record shows")


def widget(app: AppTest, kind: str, label: str):
    return next(w for w in getattr(app, kind) if w.label == label)


def reviews(url: str) -> list[FindingReview]:
    with read_session(url) as session:
        return list(session.exec(select(FindingReview).order_by(FindingReview.id)).all())


def count(url: str, table) -> int:
    with read_session(url) as session:
        return session.scalar(select(func.count()).select_from(table))


def choose_finding(app: AppTest, key: str) -> AppTest:
    app.selectbox(key="review_choice").set_value(key).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def is_interaction(finding) -> bool:
    return finding.key.startswith("medication:")


def test_metrics_and_table_agree_with_the_engine(monkeypatch, demo_copy):
    # the demo cohort holds one patient on its "today" (a worklist case): hold one more (with a reason) and see
    # both listed, the new one with its reason
    already = dose_audit.cohort_audit(demo_copy, as_of=DEMO_TODAY).holds
    assert len(already) == 1
    patient = on_ten_mg(demo_copy)
    held_on = DEMO_TODAY - timedelta(days=3)
    records.create("dose_event", {"patient_id": int(patient["patient_id"]), "effective_date": held_on,
                                  "action": "hold", "dose_mg": 0.0, "reason": "Dental surgery"},
                   records.Actor("pharmacist", "pharmacist"), url=demo_copy)
    app = audit_page(monkeypatch, demo_copy)
    everything, intensity, holds, *_ = dose_audit.cohort_audit(demo_copy, as_of=DEMO_TODAY)
    shown = metrics(app)  # the metrics count the interaction findings too
    assert shown["Deviations"] == str(sum(f.status == "deviation" for f in everything))
    assert shown["Not yet reviewed"] == shown["Deviations"]  # nobody has reviewed anything yet
    assert shown["Open"] == str(sum(f.status == "open" for f in everything))
    findings = [f for f in everything if not is_interaction(f)]  # the first table: the toxicity rules
    deviations = [f for f in findings if f.status == "deviation"]
    opened = [f for f in findings if f.status == "open"]
    assert 3 <= len(deviations) <= 25
    median = intensity["relative_dose_intensity_pct"].dropna().median()
    assert shown["Median relative dose intensity"] == f"{median:.0f}%"

    table = findings_table(app)
    assert "key" not in table.columns and "patient_id" not in table.columns
    assert list(table["status"]) == ["Deviation"] * len(deviations) + ["Open"] * len(opened)
    assert list(table["actual"]) == [f.actual for f in deviations + opened]
    assert list(table["mrn"][:len(deviations)]) == [f.mrn for f in deviations]
    assert set(table["review"]) == {""}

    # showing compliant findings too keeps deviations first
    widget(app, "multiselect", "Show").set_value(["deviation", "open", "compliant"]).run()
    table = findings_table(app)
    assert len(table) == len(findings)
    order = {"Deviation": 0, "Open": 1, "Compliant": 2}
    assert list(table["status"]) == sorted(table["status"], key=order.get)
    assert table["status"].iloc[0] == "Deviation" and table["status"].iloc[-1] == "Compliant"

    # patients held on the analysis date, as the engine lists them
    assert sorted(holds["mrn"]) == sorted([patient["mrn"], *already["mrn"]])
    shown_holds = shown_table(app, "Held since")
    assert {"mrn": patient["mrn"], "held_since": held_on.isoformat(), "days_held": 3,
            "reason": "Dental surgery"} in shown_holds.to_dict("records")
    assert len(shown_holds) == 2


def test_interaction_findings_and_information_are_shown_with_their_rules(monkeypatch, demo_copy):
    """The demo cohort's medications (seed_data/demo_medications.py): a clarithromycin course taken with
    everolimus, one held for; fluconazole handled and not; St John's wort for review; ACE inhibitors and a
    steroid for pneumonitis without PJP prophylaxis for information."""
    app = audit_page(monkeypatch, demo_copy)
    widget(app, "multiselect", "Show").set_value(["deviation", "open", "compliant"]).run()
    labels = {"term": "Drug", "onset_date": "Medication start", "expected": "Expected (label)"}
    shown = shown_table(app, "Medication start", labels)
    result = dose_audit.cohort_audit(demo_copy, as_of=DEMO_TODAY)
    expected = [f for f in result.findings if is_interaction(f)]
    assert list(zip(shown["mrn"], shown["term"], shown["rule"], shown["actual"])) == \
        [(f.mrn, f.term, f.rule, f.actual) for f in expected]
    assert {("Clarithromycin", "Deviation"), ("Clarithromycin", "Compliant"), ("Fluconazole", "Compliant"),
            ("St John's wort", "Open")} <= set(zip(shown["term"], shown["status"]))
    assert all(rule.startswith("DDI-") for rule in shown["rule"])
    told = next(as_fields(t.value, labels) for t in app.dataframe  # the information table has no status
                if "Medication start" in t.value.columns and "Status" not in t.value.columns)
    assert set(told["rule"]) == {"DDI-ACE-INHIBITOR", "PJP-PROPHYLAXIS"}
    assert len(told) == len(result.information)
    # the JSON report keeps DESIGN's shape: interaction findings among the findings, information left out
    report = dose_audit.audit_report(demo_copy, as_of=DEMO_TODAY)
    assert set(report) == {"as_of", "rule_set", "findings", "dose_intensity"}
    assert {f["rule"] for f in report["findings"]} >= {"DDI-STRONG-INHIBITOR", "DDI-MODERATE-INHIBITOR"}


def test_reviewing_a_finding_saves_it_and_counts_it(monkeypatch, demo_copy):
    app = audit_page(monkeypatch, demo_copy)
    before = metrics(app)
    findings, *_ = dose_audit.cohort_audit(demo_copy, as_of=DEMO_TODAY)
    first = next(f for f in findings if f.status == "deviation")
    assert app.selectbox(key="review_choice").options[0] == \
        f"{first.mrn} · {first.term} · {first.onset_date} · {first.rule} · Deviation"
    finding = next(f for f in findings if f.status == "deviation" and not is_interaction(f))
    label = f"{finding.mrn} · {finding.term} · {finding.onset_date} · {finding.rule} · Deviation"
    choose_finding(app, finding.key)
    assert any(f"Recorded: {finding.actual}" in t.value for t in app.text)
    widget(app, "radio", "Decision").set_value("accepted")
    widget(app, "text_area", "Comment").input(COMMENT)
    audit_before = count(demo_copy, AuditEntry)
    widget(app, "button", "Save review").click().run()
    assert not app.exception, [e.value for e in app.exception]

    assert [s.value for s in app.success] == [f"Review saved for {label}."]
    assert not app.error
    after = metrics(app)
    assert int(after["Not yet reviewed"]) == int(before["Not yet reviewed"]) - 1
    assert after["Deviations"] == before["Deviations"]
    saved = reviews(demo_copy)
    assert [(r.finding_key, r.decision, r.comment, r.created_by, r.rule, r.patient_id) for r in saved] == [
        (finding.key, "accepted", COMMENT, "pharmacist", finding.rule, finding.patient_id)]
    row = findings_table(app)
    shown = row[(row["mrn"] == finding.mrn) & (row["actual"] == finding.actual)]
    assert list(shown["review"]) == [f"Accepted by pharmacist: {COMMENT}"]

    assert count(demo_copy, AuditEntry) == audit_before + 1
    with read_session(demo_copy) as session:
        entry = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert (entry.username, entry.action, entry.record_type, entry.record_id, entry.patient_id) == (
            "pharmacist", "create", "finding_review", saved[0].id, finding.patient_id)
        assert json.loads(entry.after)["comment"] == COMMENT

    # the current review is shown when the finding is chosen again
    assert any(c.value == f"Current review: Accepted by pharmacist: {COMMENT}" for c in app.caption)


def test_accepting_without_a_comment_is_refused_and_saves_nothing(monkeypatch, demo_copy):
    app = audit_page(monkeypatch, demo_copy)
    before = metrics(app)
    findings, *_ = dose_audit.cohort_audit(demo_copy, as_of=DEMO_TODAY)
    choose_finding(app, next(f.key for f in findings if f.status == "deviation"))
    audit_before = count(demo_copy, AuditEntry)
    widget(app, "radio", "Decision").set_value("accepted")
    widget(app, "button", "Save review").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert [e.value for e in app.error] == ["Accepting a finding needs a comment (what was done about it)."]
    assert not app.success
    assert reviews(demo_copy) == []
    assert count(demo_copy, AuditEntry) == audit_before
    assert metrics(app)["Not yet reviewed"] == before["Not yet reviewed"]


def test_an_oncologist_cannot_open_the_page_even_with_a_forged_session(monkeypatch, demo_copy):

    monkeypatch.setenv(settings.DATABASE_URL_ENV, demo_copy)
    app = AppTest.from_file(str(settings.PROJECT_ROOT / "dashboard" / "app_pages" / "dosing_audit.py"),
                            default_timeout=60)
    app.session_state["user"] = signed_in_account(demo_copy, "oncologist")
    app.session_state["last_activity"] = time.time()
    app.run()
    assert not app.exception
    assert [e.value for e in app.error] == ["This page is not available to the oncologist role."]
    assert not app.title and not app.metric and not app.dataframe and not app.button
    # nor through the app's menu
    app = open_app(monkeypatch, demo_copy, role="oncologist")
    assert [t.value for t in app.title] == ["Worklist"]  # the oncologist's home
    assert not any(m.label == "Deviations" for m in app.metric)


def on_ten_mg(url: str):
    """A patient whose only dose record so far is the start at 10 mg (mrn, patient_id)."""
    doses = queries.dose_events(url)
    last = doses.sort_values(["effective_date", "id"]).groupby("patient_id").tail(1)
    return last[(last["action"] == "start") & (last["dose_mg"] == 10.0)].iloc[0]


def test_a_dose_change_that_does_not_fit_the_record_is_refused_with_its_reason(monkeypatch, demo_copy):
    on_ten = on_ten_mg(demo_copy)
    app = audit_page(monkeypatch, demo_copy)
    app.selectbox(key="dose_patient").set_value(int(on_ten["patient_id"])).run()
    assert not app.exception, [e.value for e in app.exception]
    app.selectbox(key="dose_action_0").set_value("resume")
    app.selectbox(key="dose_mg_0").set_value(10.0)
    rows_before, audit_before = count(demo_copy, DoseEvent), count(demo_copy, AuditEntry)
    widget(app, "button", "Record dose change").click().run()
    assert not app.exception, [e.value for e in app.exception]
    today = date.today()
    assert [e.value for e in app.error] == [f"A resume needs a hold before it; on {today} the patient is on 10 mg."]
    assert (count(demo_copy, DoseEvent), count(demo_copy, AuditEntry)) == (rows_before, audit_before)
    # the form keeps what was typed, and a hold with a reason is accepted
    assert app.selectbox(key="dose_action_0").value == "resume"
    app.selectbox(key="dose_action_0").set_value("hold")
    app.selectbox(key="dose_mg_0").set_value(0.0)
    app.text_input(key="dose_reason_0").input("Dental surgery next week")
    widget(app, "button", "Record dose change").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert any(s.value == f"Recorded hold for {on_ten['mrn']} on {today}." for s in app.success)
    saved = queries.dose_events(demo_copy, patient_id=int(on_ten["patient_id"])).iloc[-1]
    assert (saved["action"], saved["dose_mg"], saved["reason"], saved["effective_date"]) == (
        "hold", 0.0, "Dental surgery next week", today)


def test_a_review_comment_is_shown_as_typed_not_as_markdown(monkeypatch, demo_copy):
    hostile = "![t](http://host.invalid/track.png) [see](http://host.invalid) :red[urgent] $x$ :material/home:"
    findings, *_ = dose_audit.cohort_audit(demo_copy, as_of=DEMO_TODAY)
    finding = next(f for f in findings if f.status == "deviation")
    records.create("finding_review", {"finding_key": finding.key, "patient_id": finding.patient_id,
                                      "rule": finding.rule, "decision": "justified", "comment": hostile},
                   records.Actor("pharmacist", "pharmacist"), url=demo_copy)
    app = choose_finding(audit_page(monkeypatch, demo_copy), finding.key)
    caption = next(c.value for c in app.caption if c.value.startswith("Current review"))
    assert caption == plain(f"Current review: Justified by pharmacist: {hostile}")
    assert "![" not in caption and ":red[" not in caption and "](http" not in caption.replace("\\](", "")


def test_the_rule_set_is_chosen_on_the_page_and_named_with_its_rules_and_the_events_none_covers(monkeypatch,
                                                                                               demo_copy):
    app = audit_page(monkeypatch, demo_copy)
    assert app.selectbox(key="audit_rule_set").value == "us-current"
    assert any(c.value.startswith("Audited on the rule set us-current (version 2026-11): 21 rules, 21 still to "
                                  "be checked against the label text") for c in app.caption), [c.value for c in app.caption]
    rules = shown_table(app, "Every other day allowed")
    assert set(rules["status"]) == {"Check against current label"}  # as shown
    assert "FEBN-3" in set(rules["rule_id"]) and set(rules["rule_set"]) == {"us-current"}
    current = findings_table(app)
    assert set(current["rule_set"]) <= {"us-current"} and "more_than_required" in current.columns

    uncovered = dose_audit.uncovered_events(queries.patients(demo_copy), queries.adverse_events(demo_copy),
                                            queries.dose_events(demo_copy), DEMO_TODAY)
    assert not uncovered.empty and set(uncovered["term"]) >= {"Anemia"}
    listed = next(e.value for e in app.dataframe if list(e.value.columns) == [
        "MRN", "CTCAE term", "Grade", "Onset", "Resolved"])  # the events no rule covers
    assert len(listed) == len(uncovered)

    app.selectbox(key="audit_rule_set").set_value("us-2012").run()
    assert not app.exception
    assert any(c.value.startswith("Audited on the rule set us-2012 (version 2026-11): 9 rules, 0 still")
               for c in app.caption)
    engine = dose_audit.cohort_audit(demo_copy, as_of=DEMO_TODAY, rule_set="us-2012")
    assert metrics(app)["Deviations"] == str(sum(f.status == "deviation" for f in engine.findings))
