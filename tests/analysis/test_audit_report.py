"""`python -m models report audit` on the demo cohort (SQLite and PostgreSQL): the JSON contract of DESIGN.md,
the same figures as models.analysis.dose_audit.audit_report, a handful of deviations that each say what happened, and
the CSV with one row per finding and per patient."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta

import pytest

from models import settings
from models.analysis import dose_audit
from models.clinical import medications
from models.store import queries, records
from models.store.records import Actor
from tests.conftest import DEMO_TODAY

AS_OF = DEMO_TODAY.isoformat()  # 2026-11-01
STATUSES = {"compliant", "deviation", "open"}
INTERACTION_RULES = {c.rule for c in medications.interaction_classes().values() if c.rule}
FINDING_KEYS = {"mrn", "term", "grade", "onset_date", "rule", "expected", "actual", "status", "more_than_required"}
ISO = r"\d{4}-\d{2}-\d{2}"
# Every way the engine says what the dose record shows when it deviates from the rule.
DEVIATION_WORDING = [
    rf"no hold recorded \(expected by (?P<due>{ISO})\)",
    r"no discontinuation recorded",
    rf"(withheld|discontinued) on (?P<acted>{ISO}), (?P<late>\d+) days after onset( \(grace \d+ days\))?",
    (rf"resumed on (?P<resumed>{ISO}) before recovery to (grade <= \d|resolution) \((recovered on "
     rf"(?P<recovered>{ISO})|no recovery recorded)\)"),
    rf"resumed on (?P<resumed>{ISO}) at [\d.]+ mg, the dose before the hold, when a reduction was due",
    rf"resumed on (?P<resumed>{ISO}) at [\d.]+ mg after a recurrence at the same grade; discontinuation expected",
    (rf"held since (?P<held>{ISO}), (not recovered|recovered to grade <= \d on {ISO}) after \d+ days; "
     r"discontinuation was due when not recovered within \d+ days"),
    rf"held on (?P<held>{ISO}) with no reason and no active adverse event",
]


def cli(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "models", "--database-url", url, *args], cwd=settings.PROJECT_ROOT,
                          capture_output=True, text=True, timeout=180, check=False)


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity (Python's json accepts them; JSON does not)."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def report(demo_url) -> dict:
    """The CLI's JSON report of the demo cohort as of DEMO_TODAY (run once per backend)."""
    done = cli(demo_url, "report", "audit", "--as-of", AS_OF, "--format", "json")
    assert done.returncode == 0, done.stderr
    return strict_json(done.stdout)


def test_the_json_report_has_exactly_the_designed_shape(report, demo_url):
    assert set(report) == {"as_of", "rule_set", "findings", "dose_intensity"}
    assert (report["as_of"], report["rule_set"]) == (AS_OF, "us-current")
    assert report["findings"], "the demo cohort has rule-covered events"
    for finding in report["findings"]:
        assert set(finding) == FINDING_KEYS
        assert finding["status"] in STATUSES
        assert isinstance(finding["mrn"], str) and finding["mrn"].startswith("DEMO-")
        for key in ("term", "rule", "expected", "actual"):
            assert isinstance(finding[key], str) and finding[key].strip(), (key, finding)
        assert date.fromisoformat(finding["onset_date"]) <= DEMO_TODAY
        assert isinstance(finding["more_than_required"], bool)
        if finding["rule"] == dose_audit.UNEXPLAINED_HOLD_RULE:
            # A hold with no event has no grade: null here, although DESIGN.md types "grade" as int.
            assert (finding["term"], finding["grade"]) == ("(no adverse event)", None)
        elif finding["rule"] in INTERACTION_RULES:
            # an interaction finding is about a medication: its term is the drug, its date the medication's start
            assert finding["grade"] is None and medications.find(finding["term"]) is not None, finding
        else:
            assert isinstance(finding["grade"], int) and not isinstance(finding["grade"], bool)
            assert 1 <= finding["grade"] <= 5
            assert re.fullmatch(r"[A-Z]{4}-\d \(.+, grade \d(-\d)?\)", finding["rule"]), finding["rule"]
    for row in report["dose_intensity"]:
        assert set(row) == {"mrn", "relative_dose_intensity_pct"}
        assert isinstance(row["mrn"], str)
        assert isinstance(row["relative_dose_intensity_pct"], float)
        assert 0 <= row["relative_dose_intensity_pct"] <= 100


def test_the_cli_report_equals_the_python_report(report, demo_url):
    assert report == json.loads(json.dumps(dose_audit.audit_report(demo_url, as_of=DEMO_TODAY)))


def test_the_rules_option_audits_on_another_rule_set_and_refuses_an_unknown_one(report, demo_url):
    done = cli(demo_url, "report", "audit", "--as-of", AS_OF, "--rules", "us-2012", "--format", "json")
    assert done.returncode == 0, done.stderr
    old = strict_json(done.stdout)
    assert old["rule_set"] == "us-2012"
    assert old == json.loads(json.dumps(dose_audit.audit_report(demo_url, as_of=DEMO_TODAY, rule_set="us-2012")))
    assert {f["rule"].split(" ")[0] for f in old["findings"]} <= {
        "PNEU-2", "PNEU-3", "PNEU-4", "NONH-2", "NONH-3", "NONH-4", "META-3", "META-4", dose_audit.UNEXPLAINED_HOLD_RULE,
        *INTERACTION_RULES}  # the interaction rules are the same whatever the dose rule set
    assert old["dose_intensity"] == report["dose_intensity"]  # the rules judge actions, not the mg taken
    unknown = cli(demo_url, "report", "audit", "--rules", "clinic-x", "--format", "json")
    assert unknown.returncode == 2
    assert "unknown dose rule set 'clinic-x'; choose one of us-current, us-2012" in unknown.stderr
    misset = subprocess.run([sys.executable, "-m", "models", "--database-url", demo_url, "report", "audit",
                             "--format", "json"], cwd=settings.PROJECT_ROOT, capture_output=True, text=True,
                            timeout=180, check=False, env={**os.environ, "TOXWATCH_DOSE_RULE_SET": "clinic-x"})
    assert misset.returncode == 2 and "Traceback" not in misset.stderr
    assert "The dose rule set 'clinic-x' (TOXWATCH_DOSE_RULE_SET) is not one of us-current, us-2012" in misset.stderr


def test_every_exposed_patient_has_one_dose_intensity_row(report, demo_url):
    patients = queries.patients(demo_url)
    exposed = sorted(patients[patients["treatment_start"] <= DEMO_TODAY]["mrn"])
    assert len(exposed) == 120
    assert sorted(row["mrn"] for row in report["dose_intensity"]) == exposed
    # A patient who never had a dose change took the whole planned dose.
    doses = queries.dose_events(demo_url)
    changed = set(doses[doses["action"] != "start"]["mrn"])
    untouched = [row for row in report["dose_intensity"] if row["mrn"] not in changed]
    assert untouched and all(row["relative_dose_intensity_pct"] == 100.0 for row in untouched)
    assert any(row["relative_dose_intensity_pct"] < 100 for row in report["dose_intensity"])


def test_the_demo_cohort_has_a_handful_of_deviations_each_explained(report, demo_url):
    findings = report["findings"]
    deviations = [f for f in findings if f["status"] == "deviation"]
    assert 3 <= len(deviations) <= 25, len(deviations)
    statuses = [f["status"] for f in findings]
    order = {"deviation": 0, "open": 1, "compliant": 2}
    assert statuses == sorted(statuses, key=order.get)  # deviations first
    doses = queries.dose_events(demo_url)
    meds = queries.medications(demo_url)
    for finding in [f for f in deviations if f["rule"] in INTERACTION_RULES]:
        # the demo's interacting drugs (seed_data/demo_medications.py): the medication record is there
        mine = meds[(meds["mrn"] == finding["mrn"]) & (meds["drug"] == finding["term"])]
        assert list(mine["start_date"].astype(str)) == [finding["onset_date"]], finding
    for finding in [f for f in deviations if f["rule"] not in INTERACTION_RULES]:
        match = next((m for pattern in DEVIATION_WORDING if (m := re.fullmatch(pattern, finding["actual"]))), None)
        assert match is not None, f"unexplained deviation: {finding}"
        onset = date.fromisoformat(finding["onset_date"])
        parts = {k: v for k, v in match.groupdict().items() if v}
        mine = doses[doses["mrn"] == finding["mrn"]]
        if "due" in parts:  # the grace period of 2 days after onset
            assert date.fromisoformat(parts["due"]) == onset + timedelta(days=2)
            window = mine[(mine["effective_date"] >= onset) & (mine["effective_date"] <= onset + timedelta(days=2))]
            assert not window["action"].isin(["hold", "discontinue"]).any(), finding
        if "acted" in parts:
            assert (date.fromisoformat(parts["acted"]) - onset).days == int(parts["late"]) > 2
        if "resumed" in parts:
            resumed = date.fromisoformat(parts["resumed"])
            on_that_day = mine[mine["effective_date"] == resumed]
            assert on_that_day["action"].isin(["resume", "reduce", "escalate", "start"]).any(), finding
            if "recovered" in parts:
                assert resumed < date.fromisoformat(parts["recovered"])
        if "held" in parts:
            held = mine[(mine["effective_date"] == date.fromisoformat(parts["held"])) & (mine["action"] == "hold")]
            assert len(held) == 1, finding
        if finding["rule"] == dose_audit.UNEXPLAINED_HOLD_RULE:
            assert held["reason"].isna().all() and held["adverse_event_id"].isna().all()


def test_the_csv_report_has_a_row_per_finding_and_per_patient(report, demo_url):
    done = cli(demo_url, "report", "audit", "--as-of", AS_OF, "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(rows[0]) == ["section", "as_of", "rule_set", "mrn", "term", "grade", "onset_date", "rule",
                             "expected", "actual", "status", "more_than_required", "relative_dose_intensity_pct"]
    assert {row["as_of"] for row in rows} == {AS_OF}
    findings = [row for row in rows if row["section"] == "finding"]
    intensity = [row for row in rows if row["section"] == "dose_intensity"]
    assert len(findings) + len(intensity) == len(rows)
    assert len(findings) == len(report["findings"])
    assert len(intensity) == len(report["dose_intensity"]) == 120
    for row, finding in zip(findings, report["findings"]):
        assert (row["mrn"], row["term"], row["rule"], row["expected"], row["actual"], row["status"],
                row["onset_date"]) == (finding["mrn"], finding["term"], finding["rule"], finding["expected"],
                                       finding["actual"], finding["status"], finding["onset_date"])
        assert row["grade"] == ("" if finding["grade"] is None else str(finding["grade"]))  # 2, not 2.0
        assert row["relative_dose_intensity_pct"] == ""
    for row, patient in zip(intensity, report["dose_intensity"]):
        assert row["mrn"] == patient["mrn"]
        assert float(row["relative_dose_intensity_pct"]) == patient["relative_dose_intensity_pct"]
        assert row["status"] == row["term"] == ""


def test_a_patient_stopped_on_the_day_they_started_keeps_the_json_valid(db_url):
    """No days in the period: the dose intensity is null, not NaN (which json.dumps would print)."""
    admin, start = Actor("ada.admin", "admin"), date(2026, 3, 2)
    for mrn, stop in (("MRN-1", start), ("MRN-2", None)):
        pid = records.create("patient", {"mrn": mrn, "name": "Someone", "treatment_start": start}, admin,
                             today=DEMO_TODAY, url=db_url)["id"]
        records.create("dose_event", {"patient_id": pid, "effective_date": start, "action": "start", "dose_mg": 10.0},
                       admin, today=DEMO_TODAY, url=db_url)
        if stop:
            records.create("dose_event", {"patient_id": pid, "effective_date": stop, "action": "discontinue",
                                          "dose_mg": 0.0, "reason": "Intolerance"}, admin, today=DEMO_TODAY,
                           url=db_url)
    done = cli(db_url, "report", "audit", "--as-of", AS_OF, "--format", "json")
    assert done.returncode == 0, done.stderr
    report = strict_json(done.stdout)
    assert report["findings"] == []
    assert report["dose_intensity"] == [{"mrn": "MRN-1", "relative_dose_intensity_pct": None},
                                        {"mrn": "MRN-2", "relative_dose_intensity_pct": 100.0}]
