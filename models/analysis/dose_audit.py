"""The dosing audit: for every treatment-emergent adverse event a rule set covers, the action it requires and
what the dose record shows — "compliant", "deviation" or "open" (still within the grace period, or held and
not yet recovered) — and every hold with neither a reason nor an active event.

Dose levels are compared as mg per day (2.5 mg every other day is 1.25). A required reduction is one step
below the level in force when the episode began (every other day below the lowest step, where the rule allows
it); a larger one is compliant and marked "more than required". A recurrence is a new episode of the same
term after an earlier one; a patient an earlier, higher-grade episode of that term already reduced is not
asked to go lower again for a lower-grade recurrence."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

import pandas as pd

from models.analysis import incidence, interaction_audit
from models.analysis.findings import DEFAULT_GRACE_DAYS, Finding, sorted_findings  # noqa: F401 (callers: dose_audit.X)
from models.clinical import dose_rules, dosing
from models.clinical.vocabulary import ON_DRUG_ACTIONS
from models.csv_cells import safe_frame
from models.settings import dose_steps_mg
from models.store import queries

UNEXPLAINED_HOLD_RULE = "HOLD-REASON"


@dataclass(frozen=True)
class _Verdict:
    status: str
    actual: str
    more_than_required: bool = False


def audit(patients: pd.DataFrame, events: pd.DataFrame, doses: pd.DataFrame, as_of: date,
          grace_days: int = DEFAULT_GRACE_DAYS, rule_set: str | None = None, *,
          emergent: pd.DataFrame | None = None) -> list[Finding]:
    """Findings of the dose rules for every exposed patient, deviations first, then open, then compliant.
    `emergent`: the treatment-emergent events, when the caller has them already."""
    rule_set = rule_set or dose_rules.default_rule_set()
    if emergent is None:
        emergent = _emergent(patients, events, doses, as_of)
    doses = doses[doses["effective_date"] <= as_of]
    mrns = patients.set_index("id")["mrn"]
    findings: list[Finding] = []
    for pid, patient_events in emergent.groupby("patient_id"):
        history = doses[doses["patient_id"] == pid].sort_values(["effective_date", "id"])
        findings += _event_findings(int(pid), mrns[pid], patient_events, history, as_of, grace_days, rule_set)
    active = events[~events["baseline"].astype(bool)]
    for pid, history in doses.groupby("patient_id"):
        if pid in mrns.index:
            findings += _unexplained_holds(int(pid), mrns[pid], history, active[active["patient_id"] == pid],
                                           rule_set)
    return sorted_findings(findings)


def _event_findings(pid: int, mrn: str, events: pd.DataFrame, history: pd.DataFrame, as_of: date,
                    grace_days: int, rule_set: str) -> list[Finding]:
    by_id = {int(row.id): row for row in events.itertuples()}
    children = {int(row.previous_event_id): row for row in events.itertuples()
                if not pd.isna(row.previous_event_id)}
    findings = []
    for row in events.sort_values(["onset_date", "id"]).itertuples():
        rule = dose_rules.rule_for(row.term, int(row.grade), rule_set)
        if rule is None or rule.action in ("none", "hold_or_discontinue"):
            continue
        previous = by_id.get(int(row.previous_event_id)) if not pd.isna(row.previous_event_id) else None
        if previous is not None and previous.grade >= row.grade:
            continue  # an improvement within one episode needs no new action
        recurrence = _is_recurrence(row, events, by_id)
        # Only a "resume lower" recurrence can be met by the reduction a higher-grade episode made; a
        # "discontinue" recurrence never is.
        reduced_already = recurrence and rule.recurrence_action == "resume_lower" and \
            _reduced_by_higher_grade(row, events, by_id, history)
        recovered_on = _recovery_date(row, children, rule.resume_when_grade_at_most)
        verdict = _judge(rule, row, recurrence and not reduced_already, recovered_on, history, as_of, grace_days)
        expected = rule.expected(recurrence)
        if reduced_already:
            expected = (f"{expected}; an earlier, higher-grade episode already reduced the dose, so resuming at "
                        "the dose in force is enough")
        findings.append(Finding(f"event:{int(row.id)}", pid, mrn, row.term, int(row.grade), row.onset_date,
                                rule.describe(), rule.status, expected, verdict.actual, verdict.status, rule_set,
                                verdict.more_than_required))
    return findings


def _reduced_by_higher_grade(row, events: pd.DataFrame, by_id: dict, history: pd.DataFrame) -> bool:
    """The latest earlier episode of the term that reached this grade reached a higher one, and the dose in force
    now is lower than when it began: that reduction already answers this milder recurrence. (After a grade 3
    that reduced, a grade 2 keeps the dose; a second grade 2 after that is a grade 2 recurrence again.)"""
    own = _root(row, by_id)
    earlier = events[(events["term"] == row.term) & (events["onset_date"] < row.onset_date)]
    peaks: dict[int, int] = {}
    for other in earlier.itertuples():
        root = _root(other, by_id)
        if root != own:
            peaks[root] = max(peaks.get(root, 0), int(other.grade))
    reaching = [root for root, peak in peaks.items() if peak >= row.grade]
    if not reaching:
        return False
    latest = max(reaching, key=lambda root: (by_id[root].onset_date, root))
    if peaks[latest] <= row.grade:
        return False
    now = _level_before(history, row.onset_date - timedelta(days=1))[1]
    return now < _level_before(history, by_id[latest].onset_date - timedelta(days=1))[1]


def _root(row, by_id: dict) -> int:
    while not pd.isna(row.previous_event_id) and int(row.previous_event_id) in by_id:
        row = by_id[int(row.previous_event_id)]
    return int(row.id)


def _is_recurrence(row, events: pd.DataFrame, by_id: dict) -> bool:
    """An earlier, separate episode of the same term reached this grade."""
    own = _root(row, by_id)
    earlier = events[(events["term"] == row.term) & (events["onset_date"] < row.onset_date)
                     & (events["grade"] >= row.grade)]
    return any(_root(other, by_id) != own for other in earlier.itertuples())


def _recovery_date(row, children: dict, threshold: int | None) -> date | None:
    """The first day the episode was at grade <= threshold (a later record, or the day it resolved);
    threshold None: the day the whole episode resolved."""
    current = row
    while True:
        child = children.get(int(current.id))
        if child is None:
            resolved = current.resolved_date
            return None if resolved is None or pd.isna(resolved) else resolved
        if threshold is not None and child.grade <= threshold:
            return child.onset_date
        current = child


def _level(record) -> float:
    """The daily dose a record sets, in mg per day (every other day halves it)."""
    return float(record["dose_mg"]) / (2 if bool(record.get("every_other_day", False)) else 1)


def _level_before(history: pd.DataFrame, moment: date) -> tuple[str | None, float]:
    """The last action on or before a date and the daily dose level the patient was on before any hold."""
    earlier = history[history["effective_date"] <= moment]
    if earlier.empty:
        return None, 0.0
    on_drug = earlier[earlier["action"].isin(ON_DRUG_ACTIONS)]
    return earlier.iloc[-1]["action"], _level(on_drug.iloc[-1]) if not on_drug.empty else 0.0


def _step_below(level: float, every_other_day: bool) -> float | None:
    """The level one step below (every other day at the lowest step where allowed); None if there is none."""
    steps = sorted(dose_steps_mg(), reverse=True)
    lower = [step for step in steps if step < level]
    if lower:
        return lower[0]
    return steps[-1] / 2 if every_other_day and level > steps[-1] / 2 else None


def _dose_text(record) -> str:
    every = " every other day" if bool(record.get("every_other_day", False)) else ""
    return f"{float(record['dose_mg']):g} mg{every}"


def _judge(rule, row, recurrence: bool, recovered_on: date | None, history: pd.DataFrame, as_of: date,
           grace_days: int) -> _Verdict:
    onset = row.onset_date
    deadline = onset + timedelta(days=grace_days)
    state, dose_before = _level_before(history, onset - timedelta(days=1))
    # Only a hold or stop before the event recovered responds to it; later ones are about something else.
    after = history[(history["effective_date"] >= onset)
                    & (history["effective_date"] <= (recovered_on or as_of))]
    stops = after[after["action"] == "discontinue"]
    if state == "discontinue":
        return _Verdict("compliant", "already discontinued before onset")
    wants_stop = rule.action == "discontinue" or (recurrence and rule.recurrence_action == "discontinue")
    if wants_stop and rule.action == "discontinue":
        return _judge_stop(stops, deadline, as_of, onset)
    holds = after[after["action"].isin(["hold", "discontinue"])]
    first = holds.iloc[0] if not holds.empty else None
    if first is not None and state is None:  # started on the onset day: the dose before is the start's
        dose_before = _level_on_drug(_before(history, first))
    if state == "hold":
        held_on = onset  # already held when the event began
        first = None
    elif first is not None and first["effective_date"] <= deadline:
        if first["action"] == "discontinue":
            return _Verdict("compliant", f"discontinued on {first['effective_date']}")
        held_on = first["effective_date"]
    elif first is not None and rule.action in ("consider_hold", "none_if_tolerable"):
        held_on = first["effective_date"]  # withholding later in the episode is allowed ("if intolerable")
        if first["action"] == "discontinue":
            return _Verdict("compliant", f"discontinued on {held_on}")
    elif first is not None:
        late = (first["effective_date"] - onset).days
        return _Verdict("deviation", f"{'withheld' if first['action'] == 'hold' else 'discontinued'} on "
                                     f"{first['effective_date']}, {late} days after onset (grace {grace_days} days)")
    elif rule.action in ("consider_hold", "none_if_tolerable"):
        return _Verdict("compliant", "not withheld (withholding is optional for this grade)")
    elif as_of <= deadline:
        return _Verdict("open", f"within the {grace_days}-day grace period; no hold recorded yet")
    else:
        return _Verdict("deviation", f"no hold recorded (expected by {deadline})")
    # what follows the hold: a record entered after it (a start on the same day came before it)
    following = history.drop(_before(history, first).index) if first is not None else history
    return _judge_resume(rule, recurrence, recovered_on, following, held_on, dose_before, as_of, wants_stop)


def _before(history: pd.DataFrame, record) -> pd.DataFrame:
    """The records before one, in (effective date, id) order."""
    same_day = (history["effective_date"] == record["effective_date"]) & (history["id"] < record["id"])
    return history[(history["effective_date"] < record["effective_date"]) | same_day]


def _level_on_drug(history: pd.DataFrame) -> float:
    on_drug = history[history["action"].isin(ON_DRUG_ACTIONS)]
    return _level(on_drug.iloc[-1]) if not on_drug.empty else 0.0


def _judge_stop(stops: pd.DataFrame, deadline: date, as_of: date, onset: date) -> _Verdict:
    if not stops.empty and stops.iloc[0]["effective_date"] <= deadline:
        return _Verdict("compliant", f"discontinued on {stops.iloc[0]['effective_date']}")
    if not stops.empty:
        late = (stops.iloc[0]["effective_date"] - onset).days
        return _Verdict("deviation", f"discontinued on {stops.iloc[0]['effective_date']}, {late} days after onset")
    if as_of <= deadline:
        return _Verdict("open", "within the grace period; no discontinuation recorded yet")
    return _Verdict("deviation", "no discontinuation recorded")


def _judge_resume(rule, recurrence: bool, recovered_on: date | None, history: pd.DataFrame, held_on: date,
                  dose_before: float, as_of: date, wants_stop: bool) -> _Verdict:
    later = history[(history["effective_date"] >= held_on) & (history["action"] != "hold")]
    following = later.iloc[0] if not later.empty else None
    threshold = "resolution" if rule.resume_when_grade_at_most is None else \
        f"grade <= {rule.resume_when_grade_at_most}"
    limit = rule.max_hold_days
    if following is not None and following["action"] == "discontinue":
        return _Verdict("compliant", f"withheld on {held_on}, then discontinued on {following['effective_date']}")
    if recovered_on is not None and recovered_on > as_of:
        recovered_on = None  # an audit of a past day knows nothing of a later recovery
    held_days = ((recovered_on if recovered_on is not None else as_of) - held_on).days
    if limit and held_days > limit:
        recovery = f"recovered to {threshold} on {recovered_on}" if recovered_on else "not recovered"
        return _Verdict("deviation", f"held since {held_on}, {recovery} after {held_days} days; discontinuation "
                                     f"was due when not recovered within {limit} days")
    if following is None:
        days = (as_of - held_on).days
        recovery = f"recovered to {threshold} on {recovered_on}" if recovered_on else "not yet recovered"
        return _Verdict("open", f"held since {held_on} ({days} days); {recovery}")
    resumed_on, new_level = following["effective_date"], _level(following)
    resumed = f"resumed on {resumed_on} at {_dose_text(following)}"
    if wants_stop:
        return _Verdict("deviation", f"{resumed} after a recurrence at the same grade; discontinuation expected")
    if recovered_on is None or resumed_on < recovered_on:
        when = f"recovered on {recovered_on}" if recovered_on else "no recovery recorded"
        return _Verdict("deviation", f"resumed on {resumed_on} before recovery to {threshold} ({when})")
    lower_due = rule.resume_dose == "lower" or (recurrence and rule.recurrence_action == "resume_lower")
    target = _step_below(dose_before, rule.every_other_day_allowed)
    if new_level > dose_before:
        return _Verdict("deviation", f"{resumed}, above the dose before the hold ({dose_before:g} mg/day)")
    if lower_due and new_level >= dose_before:
        return _Verdict("deviation", f"{resumed}, the dose before the hold, when a reduction was due")
    if lower_due and target is not None and new_level > target:
        return _Verdict("deviation", f"{resumed}: less than the reduction due (to {target:g} mg/day)")
    lowest_asked = target if (lower_due or rule.resume_dose == "consider_lower") and target is not None \
        else dose_before
    more = new_level < lowest_asked
    note = " (more than required)" if more else ""
    return _Verdict("compliant", f"withheld {held_on} to {resumed_on}, resumed at {_dose_text(following)}{note}",
                    more)


def _unexplained_holds(pid: int, mrn: str, history: pd.DataFrame, events: pd.DataFrame,
                       rule_set: str) -> list[Finding]:
    findings = []
    for hold in history[history["action"] == "hold"].itertuples():
        has_reason = isinstance(hold.reason, str) and hold.reason.strip()
        if has_reason or not pd.isna(hold.adverse_event_id):
            continue
        active = events[(events["onset_date"] <= hold.effective_date)
                        & (events["resolved_date"].isna() | (events["resolved_date"] >= hold.effective_date))]
        if active.empty:
            findings.append(Finding(f"hold:{int(hold.id)}", pid, mrn, "(no adverse event)", None,
                                    hold.effective_date, UNEXPLAINED_HOLD_RULE, "checked",
                                    "a hold names its reason or follows an active adverse event",
                                    f"held on {hold.effective_date} with no reason and no active adverse event",
                                    "deviation", rule_set))
    return findings


def open_holds(doses: pd.DataFrame, patients: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Patients held today: since when and for how long."""
    rows = []
    mrns = patients.set_index("id")["mrn"]
    for pid, history in doses[doses["effective_date"] <= as_of].groupby("patient_id"):
        last = history.sort_values(["effective_date", "id"]).iloc[-1]
        if last["action"] == "hold" and pid in mrns.index:
            rows.append({"mrn": mrns[pid], "held_since": last["effective_date"],
                         "days_held": (as_of - last["effective_date"]).days, "reason": last["reason"]})
    return pd.DataFrame(rows, columns=["mrn", "held_since", "days_held", "reason"])


def _emergent(patients: pd.DataFrame, events: pd.DataFrame, doses: pd.DataFrame, as_of: date) -> pd.DataFrame:
    return incidence.treatment_emergent(events, patients, doses, as_of) if not patients.empty else events


def uncovered_events(patients: pd.DataFrame, events: pd.DataFrame, doses: pd.DataFrame, as_of: date,
                     rule_set: str | None = None, *, emergent: pd.DataFrame | None = None) -> pd.DataFrame:
    """Treatment-emergent events of a term no rule of the set names at any grade (anemia under the current
    label): never a finding, listed so that a pharmacist sees them. (A grade the label leaves unchanged, such
    as grade 1 fatigue, is not listed: its term has rules.)"""
    columns = ["patient_id", "mrn", "term", "grade", "onset_date", "resolved_date"]
    if patients.empty or events.empty:
        return pd.DataFrame(columns=columns)
    named = {term for rule in dose_rules.rules(rule_set) for term in rule.terms}
    if emergent is None:
        emergent = _emergent(patients, events, doses, as_of)
    rows = emergent[~emergent["term"].isin(named)]
    rows = rows.assign(mrn=rows["patient_id"].map(patients.set_index("id")["mrn"]))
    return rows.sort_values(["mrn", "onset_date"])[columns].reset_index(drop=True)


class CohortAudit(NamedTuple):
    findings: list[Finding]
    intensity: pd.DataFrame   # dosing.dose_intensity
    holds: pd.DataFrame       # open_holds
    uncovered: pd.DataFrame   # uncovered_events
    rule_set: str
    information: list[Finding] = []  # interaction_findings' information (ACE inhibitors, steroids without PJP)


def cohort_audit(url: str | None = None, *, as_of: date, grace_days: int = DEFAULT_GRACE_DAYS,
                 rule_set: str | None = None) -> CohortAudit:
    """The audit of the whole cohort from the database, on one rule set (default: the setting's or current)."""
    rule_set = rule_set or dose_rules.default_rule_set()
    patients, events, doses = queries.patients(url), queries.adverse_events(url), queries.dose_events(url)
    emergent = _emergent(patients, events, doses, as_of)  # once, for the findings and the events no rule covers
    findings = audit(patients, events, doses, as_of, grace_days, rule_set, emergent=emergent)
    judged, told = interaction_audit.interaction_findings(patients, queries.medications(url), events, doses, as_of,
                                                          grace_days)
    return CohortAudit(sorted_findings(findings + judged), dosing.dose_intensity(patients, doses, as_of),
                       open_holds(doses, patients, as_of),
                       uncovered_events(patients, events, doses, as_of, rule_set, emergent=emergent), rule_set,
                       sorted_findings(told))


def audit_report(url: str | None = None, *, as_of: date, rule_set: str | None = None) -> dict:
    """`report audit --format json`, exactly as DESIGN.md specifies: the findings (interaction findings among
    them, rules DDI-...) and dose intensity; the information (which DESIGN's statuses cannot hold) is on the page
    and the worklist."""
    rule_set = rule_set or dose_rules.default_rule_set()
    result = cohort_audit(url, as_of=as_of, rule_set=rule_set)
    return {"as_of": as_of.isoformat(), "rule_set": rule_set, "findings": [f.as_report() for f in result.findings],
            "dose_intensity": [{"mrn": row.mrn, "relative_dose_intensity_pct": _pct(row.relative_dose_intensity_pct)}
                               for row in result.intensity.itertuples()]}


def _pct(value) -> float | None:
    """No days in the period (stopped on the day it started): null, never NaN, which is not JSON."""
    return None if pd.isna(value) else float(value)


def audit_report_csv(report: dict) -> str:
    """The findings, then each patient's dose intensity, as one CSV (a `section` column tells which)."""
    findings = pd.DataFrame([{"section": "finding", "as_of": report["as_of"], **f} for f in report["findings"]])
    intensity = pd.DataFrame([{"section": "dose_intensity", "as_of": report["as_of"], **d}
                              for d in report["dose_intensity"]])
    findings["rule_set"] = report["rule_set"]
    columns = ["section", "as_of", "rule_set", "mrn", "term", "grade", "onset_date", "rule", "expected", "actual",
               "status", "more_than_required", "relative_dose_intensity_pct"]
    frame = pd.concat([findings, intensity], ignore_index=True).reindex(columns=columns)
    frame["grade"] = frame["grade"].astype("Int64")
    frame["more_than_required"] = frame["more_than_required"].map({True: "yes", False: "no"})  # as the CSV files
    return safe_frame(frame).to_csv(index=False)
