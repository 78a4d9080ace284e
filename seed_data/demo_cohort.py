"""Synthetic, clearly fictional demo cohort (`python -m models seed-demo`).

Every patient is invented: MRNs start with "DEMO-" and names end with "(fictional)". Incidence follows the
published rates of seed_data/reference_rates.csv (BOLERO-2 interim set, the 18-month set for terms the
interim set lacks, SWISH for patients on dexamethasone mouthwash). Timing follows the published landmarks
where they exist (stomatitis: grade >= 2 median onset 15.5 days, most first episodes within 8 weeks);
everything else marked ASSUMPTION below is a generator choice that only shapes the demo, never a fact
shown as clinical reference.

Concomitant medications (the mouthwash, steroids for pneumonitis, a few interacting drugs) are explained in
seed_data/demo_medications.py. Doses mostly follow the label's dose-modification rules; about one rule-covered event in twelve gets a
deliberate deviation (no hold, late hold, early resume, or no reduction) so the dosing audit has
something to find. The output is deterministic for a given seed and "today".
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from models.clinical import ctcae, labs, references
from seed_data.demo_medications import add_medications

SEED_USER = "seed-demo"

# ASSUMPTION: shape of the demo cohort.
MAX_DAYS_ON_STUDY = 540
MEDIAN_DAYS_TO_PROGRESSION = 220
SHARE_PROPHYLAXIS = 0.3
SHARE_PLANNED_5MG = 0.06
DEVIATION_RATE = 1 / 12
UNEXPLAINED_HOLD_RATE = 0.03
DOSE_STEPS_MG = (10.0, 5.0, 2.5)


@dataclass(frozen=True)
class TermProfile:
    term: str
    any_pct: float
    grade_3_plus_pct: float
    share_grade_2_plus: float   # of patients with the event, the share whose worst grade is >= 2
    median_onset_days: float
    max_grade: int = 4
    lab_test: str | None = None


def _pct(set_name: str, term: str, band: str) -> float | None:
    return references.rate(set_name, term, band)


def term_profiles() -> list[TermProfile]:
    interim, later = "bolero2_interim_2012", "bolero2_18month"

    def profile(term, g2_share, median_onset, *, max_grade=4, lab_test=None, g3_fallback=2.0):
        any_pct = _pct(interim, term, "any") or _pct(later, term, "any")
        g3 = _pct(interim, term, "grade_3_plus") or _pct(later, term, "grade_3_plus")
        return TermProfile(term, any_pct, g3 if g3 is not None else g3_fallback, g2_share, median_onset,
                           max_grade, lab_test)

    return [
        # Stomatitis: grade >= 2 in 33 of 67 % with the grouped term (other_references.md); 15.5 days.
        profile("Mucositis oral", 33 / 67, 15.5),
        profile("Pneumonitis", 0.5, 75),              # ASSUMPTION: "later" than the others
        profile("Hyperglycemia", 0.45, 45, lab_test="glucose_fasting"),
        profile("Anemia", 0.45, 60, lab_test="hemoglobin"),
        profile("Aspartate aminotransferase increased", 0.3, 40, lab_test="ast"),
        profile("Alanine aminotransferase increased", 0.3, 40, lab_test="alt"),
        profile("Fatigue", 0.4, 30, max_grade=3),
        profile("Dyspnea", 0.4, 60),
        profile("Diarrhea", 0.3, 30, g3_fallback=2.0),
        profile("Nausea", 0.3, 25, max_grade=3, g3_fallback=1.0),
        profile("Platelet count decreased", 0.3, 45, lab_test="platelets", g3_fallback=1.5),
    ]


# Where demo values fall inside the normal range (seed_data/lab_reference_ranges.csv gives LLN and ULN).
TYPICAL_SPREAD = 0.05  # ASSUMPTION: values stay 5% inside the limits
# Values inside each CTCAE band (see seed_data/lab_grading.csv), to draw a lab that matches an event.
# The tests the demo draws at each visit (the lipid tests have no sourced default range to draw around yet).
DEMO_LAB_TESTS = ("hemoglobin", "ast", "alt", "glucose_fasting", "platelets", "neutrophils")
# Lipids and creatinine, drawn at the baseline visit and then every MONITORING_LAB_DAYS, from their own random
# stream (so the rest of the demo stays as it was). ASSUMPTION: demo values in a plausible normal region; no
# ULN is given (none is sourced), so the grades that need one stay ungraded.
MONITORING_LAB_DAYS = 84
MONITORING_LAB_VALUES = {"cholesterol_total": ("mg/dL", 150.0, 195.0), "triglycerides": ("mg/dL", 70.0, 140.0),
                         "creatinine": ("mg/dL", 0.6, 0.95)}
GRADE_BANDS = {
    "hemoglobin": {1: (10.2, 11.8), 2: (8.1, 9.9), 3: (6.6, 7.9), 4: (5.8, 6.5)},
    "ast": {1: (1.2, 2.9), 2: (3.2, 4.9), 3: (5.3, 12.0), 4: (21.0, 26.0)},   # x ULN
    "alt": {1: (1.2, 2.9), 2: (3.2, 4.9), 3: (5.3, 12.0), 4: (21.0, 26.0)},
    "glucose_fasting": {1: (105, 158), 2: (165, 245), 3: (255, 420), 4: (505, 560)},
    "platelets": {1: (80, 145), 2: (52, 74), 3: (27, 49), 4: (12, 24)},
    "neutrophils": {1: (1.55, 1.95), 2: (1.05, 1.45), 3: (0.55, 0.95), 4: (0.2, 0.45)},
}

FIRST_NAMES = ("Alder", "Briar", "Calla", "Dahlia", "Elowen", "Fern", "Greer", "Hazel", "Iris", "Juniper",
               "Kestrel", "Linnea", "Marlow", "Nell", "Odile", "Petra", "Quill", "Rowan", "Sorrel", "Tamsin",
               "Umber", "Vesna", "Wren", "Yarrow", "Zinnia")
LAST_NAMES = ("Ashdown", "Brackenridge", "Coldwater", "Dunmore", "Eastwick", "Fallowfield", "Glenholm",
              "Harrowgate", "Ivybridge", "Juniperhill", "Kettlewell", "Larkspur", "Mossley", "Northwood",
              "Oakhurst", "Pennycress", "Quarrydale", "Rushmere", "Stonebeck", "Thornbury")


@dataclass
class DemoCohort:
    patients: list[dict] = field(default_factory=list)
    adverse_events: list[dict] = field(default_factory=list)
    labs: list[dict] = field(default_factory=list)
    doses: list[dict] = field(default_factory=list)
    medications: list[dict] = field(default_factory=list)


@dataclass
class _Episode:
    term: str
    onset: int            # day on treatment
    worst_grade: int
    recovery: int         # first day at grade <= 1
    end: int              # day resolved


class _PatientBuilder:
    def __init__(self, rng: random.Random, cohort: DemoCohort, today: date, profiles: list[TermProfile],
                 registry: bool = False, monitoring_rng: random.Random | None = None,
                 medication_rng: random.Random | None = None):
        self.rng, self.cohort, self.today, self.profiles = rng, cohort, today, profiles
        self.registry = registry
        self.monitoring_rng = monitoring_rng or random.Random(0)
        self.medication_rng = medication_rng or random.Random(1)

    def build(self, number: int) -> None:
        rng = self.rng
        patient_id = len(self.cohort.patients) + 1
        days_on = rng.randint(1, MAX_DAYS_ON_STUDY)
        start = self.today - timedelta(days=days_on)
        planned = 5.0 if rng.random() < SHARE_PLANNED_5MG else 10.0
        prophylaxis = rng.random() < SHARE_PROPHYLAXIS
        progression = _draw_exponential(rng, MEDIAN_DAYS_TO_PROGRESSION)
        self.pid, self.start, self.planned = patient_id, start, planned
        # Progression ends treatment (the last day on drug); None while the patient is still on it today.
        self.progression_day = int(progression) if progression < days_on else None
        self.last_day = days_on if self.progression_day is None else self.progression_day
        self.doses: list[tuple[int, str, float, int | None, str | None]] = [(0, "start", planned, None, None)]
        self.dose, self.busy_until, self.stopped, self.grade2_recurrences = planned, -1, False, {}

        age_days = rng.randint(42 * 365, 82 * 365)
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} (fictional)"
        recorded = rng.random() < 0.9  # ASSUMPTION: a tenth of the mouthwashes given are not recorded
        mouthwash_recorded = prophylaxis and recorded
        self.cohort.patients.append({
            "id": patient_id, "mrn": f"DEMO-{number:05d}",
            "name": name,
            "birth_date": start - timedelta(days=age_days), "treatment_start": start,
            "planned_dose_mg": planned, "status": "on_treatment", "notes": "Synthetic demo patient; not a real person.",
        })
        episodes = self._episodes(prophylaxis, days_on)
        active: list[tuple[_Episode, list[int]]] = []
        for episode in sorted(episodes, key=lambda e: e.onset):
            if episode.onset > self.last_day + 30:
                continue  # past the follow-up window after the last dose
            event_ids = self._write_event_records(episode, days_on)
            active.append((episode, event_ids))
            if not self.stopped:
                self._dose_response(episode, event_ids[0], days_on)
        if not self.stopped and self.progression_day is not None:
            self._add_dose(self.progression_day, "discontinue", 0.0, None, "Disease progression")
        if not self.stopped and rng.random() < UNEXPLAINED_HOLD_RATE and days_on > 40:
            day = rng.randint(20, days_on - 10)
            if self.busy_until < day and day + 5 < self.last_day:  # no reason, no event: the audit flags it
                self._add_dose(day, "hold", 0.0, None, None)
                self._add_dose(day + 5, "resume", self.dose, None, None)
        add_medications(self, self.medication_rng, mouthwash_recorded, days_on,
                        [(episode, ids[0]) for episode, ids in active])
        self._write_doses()
        self._write_labs(days_on, [e for e, _ in active])

    # --- adverse events -------------------------------------------------------------------------------
    def _episodes(self, prophylaxis: bool, days_on: int) -> list[_Episode]:
        rng, episodes = self.rng, []
        for profile in self.profiles:
            any_pct, g3_pct, g2_share = profile.any_pct, profile.grade_3_plus_pct, profile.share_grade_2_plus
            if prophylaxis and profile.term == "Mucositis oral":
                # SWISH: any grade 21%, grade >= 2 2.4%, no grade 3-4.
                any_pct = references.rate("swish_2017", "Mucositis oral", "any") or any_pct
                g2 = references.rate("swish_2017", "Mucositis oral", "grade_2_plus") or 2.4
                g3_pct, g2_share = 0.0, g2 / any_pct
            if rng.random() >= any_pct / 100:
                continue
            onset = int(_draw_exponential(rng, profile.median_onset_days))
            if onset > days_on:
                continue  # would happen after today: not yet observed
            worst = self._worst_grade(profile, any_pct, g3_pct, g2_share)
            episodes.append(self._episode(profile.term, onset, worst))
            if profile.term == "Mucositis oral" and rng.random() < 0.3:  # ASSUMPTION: recurrences
                later = episodes[-1].end + rng.randint(10, 60)
                if later <= days_on:
                    episodes.append(self._episode(profile.term, later, rng.choice((1, 2, 2, 3))))
        if self.registry:
            episodes += self._registry_episodes(days_on, {e.term: e.end for e in episodes})
        return episodes

    def _registry_episodes(self, days_on: int, busy_until: dict[str, int]) -> list[_Episode]:
        """Load-test volume (ASSUMPTION, not clinical rates): mostly low-grade episodes of every term,
        one after another, about one per term every month on treatment."""
        rng, episodes = self.rng, []
        for profile in self.profiles:
            day = busy_until.get(profile.term, 0) + rng.randint(3, 100)
            while day <= days_on:
                grade = rng.choices((1, 2, 3), weights=(70, 25, 5))[0]
                episode = self._episode(profile.term, day, min(grade, profile.max_grade))
                episodes.append(episode)
                day = episode.end + rng.randint(2, 32)
        return episodes

    def _worst_grade(self, profile: TermProfile, any_pct: float, g3_pct: float, g2_share: float) -> int:
        draw = self.rng.random()
        if draw < g3_pct / any_pct:
            return 4 if profile.max_grade >= 4 and self.rng.random() < 0.1 else 3
        return 2 if draw < max(g2_share, g3_pct / any_pct) else 1

    def _episode(self, term: str, onset: int, worst: int) -> _Episode:
        rng = self.rng
        if worst == 1:
            end = onset + rng.randint(5, 30)
            return _Episode(term, onset, 1, onset, end)
        recovery = onset + rng.randint(5, 14)
        return _Episode(term, onset, worst, recovery, recovery + rng.randint(5, 20))

    def _write_event_records(self, episode: _Episode, days_on: int) -> list[int]:
        """One record per grade (oncology convention): the worst grade, then grade 1 until resolution."""
        profile_lab = {p.term: p.lab_test for p in self.profiles}
        spans = [(episode.worst_grade, episode.onset, episode.recovery - 1)]
        if episode.worst_grade >= 2:
            spans.append((1, episode.recovery, episode.end))
        else:
            spans = [(1, episode.onset, episode.end)]
        ids, previous = [], None
        term = ctcae.get_term(episode.term)
        for grade, first, last in spans:
            if first > days_on:
                break
            resolved = last if last < days_on else None
            event_id = len(self.cohort.adverse_events) + 1
            self.cohort.adverse_events.append({
                "id": event_id, "patient_id": self.pid, "term": term.name, "meddra_code": term.meddra_code,
                "grade": grade, "onset_date": self._date(first),
                "resolved_date": self._date(resolved) if resolved is not None else None,
                "serious": grade >= 3 and (episode.term == "Pneumonitis" or self.rng.random() < 0.4),
                "attribution": "probable" if episode.term in ("Mucositis oral", "Pneumonitis") else "possible",
                "action_taken": None, "outcome": _outcome(resolved is not None, last == episode.end),
                "source": "lab" if profile_lab.get(episode.term) else "reported",
                "previous_event_id": previous, "notes": None,
            })
            ids.append(event_id)
            previous = event_id
        return ids

    # --- dosing ---------------------------------------------------------------------------------------
    def _dose_response(self, episode: _Episode, event_id: int, days_on: int) -> None:
        rule = _label_action(episode.term, episode.worst_grade, self.grade2_recurrences.get(episode.term, 0))
        if episode.worst_grade == 2:
            self.grade2_recurrences[episode.term] = self.grade2_recurrences.get(episode.term, 0) + 1
        if rule is None or episode.onset <= self.busy_until or episode.onset > self.last_day:
            return
        rng = self.rng
        deviation = rng.choice(("none", "late", "early_resume", "no_reduction")) \
            if rng.random() < DEVIATION_RATE else None
        if deviation == "none":
            return
        action_day = episode.onset + (rng.randint(5, 9) if deviation == "late" else rng.choice((0, 0, 1, 2)))
        if action_day > days_on or (self.progression_day is not None and action_day >= self.progression_day):
            return
        event = self.cohort.adverse_events[event_id - 1]
        if rule == "discontinue":
            self._add_dose(action_day, "discontinue", 0.0, event_id, f"{episode.term} grade {episode.worst_grade}")
            event["action_taken"] = "discontinued"
            return
        self._add_dose(action_day, "hold", 0.0, event_id, f"{episode.term} grade {episode.worst_grade}")
        event["action_taken"] = "held"
        resume_day = episode.recovery - 3 if deviation == "early_resume" else episode.recovery + rng.choice((0, 1))
        resume_day = max(resume_day, action_day + 1)
        if resume_day > days_on or (self.progression_day is not None and resume_day >= self.progression_day):
            self.busy_until = days_on
            return  # still held today, or until progression ends treatment
        new_dose = self.dose
        if rule == "resume_lower" and deviation != "no_reduction":
            lower = [step for step in DOSE_STEPS_MG if step < self.dose]
            if not lower:
                self._add_dose(resume_day, "discontinue", 0.0, event_id, "Intolerance at the lowest dose")
                return
            new_dose = lower[0]
            event["action_taken"] = "reduced"
        action = "reduce" if new_dose < self.dose else "resume"
        self._add_dose(resume_day, action, new_dose, event_id, f"Recovered to grade <= 1 from {episode.term}")
        self.busy_until = resume_day

    def _add_dose(self, day: int, action: str, dose: float, event_id: int | None, reason: str | None) -> None:
        self.doses.append((day, action, dose, event_id, reason))
        if action in ("resume", "reduce", "escalate", "start"):
            self.dose = dose
        if action == "discontinue":
            self.stopped, self.last_day = True, min(self.last_day, day)
        if action == "hold":
            self.busy_until = max(self.busy_until, day)

    def _write_doses(self) -> None:
        patient = self.cohort.patients[-1]
        for day, action, dose, event_id, reason in sorted(self.doses, key=lambda d: d[0]):
            self.cohort.doses.append({
                "id": len(self.cohort.doses) + 1, "patient_id": self.pid, "effective_date": self._date(day),
                "action": action, "dose_mg": dose, "adverse_event_id": event_id, "reason": reason,
            })
        last_action = sorted(self.doses, key=lambda d: d[0])[-1][1]
        patient["status"] = {"discontinue": "discontinued", "hold": "held"}.get(last_action, "on_treatment")

    # --- labs -----------------------------------------------------------------------------------------
    def _write_labs(self, days_on: int, episodes: list[_Episode]) -> None:
        last = min(days_on, self.last_day + 30)
        visit_days = [-7] + [d for d in (14, 28, 42, 56) if d <= last]
        visit_days += list(range(70 if self.registry else 84, last + 1, 16 if self.registry else 28))
        for profile in self.profiles:  # a lab drawn during each lab-graded event, so labs and events agree
            if profile.lab_test:
                visit_days += [e.onset + 1 for e in episodes if e.term == profile.term and e.onset + 1 <= last]
        for day in sorted(set(visit_days)):
            for test in DEMO_LAB_TESTS:
                limits = labs.normal_range(test, None)
                unit, lln, uln = limits.unit, limits.lln, limits.uln
                margin = (uln - lln) * TYPICAL_SPREAD
                low, high = lln + margin, uln - margin
                grade = self._event_grade_on(test, day, episodes)
                if grade:
                    band_low, band_high = GRADE_BANDS[test][grade]
                    scale = uln if test in ("ast", "alt") else 1.0
                    value = self.rng.uniform(band_low, band_high) * scale
                else:
                    value = self.rng.uniform(low, high)
                value = round(value, 2 if test == "neutrophils" else 1)
                lab_grade = ctcae.grade_lab(test, value, unit, lln=lln, uln=uln)
                self.cohort.labs.append({
                    "id": len(self.cohort.labs) + 1, "patient_id": self.pid, "test": test, "value": value,
                    "unit": unit, "lln": lln, "uln": uln, "collected_on": self._date(day),
                    "baseline": day < 0, "ctcae_term": ctcae.lab_term(test), "ctcae_grade": lab_grade,
                })

        for day in range(-7, last + 1, MONITORING_LAB_DAYS):
            for test, (unit, low, high) in MONITORING_LAB_VALUES.items():
                value = round(self.monitoring_rng.uniform(low, high), 2)
                self.cohort.labs.append({
                    "id": len(self.cohort.labs) + 1, "patient_id": self.pid, "test": test, "value": value,
                    "unit": unit, "lln": None, "uln": None, "collected_on": self._date(day), "baseline": day < 0,
                    "ctcae_term": ctcae.lab_term(test), "ctcae_grade": ctcae.grade_lab(test, value, unit)})

    def _event_grade_on(self, test: str, day: int, episodes: list[_Episode]) -> int:
        terms = [p.term for p in self.profiles if p.lab_test == test]
        grade = 0
        for e in episodes:
            if e.term in terms and e.onset <= day <= e.end:
                grade = max(grade, e.worst_grade if day < e.recovery else 1)
        return min(grade, 4)

    def _date(self, day: int) -> date:
        return self.start + timedelta(days=day)


def _label_action(term: str, grade: int, earlier_grade2: int) -> str | None:
    """What the current label asks for (seed_data/dose_rules/us-current.csv is the audited source; this mirrors
    it). Anemia has no label rule; the demo still withholds for a grade 3, as a clinician may."""
    if grade >= 4:
        return "discontinue"
    if term == "Mucositis oral":
        if grade == 2:
            return "resume_lower" if earlier_grade2 else "resume_same"
        return "resume_lower" if grade == 3 else None
    if term == "Pneumonitis":
        return {2: "resume_same", 3: "resume_lower"}.get(grade)  # grade 2: withhold, same dose (PNEU-2)
    if term == "Platelet count decreased":
        return {2: "resume_same", 3: "resume_lower"}.get(grade)
    return "resume_lower" if grade == 3 else None


def _outcome(resolved: bool, episode_over: bool) -> str:
    if not resolved:
        return "not_recovered"
    return "recovered" if episode_over else "recovering"  # resolved only by moving to a lower grade


def _draw_exponential(rng: random.Random, median: float) -> float:
    return rng.expovariate(math.log(2) / median)


def generate(patients: int = 120, seed: int = 7, today: date | None = None, *, registry: bool = False) -> DemoCohort:
    """The whole cohort as plain rows (ids assigned from 1), ready for bulk insertion. `registry` adds
    synthetic volume (about 50 adverse-event records and 100 labs per patient) for load tests."""
    if patients < 1:
        raise ValueError("--patients must be at least 1")
    rng = random.Random(seed)
    cohort = DemoCohort()
    today = today or date.today()
    builder = _PatientBuilder(rng, cohort, today, term_profiles(), registry, random.Random(seed + 1_000_003),
                              random.Random(seed + 2_000_003))
    for number in range(1, patients + 1):
        builder.build(number)
    if not registry:
        add_worklist_cases(cohort, today)
    return cohort


# Four cases a clinician would act on today, written on purpose into on-treatment patients (the highest numbered
# ones that fit), so that the worklist has something to show and the tests something to find. ASSUMPTION: these
# are demo scenarios, not rates. (term, grade, onset days before today, hold the day after, lab instead of event)
WORKLIST_CASES = (
    ("Pneumonitis", 2, 2, False, None),                 # label: withhold from grade 2; not yet held
    ("Dyspnea", 3, 30, True, None),                     # a grade 3 still open a month on, held since
    ("Mucositis oral", 2, 4, False, None),              # grade 2 stomatitis, dose not yet held
    ("Neutrophil count decreased", 3, 3, False, "neutrophils"),  # a grade 3 count with no event recorded
)


def add_worklist_cases(cohort: DemoCohort, today: date) -> list[str]:
    """Write WORKLIST_CASES into distinct patients on treatment today (no hold or stop in their last 60 days,
    nothing of the term in the last 60 days); returns their MRNs in the order of the cases."""
    used, chosen = set(), []
    for term, grade, days_ago, hold, lab_test in WORKLIST_CASES:
        onset = today - timedelta(days=days_ago)
        for patient in reversed(cohort.patients):
            pid = patient["id"]
            doses = sorted((d for d in cohort.doses if d["patient_id"] == pid), key=lambda d: (d["effective_date"], d["id"]))
            recent_term = [e for e in cohort.adverse_events if e["patient_id"] == pid and e["term"] == term
                           and (e["resolved_date"] is None or e["resolved_date"] >= onset - timedelta(days=60))]
            quiet = all(d["action"] not in ("hold", "discontinue") or d["effective_date"] < onset - timedelta(days=60)
                        for d in doses) and doses[-1]["action"] != "discontinue"
            if pid in used or recent_term or not quiet or patient["treatment_start"] > onset - timedelta(days=60):
                continue
            used.add(pid)
            chosen.append(patient["mrn"])
            if lab_test:
                limits = labs.normal_range(lab_test, None)
                value = round(sum(GRADE_BANDS[lab_test][grade]) / 2, 2)
                cohort.labs.append({
                    "id": len(cohort.labs) + 1, "patient_id": pid, "test": lab_test, "value": value,
                    "unit": limits.unit, "lln": limits.lln, "uln": limits.uln, "collected_on": onset,
                    "baseline": False, "ctcae_term": ctcae.lab_term(lab_test),
                    "ctcae_grade": ctcae.grade_lab(lab_test, value, limits.unit, lln=limits.lln, uln=limits.uln)})
                break
            event_id = len(cohort.adverse_events) + 1
            catalogue = ctcae.get_term(term)
            cohort.adverse_events.append({
                "id": event_id, "patient_id": pid, "term": catalogue.name, "meddra_code": catalogue.meddra_code,
                "grade": grade, "onset_date": onset, "resolved_date": None, "serious": grade >= 3,
                "attribution": "possible", "action_taken": "held" if hold else None, "outcome": "not_recovered",
                "source": "reported", "previous_event_id": None, "notes": None})
            if hold:
                cohort.doses.append({"id": len(cohort.doses) + 1, "patient_id": pid,
                                     "effective_date": onset + timedelta(days=1), "action": "hold", "dose_mg": 0.0,
                                     "adverse_event_id": event_id, "reason": f"{catalogue.name} grade {grade}"})
                patient["status"] = "held"
            break
    return chosen
