"""The cohort comparison behind the "Cohort vs BOLERO-2" page and `report incidence`: filters, incidence
against a reference set, follow-up, and time to first event."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from models.analysis import incidence, time_to_event
from models.clinical import exposure, medications, references
from models.csv_cells import safe_frame
from models.store import queries

SWISH_SET = "swish_2017"


@dataclass(frozen=True)
class CohortFilter:
    start_from: date | None = None
    start_to: date | None = None
    age_min: int | None = None
    age_max: int | None = None          # inclusive, in whole years at treatment start
    starting_dose_mg: float | None = None
    # None = everyone; True = a dexamethasone mouthwash from the start (medications.mouthwash_from_start),
    # False = none recorded from the start
    prophylaxis: bool | None = None

    @property
    def everyone(self) -> bool:
        return self == CohortFilter()

    def describe(self) -> str:
        parts = []
        if self.start_from or self.start_to:
            parts.append(f"treatment start {self.start_from or '…'} to {self.start_to or '…'}")
        if self.age_min is not None or self.age_max is not None:
            parts.append(f"age {self.age_min if self.age_min is not None else '…'}-"
                         f"{self.age_max if self.age_max is not None else '…'}")
        if self.starting_dose_mg is not None:
            parts.append(f"starting dose {self.starting_dose_mg:g} mg")
        if self.prophylaxis is not None:
            parts.append("dexamethasone mouthwash from the start" if self.prophylaxis
                         else "no dexamethasone mouthwash recorded from the start")
        return "; ".join(parts) or "all patients"


def apply_filter(patients: pd.DataFrame, doses: pd.DataFrame | None, chosen: CohortFilter,
                 mouthwash: pd.Series | None = None) -> pd.DataFrame:
    """The patients the filter keeps; `doses` (the start records at least) is needed for the dose filter,
    `mouthwash` (per patient id, medications.mouthwash_from_start) for the prophylaxis filter."""
    keep = pd.Series(True, index=patients.index)
    if chosen.start_from:
        keep &= patients["treatment_start"] >= chosen.start_from
    if chosen.start_to:
        keep &= patients["treatment_start"] <= chosen.start_to
    if chosen.age_min is not None or chosen.age_max is not None:
        ages = patients.apply(lambda p: age_at(p["birth_date"], p["treatment_start"]), axis=1)
        if chosen.age_min is not None:
            keep &= ages.notna() & (ages >= chosen.age_min)
        if chosen.age_max is not None:
            keep &= ages.notna() & (ages <= chosen.age_max)
    if chosen.starting_dose_mg is not None and doses is not None:
        keep &= patients["id"].map(starting_doses(patients, doses)) == chosen.starting_dose_mg
    if chosen.prophylaxis is not None:
        if mouthwash is None:
            raise ValueError("the prophylaxis filter needs who had the mouthwash from the start")
        keep &= patients["id"].map(mouthwash).fillna(False).astype(bool) == chosen.prophylaxis
    return patients[keep]


def age_at(birth: date | None, at: date) -> float | None:
    if birth is None or pd.isna(birth):
        return None
    return at.year - birth.year - ((at.month, at.day) < (birth.month, birth.day))


def starting_doses(patients: pd.DataFrame, doses: pd.DataFrame) -> pd.Series:
    """Per patient id: the dose of the first 'start' record, else the planned dose."""
    starts = doses[doses["action"] == "start"].sort_values(["effective_date", "id"]) \
        .groupby("patient_id")["dose_mg"].first()
    planned = patients.set_index("id")["planned_dose_mg"]
    return planned.where(~planned.index.isin(starts.index), starts.reindex(planned.index))


@dataclass
class CohortAnalysis:
    as_of: date
    reference_set: str
    chosen: CohortFilter
    exposed: int
    rows: list[dict]
    table: pd.DataFrame
    median_follow_up_days: float | None
    onsets: incidence.CohortOnsets | None = None
    left_out: dict[str, int] = field(default_factory=dict)  # reason -> patients not in the denominators
    exposure_rates: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def terms_with_events(self) -> list[str]:
        return self.onsets.observed_terms() if self.onsets is not None else []

    def event_times(self, term: str, min_grade: int = 1) -> pd.DataFrame:
        """Per exposed patient: days to the first event of the term at that grade, death, or the end of
        follow-up (time_to_event.event_times)."""
        return time_to_event.event_times(self.onsets.first_onsets(term, min_grade), self.onsets.followed)


def analyse(url: str | None = None, *, as_of: date, reference_set: str = references.DEFAULT_REFERENCE_SET,
            chosen: CohortFilter | None = None) -> CohortAnalysis:
    """Everything the page shows, from the onset summary the write path keeps (models/store/summary.py), the
    patients, their dose records and death dates: event rows are read only for patients with more than one
    exposure period (a restart), whose first onset may fall between periods."""
    chosen = chosen or CohortFilter()
    everyone = queries.patients(url)
    mouthwash = medications.mouthwash_from_start(everyone, queries.medications(
        url, drugs=medications.mouthwash_drugs())) if chosen.prophylaxis is not None else None
    patients = apply_filter(everyone, queries.start_doses(url) if chosen.starting_dose_mg is not None else None,
                            chosen, mouthwash)
    periods = exposure.exposure_periods(patients, queries.dose_events(url), as_of)
    followed = exposure.follow_up(patients, periods, queries.death_dates(url), as_of)
    onsets = queries.term_onsets(url)
    onsets = onsets[onsets["patient_id"].isin(followed.index)]
    restarted = periods.loc[periods["period"] > 1, "patient_id"].unique()
    if len(restarted):
        again = incidence.onsets_from_events(queries.adverse_events(url, patient_ids=list(restarted)), patients,
                                             periods)
        onsets = pd.concat([onsets[~onsets["patient_id"].isin(restarted)], _as_datetimes(again)],
                           ignore_index=True)
    cohort_onsets = incidence.CohortOnsets(incidence.emergent_onsets(onsets, periods), followed)
    notes = _set_notes(reference_set)
    overrides = {}
    if chosen.prophylaxis:
        overrides[("Mucositis oral", "grade_2_plus")] = SWISH_SET
        notes.append(f"Patients with a dexamethasone mouthwash started within {medications.mouthwash_window_days()} "
                     "days of the everolimus start: stomatitis grade ≥ 2 is compared with "
                     f"{references.citation(SWISH_SET)}, the fitting reference for them.")
    follow_up = time_to_event.median_follow_up_days(followed)
    # a term nobody ever recorded is "not recorded", not "lower"
    rows = incidence.comparison_rows(cohort_onsets, reference_set, overrides, queries.recorded_terms(url),
                                     median_follow_up_days=follow_up) if cohort_onsets.exposed else []
    analysis = CohortAnalysis(as_of, reference_set, chosen, cohort_onsets.exposed, rows, incidence.long_frame(rows),
                              follow_up, cohort_onsets, exposure.left_out(patients, followed, as_of), notes=notes)
    analysis.exposure_rates = pd.DataFrame([_rate_row(term, analysis.event_times(term))
                                            for term in analysis.terms_with_events()], columns=RATE_COLUMNS)
    return analysis


RATE_COLUMNS = ["term", "first_events", "patient_months", "per_100_patient_months", "ci_low", "ci_high"]


def _rate_row(term: str, times: pd.DataFrame) -> dict:
    rate = time_to_event.exposure_adjusted_rate(times)
    return {"term": term, "first_events": rate.first_events, "patient_months": rate.patient_months,
            "per_100_patient_months": rate.per_100_patient_months, "ci_low": rate.ci_low, "ci_high": rate.ci_high}


def _as_datetimes(onsets: pd.DataFrame) -> pd.DataFrame:
    return onsets.assign(**{column: pd.to_datetime(onsets[column]) for column in incidence.ONSET_COLUMNS.values()})


def _set_notes(reference_set: str) -> list[str]:
    """What holds for the whole reference set: how it was graded, and its follow-up."""
    facts = references.set_facts(reference_set)
    notes = []
    if facts.grading:
        notes.append(f"{references.citation(reference_set)} graded adverse events with {facts.grading} "
                     f"({facts.grading_status}). This clinic grades with CTCAE v5.0, whose definitions differ "
                     "for some terms.")
    return notes


def incidence_report(url: str | None = None, *, as_of: date,
                     reference_set: str = references.DEFAULT_REFERENCE_SET) -> dict:
    """`report incidence --format json`, exactly as DESIGN.md specifies."""
    analysis = analyse(url, as_of=as_of, reference_set=reference_set)
    # Holm's adjustment runs over the comparisons the report holds: its rows carry two bands.
    exposed = analysis.exposed
    rows = incidence.adjust_for_multiplicity([{k: v for k, v in row.items() if k != "grade_2_plus"}
                                              for row in analysis.rows])
    return {"reference_set": reference_set, "as_of": as_of.isoformat(), "n_patients": exposed,
            "rows": [{"term": row["term"], "any_grade": row["any_grade"].as_report(),
                      "grade_3_plus": row["grade_3_plus"].as_report()} for row in rows]}


def incidence_report_csv(report: dict) -> str:
    records = [{"reference_set": report["reference_set"], "as_of": report["as_of"],
                "n_patients": report["n_patients"], "term": row["term"], "band": band, **row[band]}
               for row in report["rows"] for band in ("any_grade", "grade_3_plus")]
    columns = ["reference_set", "as_of", "n_patients", "term", "band", "patients", "exposed", "pct", "ci_low_pct",
               "ci_high_pct", "reference_pct", "reference_n", "window_days", "p_value", "signal", "p_adjusted",
               "signal_adjusted"]
    return safe_frame(pd.DataFrame(records, columns=columns)).to_csv(index=False)
