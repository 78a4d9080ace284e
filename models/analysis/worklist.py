"""The clinic's worklist: the alerts of the rules in seed_data/alert_rules.csv, for patients on treatment or
within 30 days of their last dose (models/clinical/exposure.py), most urgent first, each naming the record
that raised it; and the monitoring schedule of seed_data/monitoring_protocol.csv.

An alert someone acknowledged stays quiet until its cause worsens: a higher grade for the rules whose
`returns_when` is higher_grade, a different (newer) record for the others. A snoozed alert stays quiet until
the snooze ends, or until it worsens.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta

import pandas as pd

from models.analysis import dose_audit, interaction_audit
from models.analysis.monitoring import STATUS_NO_BASELINE, STATUS_OVERDUE, monitoring_schedule
from models.analysis.roster import rising_lab_results
from models.clinical import alerts as alert_data
from models.clinical import ctcae, dose_rules, exposure
from models.clinical.vocabulary import LAB_TEST_LABELS
from models.csv_cells import safe_frame
from models.store import protocols, queries

TIER_ORDER = {tier: rank for rank, tier in enumerate(alert_data.TIERS)}
REPORT_KEYS = ("mrn", "tier", "rule", "reason", "since", "acknowledged")  # the `report worklist` contract


@dataclass(frozen=True)
class Alert:
    patient_id: int
    mrn: str
    name: str
    rule: str
    tier: str
    reason: str               # in words, for the row
    since: date               # when the cause arose
    subject: str              # what the alert is about (a term, a test, a panel, a record), with patient and rule
    record_type: str | None   # the record that raised it, which the patient page opens
    record_id: int | None
    severity: int = 0         # the grade, where there is one
    acknowledged: bool = False
    reviewed_by: str | None = None
    review: str | None = None  # "acknowledged" or "snoozed until YYYY-MM-DD", with the comment
    entered_at: datetime | None = None  # when the raising record was entered (UTC), where there is one

    def as_report(self) -> dict:
        data = asdict(self)
        return {key: data[key].isoformat() if key == "since" else data[key] for key in REPORT_KEYS}


def watched_patients(patients: pd.DataFrame, doses: pd.DataFrame, deaths: pd.Series, as_of: date) -> pd.DataFrame:
    """The patients alerts apply to: on treatment, or within 30 days of their last dose, and alive."""
    periods = exposure.exposure_periods(patients, doses, as_of)
    followed = exposure.follow_up(patients, periods, deaths, as_of)
    keep = followed[(pd.to_datetime(followed["follow_up_end"]) >= pd.Timestamp(as_of)) & followed["died_on"].isna()]
    # a registration (or import) that says discontinued, with no dose record to date it, is not on treatment
    undated_stop = patients["status"].eq("discontinued") & ~patients["id"].isin(doses["patient_id"])
    return patients[patients["id"].isin(keep.index) & ~undated_stop]


def worklist(url: str | None = None, *, as_of: date, rule_set: str | None = None,
             include_acknowledged: bool = True) -> list[Alert]:
    """Every alert of the watched patients, most urgent first (tier, then the oldest cause), acknowledged ones
    marked (or left out)."""
    found = reviewed(alerts(url, as_of=as_of, rule_set=rule_set), queries.alert_reviews(url), as_of)
    return found if include_acknowledged else [a for a in found if not a.acknowledged]


def reviewed(found: list[Alert], reviews: pd.DataFrame, as_of: date) -> list[Alert]:
    """The alerts with their reviews applied, in worklist order (cheap: pages cache `alerts` and call this)."""
    found = apply_reviews(found, reviews, as_of, alert_data.rules())
    return sorted(found, key=lambda a: (TIER_ORDER[a.tier], a.since, a.mrn, a.rule))


def alerts(url: str | None = None, *, as_of: date, rule_set: str | None = None) -> list[Alert]:
    """Every alert of the watched patients before any review: one per patient, rule and subject (the most
    severe, then the latest, of several)."""
    patients = queries.patients(url)
    doses = queries.dose_events(url)
    watched = watched_patients(patients, doses, queries.death_dates(url), as_of)
    if watched.empty:
        return []
    ids = list(watched["id"].astype(int))
    events = queries.adverse_events(url, patient_ids=ids)
    doses = doses[doses["patient_id"].isin(ids)]
    rules = alert_data.rules()
    lab_window = rules["lab_grade_3_no_event"].days
    meds = queries.medications(url)
    meds = meds[meds["patient_id"].isin(ids)]
    judged, told = interaction_audit.interaction_findings(watched, meds, events, doses, as_of)
    found = [
        *_event_alerts(events, doses, as_of, rules),
        *_hold_alerts(doses, events, as_of, rule_set),
        *_lab_alerts(queries.graded_labs_since(url, since=as_of - timedelta(days=lab_window), as_of=as_of,
                                               min_grade=3), events, lab_window),
        *_rising_lab_alerts(queries.last_two_lab_grades(url, as_of=as_of)),
        *_monitoring_alerts(monitoring_schedule(watched, queries.lab_collections(url, as_of=as_of), as_of,
                                                protocols.in_force(url).intervals)),
        *_audit_alerts(dose_audit.audit(watched, events, doses, as_of, rule_set=rule_set) + judged,
                       queries.finding_reviews(url)),
        *_information_alerts(told, meds, as_of),
        *_interaction_now_alerts(judged, meds, as_of),
        *_assessment_alerts(watched, queries.last_assessment_dates(url, as_of=as_of), as_of,
                            rules["no_assessment"].days),
    ]
    people = watched.set_index("id")
    found = [replace(a, mrn=people.at[a.patient_id, "mrn"], name=people.at[a.patient_id, "name"], tier=rules[a.rule].tier)
             for a in found if a.patient_id in people.index]
    strongest: dict[tuple, Alert] = {}
    for alert in found:  # e.g. an episode's ended grade 3 and its open grade 4: one alert, the grade 4
        key = (alert.patient_id, alert.rule, alert.subject)
        kept = strongest.get(key)
        if kept is None or (alert.severity, alert.since, alert.record_id or 0) > (kept.severity, kept.since,
                                                                                 kept.record_id or 0):
            strongest[key] = alert
    return list(strongest.values())


def _alert(patient_id, rule: str, reason: str, since, subject: str, record_type: str | None, record_id,
           severity: int = 0, entered_at: datetime | None = None) -> Alert:
    return Alert(int(patient_id), "", "", rule, "", reason, since, subject, record_type,
                 None if record_id is None else int(record_id), int(severity), entered_at=_moment(entered_at))


def _moment(value) -> datetime | None:
    if value is None or (not isinstance(value, datetime) and pd.isna(value)):
        return None
    return pd.Timestamp(value).to_pydatetime()


def _open_on(events: pd.DataFrame, as_of: date) -> pd.DataFrame:
    resolved = pd.to_datetime(events["resolved_date"])
    candidates = events[~events["baseline"].astype(bool) & (pd.to_datetime(events["onset_date"]) <= pd.Timestamp(as_of))]
    return candidates[(resolved.isna() | (resolved > pd.Timestamp(as_of)))[candidates.index]]


def episode_roots(events: pd.DataFrame) -> dict[int, tuple[int, date]]:
    """Per event id: the first record of its episode (a change of grade links the new record to the one it
    ended) and that record's onset, so that an alert follows one episode through its grade changes."""
    previous = dict(zip(events["id"].astype(int), events["previous_event_id"]))
    onsets = dict(zip(events["id"].astype(int), events["onset_date"]))
    roots = {}
    for event_id in previous:
        root, seen = event_id, set()
        while previous.get(root) is not None and not pd.isna(previous[root]) and int(previous[root]) in previous \
                and root not in seen:
            seen.add(root)
            root = int(previous[root])
        roots[event_id] = (root, onsets[root])
    return roots


def held_on(doses: pd.DataFrame, as_of: date) -> set[int]:
    """Patients whose last dose record on or before the day is a hold or a discontinuation."""
    history = doses[doses["effective_date"] <= as_of].sort_values(["patient_id", "effective_date", "id"])
    last = history.groupby("patient_id").tail(1)
    return {int(pid) for pid in last.loc[last["action"].isin(["hold", "discontinue"]), "patient_id"]}


def _event_alerts(events: pd.DataFrame, doses: pd.DataFrame, as_of: date, rules: dict) -> list[Alert]:
    found = []
    still_open = _open_on(events, as_of)
    roots = episode_roots(events)
    held = held_on(doses, as_of)

    def episode(event) -> str:
        return f"{event.term} episode {roots[int(event.id)][0]}"

    for event in still_open[(still_open["term"] == "Pneumonitis") & (still_open["grade"] >= 2)].itertuples():
        if event.patient_id in held:
            continue  # withheld, as the label asks: what follows is the hold's own limit
        found.append(_alert(event.patient_id, "pneumonitis_grade_2",
                            f"Pneumonitis grade {event.grade} open since {event.onset_date} and everolimus is not "
                            "withheld: the label withholds it from grade 2", event.onset_date, episode(event),
                            "adverse_event", event.id, event.grade, event.created_at))
    changed = doses[doses["action"].isin(["hold", "reduce", "discontinue"]) & (doses["effective_date"] <= as_of)]
    for event in still_open[(still_open["term"] == "Mucositis oral") & (still_open["grade"] == 2)].itertuples():
        began = roots[int(event.id)][1]  # a hold for the episode's earlier, worse grade counts too
        acted = changed[(changed["patient_id"] == event.patient_id) & (changed["effective_date"] >= began)]
        if acted.empty and event.patient_id not in held:
            found.append(_alert(event.patient_id, "stomatitis_grade_2_not_held",
                                f"Stomatitis grade 2 since {event.onset_date} and the dose has not been held",
                                event.onset_date, episode(event), "adverse_event", event.id, 2, event.created_at))
    window = rules["grade_3_event"].days
    onset = pd.to_datetime(events["onset_date"])
    recent = events[~events["baseline"].astype(bool) & (onset > pd.Timestamp(as_of - timedelta(days=window)))
                    & (onset <= pd.Timestamp(as_of))]
    severe = pd.concat([still_open, recent]).drop_duplicates("id")
    open_ids = set(still_open["id"])
    for event in severe[severe["grade"] >= 3].itertuples():
        state = "open since" if event.id in open_ids else "began on"
        found.append(_alert(event.patient_id, "grade_3_event",
                            f"{event.term} grade {event.grade} {state} {event.onset_date}", event.onset_date,
                            episode(event), "adverse_event", event.id, event.grade, event.created_at))
    return found


def _hold_alerts(doses: pd.DataFrame, events: pd.DataFrame, as_of: date, rule_set: str | None) -> list[Alert]:
    """A hold still in force past the max_hold_days of the rule for the event it answers."""
    found = []
    history = doses[doses["effective_date"] <= as_of].sort_values(["patient_id", "effective_date", "id"])
    by_id = events.set_index("id")
    for hold in history.groupby("patient_id").tail(1).itertuples():
        if hold.action != "hold" or pd.isna(hold.adverse_event_id) or int(hold.adverse_event_id) not in by_id.index:
            continue
        event = by_id.loc[int(hold.adverse_event_id)]
        rule = dose_rules.rule_for(event["term"], int(event["grade"]), rule_set)
        held = (as_of - hold.effective_date).days
        if rule is not None and rule.max_hold_days and held > rule.max_hold_days:
            found.append(_alert(hold.patient_id, "hold_past_limit",
                                f"Held for {held} days since {hold.effective_date} for {event['term']} grade "
                                f"{int(event['grade'])}: rule {rule.rule_id} allows {rule.max_hold_days} days, then "
                                "discontinue", hold.effective_date + timedelta(days=rule.max_hold_days + 1),
                                f"hold {hold.id}", "dose_event", hold.id, int(event["grade"])))
    return found


def _lab_alerts(labs: pd.DataFrame, events: pd.DataFrame, window: int) -> list[Alert]:
    """A result graded 3 or worse with no event of its term recorded within the window around it (or open)."""
    found = []
    candidates = events[events["patient_id"].isin(labs["patient_id"])]  # not the whole cohort's events per lab
    by_patient_term = {key: rows for key, rows in candidates.groupby(["patient_id", "term"])}
    for lab in labs.itertuples():
        term = ctcae.lab_term(lab.test)
        same = by_patient_term.get((lab.patient_id, term), candidates.iloc[0:0])
        same = same[same["grade"] >= lab.ctcae_grade]
        onset, resolved = pd.to_datetime(same["onset_date"]), pd.to_datetime(same["resolved_date"])
        day = pd.Timestamp(lab.collected_on)
        near = (onset - day).abs() <= pd.Timedelta(days=window)
        covering = (onset <= day) & (resolved.isna() | (resolved >= day))
        if not (near | covering).any():
            found.append(_alert(lab.patient_id, "lab_grade_3_no_event",
                                f"{LAB_TEST_LABELS[lab.test]} {lab.value:g} {lab.unit or ''}".rstrip()
                                + f" on {lab.collected_on} is grade {int(lab.ctcae_grade)}; no {term} event of grade "
                                f"{int(lab.ctcae_grade)} or worse is recorded around it", lab.collected_on, lab.test,
                                "lab_result", lab.id, int(lab.ctcae_grade), lab.created_at))
    return found


def _rising_lab_alerts(last_two: pd.DataFrame) -> list[Alert]:
    return [_alert(row.patient_id, "lab_grade_rising",
                   f"{LAB_TEST_LABELS[row.test]} rose from grade {int(row.previous_grade)} on {row.previous_on} to "
                   f"grade {int(row.ctcae_grade)} on {row.collected_on}", row.collected_on, row.test, "lab_result",
                   row.id, int(row.ctcae_grade), getattr(row, "created_at", None))
            for row in rising_lab_results(last_two).itertuples()]


def _monitoring_alerts(schedule: pd.DataFrame) -> list[Alert]:
    found = []
    for row in schedule[schedule["status"].isin([STATUS_OVERDUE, STATUS_NO_BASELINE])].itertuples():
        tests = ", ".join(LAB_TEST_LABELS[t] for t in row.tests)
        name = row.panel if tests == row.panel else f"{row.panel} ({tests})"
        reason = (f"{name}: no result since the treatment start's baseline window"
                  if row.status == STATUS_NO_BASELINE else f"{name} was due on {row.due_on} (last done {row.last_done})")
        found.append(_alert(row.patient_id, "monitoring_overdue", reason, row.due_on,
                            f"{row.panel} due {row.due_on}", None, None))
    return found


def _audit_alerts(findings: list, reviews: pd.DataFrame) -> list[Alert]:
    reviewed = set(reviews["finding_key"]) if not reviews.empty else set()
    found = []
    for finding in findings:
        if finding.status != "deviation" or finding.key in reviewed:
            continue
        kind, _, number = finding.key.partition(":")
        what = f"{finding.term} grade {finding.grade} on {finding.onset_date}" if finding.grade is not None else \
            f"{finding.term} taken from {finding.onset_date}" if kind == "medication" else \
            f"A hold without a reason on {finding.onset_date}"
        found.append(_alert(finding.patient_id, "audit_deviation_unreviewed",
                            f"Dose audit, not reviewed: {what}: expected {finding.expected}; "
                            f"found: {finding.actual} (rule {finding.rule})",
                            finding.onset_date, finding.key, _FINDING_RECORDS.get(kind),
                            int(number) if number.isdigit() else None, finding.grade or 0))
    return found


_FINDING_RECORDS = {"event": "adverse_event", "hold": "dose_event", "medication": "concomitant_medication"}
# The interaction rules told for information, by the worklist rule that shows them.
INFORMATION_RULES = {"DDI-ACE-INHIBITOR": "ace_inhibitor", "PJP-PROPHYLAXIS": "steroids_without_pjp"}


# Interaction deviations that matter today while the medication is still taken (everolimus at full dose with a
# strong inhibitor, or above 2.5 mg with a moderate one).
NOW_RULES = ("DDI-STRONG-INHIBITOR", "DDI-MODERATE-INHIBITOR")


def _interaction_now_alerts(judged: list, meds: pd.DataFrame, as_of: date) -> list[Alert]:
    ongoing = _ongoing_ids(meds, as_of)
    return [_alert(f.patient_id, "interaction_now", f"{f.term} is taken now and everolimus with it: {f.expected}. "
                   f"Found: {f.actual} (rule {f.rule})", f.onset_date, f.key, "concomitant_medication",
                   _record_number(f.key))
            for f in judged if f.status == "deviation" and f.rule in NOW_RULES and _record_number(f.key) in ongoing]


def _record_number(key: str) -> int:
    """The record id of a finding's key ("medication:12" -> 12)."""
    return int(key.partition(":")[2])


def _ongoing_ids(meds: pd.DataFrame, as_of: date) -> set[int]:
    """The medications not stopped before the analysis date."""
    if meds.empty:
        return set()
    return set(meds.loc[meds["stop_date"].isna() | (pd.to_datetime(meds["stop_date"]) >= pd.Timestamp(as_of)),
                        "id"].astype(int))


def _information_alerts(told: list, meds: pd.DataFrame, as_of: date) -> list[Alert]:
    """The dosing audit's information about a medication still taken (an ACE inhibitor with everolimus, a
    corticosteroid for pneumonitis without PJP prophylaxis)."""
    ongoing = _ongoing_ids(meds, as_of)
    found = []
    for finding in told:
        number = _record_number(finding.key)
        if finding.rule in INFORMATION_RULES and number in ongoing:
            found.append(_alert(finding.patient_id, INFORMATION_RULES[finding.rule],
                                f"{finding.term} from {finding.onset_date}: {finding.expected}; {finding.actual}",
                                finding.onset_date, finding.key, "concomitant_medication", number))
    return found


def _assessment_alerts(patients: pd.DataFrame, last_seen: pd.Series, as_of: date, interval: int) -> list[Alert]:
    found = []
    for patient in patients.itertuples():
        last = last_seen.get(patient.id)
        since = max(d for d in (last, patient.treatment_start) if d is not None and not pd.isna(d))
        if (as_of - since).days > interval:
            found.append(_alert(patient.id, "no_assessment",
                                f"No adverse-event or lab entry since {since} ({(as_of - since).days} days; the visit "
                                f"interval is {interval} days)", since + timedelta(days=interval + 1),
                                f"since {since}", None, None))
    return found


def apply_reviews(found: list[Alert], reviews: pd.DataFrame, as_of: date, rules: dict) -> list[Alert]:
    """Mark the alerts someone acknowledged (or snoozed until after today) whose cause has not worsened since."""
    if reviews.empty:
        return found
    latest = reviews.set_index(["patient_id", "rule", "subject"])
    result = []
    for alert in found:
        key = (alert.patient_id, alert.rule, alert.subject)
        if key not in latest.index:
            result.append(alert)
            continue
        review = latest.loc[key]
        worse = alert.severity > int(review["severity"]) if rules[alert.rule].returns_when == "higher_grade" else \
            (alert.record_id is not None and review["record_id"] is not None and not pd.isna(review["record_id"])
             and alert.record_id != int(review["record_id"]))
        snooze_over = review["decision"] == "snoozed" and not (
            review["snooze_until"] is not None and not pd.isna(review["snooze_until"])
            and review["snooze_until"] > as_of)
        quiet = not worse and not snooze_over
        words = "acknowledged" if review["decision"] == "acknowledged" else f"snoozed until {review['snooze_until']}"
        if review["comment"]:
            words += f": {review['comment']}"
        result.append(replace(alert, acknowledged=quiet, reviewed_by=str(review["created_by"]), review=words)
                      if quiet else alert)
    return result


def new_since(found: list[Alert], reviews_by_user: datetime | None) -> list[Alert]:
    """The open alerts raised since the user's last review (all of them before a first review): the raising
    record entered after it (a late entry of an earlier onset counts), or, for an alert without one (overdue
    monitoring, a missed visit), its day after the review's day."""
    if reviews_by_user is None:
        return [a for a in found if not a.acknowledged]
    last = pd.Timestamp(reviews_by_user)
    last = last.tz_localize("UTC") if last.tzinfo is None else last

    def raised_after(alert: Alert) -> bool:
        if alert.entered_at is not None:
            entered = pd.Timestamp(alert.entered_at)
            return (entered.tz_localize("UTC") if entered.tzinfo is None else entered) > last
        return alert.since > last.date()
    return [a for a in found if not a.acknowledged and raised_after(a)]


def report_csv(report: dict) -> str:
    """`report worklist --format csv`: one row per item, the JSON's keys as columns."""
    frame = pd.DataFrame([{"as_of": report["as_of"], **item} for item in report["items"]],
                         columns=["as_of", *REPORT_KEYS])
    frame["acknowledged"] = frame["acknowledged"].map({True: "yes", False: "no"})
    return safe_frame(frame).to_csv(index=False)


def report(url: str | None = None, *, as_of: date, rule_set: str | None = None) -> dict:
    """`report worklist --format json`: {"as_of", "items": [...]} (issue 18's contract)."""
    return {"as_of": as_of.isoformat(), "items": [a.as_report() for a in worklist(url, as_of=as_of,
                                                                                   rule_set=rule_set)]}
