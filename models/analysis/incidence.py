"""Cohort incidence of each CTCAE term, with exact confidence intervals, compared with a reference rate.

Definitions (DESIGN.md, models/clinical/exposure.py): exposed = treatment start on or before the analysis date
and at least one day of follow-up; treatment-emergent = onset in an exposure period or at most 30 days after
its last dose day, on or before the analysis date, not baseline, not entered in error. Worst grade per patient.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date

import pandas as pd
from scipy.stats import beta, binom, fisher_exact

from models.analysis import time_to_event
from models.clinical import ctcae, exposure, references

DAYS_PER_MONTH = 365.25 / 12

CONFIDENCE = 0.95
ALPHA = 0.05
REPORT_KEYS = ("patients", "exposed", "pct", "ci_low_pct", "ci_high_pct", "reference_pct", "reference_n", "window_days",
               "p_value", "p_adjusted", "signal", "signal_adjusted")  # DESIGN.md's COMPARISON, in its order


@dataclass(frozen=True)
class Comparison:
    patients: int
    exposed: int
    pct: float
    ci_low_pct: float
    ci_high_pct: float
    reference_pct: float | None
    p_value: float | None
    signal: str
    reference_source: str | None = None
    reference_n: int | None = None       # the trial arm's size, when the reference gives it
    window_days: int | None = None
    p_adjusted: float | None = None      # Holm, over every comparison of the report with a p-value
    signal_adjusted: str | None = None
    reference_text: str | None = None    # the figure as published: "8", "<1", "2-6"
    caveats: tuple[str, ...] = ()        # what a reader of this comparison must know

    def as_report(self) -> dict:
        """DESIGN.md's COMPARISON (percentages 0-100, null where there is no number)."""
        data = asdict(self)
        return {key: data[key] for key in REPORT_KEYS}


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact binomial CI for k successes in n trials, as proportions."""
    if n <= 0:
        raise ValueError("no exposed patients: a confidence interval needs n >= 1")
    alpha = 1 - confidence
    low = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


def compare(k: int, n: int, reference_pct: float | None, reference_source: str | None = None, *,
            reference_n: int | None = None, recorded: bool = True) -> Comparison:
    """The clinic's k of n against the reference. With the trial arm's size: Fisher's exact test (two-sided) of
    k/n against round(p0 x N)/N, for the trial's rate is an estimate too; without it, the exact binomial test
    with the central two-sided p (twice the smaller tail, at most 1, as the Clopper-Pearson interval). A term
    the clinic never recorded at all is "not recorded", not "lower"."""
    low, high = clopper_pearson(k, n)
    p_value = None
    if not recorded:
        signal = "not recorded"
    elif reference_pct is None:
        signal = "no reference"
    else:
        p_value = trial_p_value(k, n, reference_pct / 100, reference_n)
        signal = _signal(p_value, k / n, reference_pct / 100)
    return Comparison(k, n, round(100 * k / n, 2), round(100 * low, 2), round(100 * high, 2), reference_pct,
                      p_value, signal, reference_source, reference_n if reference_pct is not None else None)


def trial_p_value(k: int, n: int, p0: float, reference_n: int | None) -> float | None:
    if reference_n:
        events = round(p0 * reference_n)
        return float(fisher_exact([[k, n - k], [events, reference_n - events]], alternative="two-sided").pvalue)
    if not 0 < p0 < 1:
        return None  # a rate of 0% or 100% without its trial's size cannot be tested against
    return min(1.0, 2 * min(float(binom.cdf(k, n, p0)), float(binom.sf(k - 1, n, p0))))


def _signal(p_value: float | None, rate: float, p0: float) -> str:
    if p_value is None:
        return "no reference"
    if p_value >= ALPHA or rate == p0:
        return "consistent"
    return "higher" if rate > p0 else "lower"


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment, in the order given."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def adjust_for_multiplicity(rows: list[dict]) -> list[dict]:
    """p_adjusted (Holm over every comparison of the report with a p-value) and signal_adjusted on each."""
    tested = [(row, band) for row in rows for band in BANDS if band in row and row[band].p_value is not None]
    adjusted = dict(zip(((id(row), band) for row, band in tested), holm([row[band].p_value for row, band in tested])))
    result = []
    for row in rows:
        new = dict(row)
        for band in BANDS:
            if band in row:
                c: Comparison = row[band]
                p = adjusted.get((id(row), band))
                signal = c.signal if p is None else _signal(p, c.patients / c.exposed, c.reference_pct / 100)
                new[band] = replace(c, p_adjusted=p, signal_adjusted=signal)
        result.append(new)
    return result


def treatment_emergent(events: pd.DataFrame, patients: pd.DataFrame, doses: pd.DataFrame,
                       as_of: date) -> pd.DataFrame:
    """The events that count: treatment-emergent (in an exposure period or 30 days after its last dose day),
    not baseline, of patients who started by the analysis date."""
    periods = exposure.exposure_periods(patients, doses, as_of)
    candidates = events[~events["baseline"].astype(bool)]
    return candidates[exposure.in_periods(candidates["patient_id"], candidates["onset_date"], periods)]


def _full_source(reference_set: str, source: str) -> str:
    # Later rows of a set say "same (...)" for the set's first source.
    if source.startswith("same"):
        return references.citation(reference_set) + source[len("same"):]
    return source


def incidence_table(events: pd.DataFrame, patients: pd.DataFrame, doses: pd.DataFrame, as_of: date,
                    reference_set: str = references.DEFAULT_REFERENCE_SET,
                    overrides: dict[tuple[str, str], str] | None = None) -> tuple[int, list[dict]]:
    """(exposed patients, one row per term with 'any_grade' and 'grade_3_plus' Comparisons, and
    'grade_2_plus' where a reference gives that band), from every event row. `overrides` maps (term, band) to
    another reference set, e.g. SWISH's grade >= 2 stomatitis rate for patients on dexamethasone mouthwash."""
    periods = exposure.exposure_periods(patients, doses, as_of)
    deaths = events[events["death_date"].notna()].groupby("patient_id")["death_date"].min() \
        if "death_date" in events.columns else pd.Series(dtype=object)
    followed = exposure.follow_up(patients, periods, deaths, as_of)
    onsets = CohortOnsets(onsets_from_events(events, patients, periods), followed)
    if not onsets.exposed:
        return 0, []
    return onsets.exposed, comparison_rows(onsets, reference_set, overrides, set(events["term"]),
                                           median_follow_up_days=time_to_event.median_follow_up_days(followed))


ONSET_COLUMNS = {1: "first_onset", 2: "first_onset_grade_2", 3: "first_onset_grade_3"}


def onsets_from_events(events: pd.DataFrame, patients: pd.DataFrame,
                       periods: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per patient and term, the first onset at any grade, grade >= 2 and grade >= 3 among events that can be
    treatment-emergent (not baseline, onset on or after treatment start) and, given the exposure periods, are
    so. Without periods it is the summary the database keeps (models/store/summary.py), built from event rows."""
    columns = ["patient_id", "term", *ONSET_COLUMNS.values(), "worst_grade"]
    frame = events[~events["baseline"].astype(bool)].merge(
        patients[["id", "treatment_start"]], left_on="patient_id", right_on="id", suffixes=("", "_patient"))
    frame = frame[frame["onset_date"] >= frame["treatment_start"]]
    if periods is not None:
        frame = frame[exposure.in_periods(frame["patient_id"], frame["onset_date"], periods)]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    grouped = frame.groupby(["patient_id", "term"])
    result = grouped["onset_date"].min().rename("first_onset").to_frame()
    for grade in (2, 3):
        result[ONSET_COLUMNS[grade]] = frame[frame["grade"] >= grade].groupby(["patient_id", "term"])[
            "onset_date"].min()
    result["worst_grade"] = grouped["grade"].max()
    result = result.reset_index()
    for column in ONSET_COLUMNS.values():
        result[column] = result[column].astype(object).where(result[column].notna(), None)
    return result[columns]


def emergent_onsets(onsets: pd.DataFrame, periods: pd.DataFrame) -> pd.DataFrame:
    """The summary's first onsets kept only where they are treatment-emergent (others become missing). Exact
    for a patient with one exposure period; a patient with more needs onsets_from_events() over their events,
    for an onset between periods may be followed by one inside the next."""
    result = onsets.copy()
    for column in ONSET_COLUMNS.values():
        inside = exposure.in_periods(result["patient_id"], result[column], periods)
        result[column] = pd.to_datetime(result[column]).where(inside)
    return result[result["first_onset"].notna()]


class CohortOnsets:
    """Treatment-emergent first onsets of the exposed patients, and the counts a comparison needs: k patients
    with the event and n exposed, or, for a reference with a time window of W days, k with an onset within W
    days of the start among the n whose follow-up reaches W days or who had the event within W."""

    def __init__(self, onsets: pd.DataFrame, followed: pd.DataFrame):
        self.followed = followed[followed["exposed"].astype(bool)]
        self.exposed = len(self.followed)
        onsets = onsets[onsets["patient_id"].isin(self.followed.index)]
        starts = pd.to_datetime(onsets["patient_id"].map(self.followed["treatment_start"]))
        self._days = {grade: (pd.to_datetime(onsets[column]) - starts).dt.days
                      for grade, column in ONSET_COLUMNS.items()}
        self._onsets = onsets
        self._counts = {grade: onsets[days.notna()].groupby("term")["patient_id"].nunique()
                        for grade, days in self._days.items()}

    def observed_terms(self) -> list[str]:
        return sorted(t for t, count in self._counts[1].items() if count > 0)

    def count(self, term: str, min_grade: int, window_days: int | None = None) -> tuple[int, int]:
        if window_days is None:
            return int(self._counts[min_grade].get(term, 0)), self.exposed
        within, reached = self._window(term, min_grade, window_days)
        return len(within), len(reached | within)

    def not_yet_through(self, term: str, min_grade: int, window_days: int) -> int:
        """Patients counted in a window's n only because they had the event early: followed for less than the
        window so far. While there are such patients the windowed rate leans high."""
        within, reached = self._window(term, min_grade, window_days)
        return len(within - reached)

    def _window(self, term: str, min_grade: int, window_days: int) -> tuple[set, set]:
        days = self._days[min_grade]
        within = set(self._onsets.loc[(self._onsets["term"] == term) & (days <= window_days), "patient_id"])
        reached = set(self.followed.index[self.followed["follow_up_days"] >= window_days])
        return within, reached

    def first_onsets(self, term: str, min_grade: int) -> pd.Series:
        """Patient id -> days from the start to the first treatment-emergent onset of the term at that grade."""
        days = self._days[min_grade]
        hits = (self._onsets["term"] == term) & days.notna()
        return pd.Series(days[hits].astype(int).values, index=self._onsets.loc[hits, "patient_id"].astype(int).values)


def comparison_rows(onsets: CohortOnsets, reference_set: str, overrides: dict[tuple[str, str], str] | None = None,
                    recorded_terms: set[str] | None = None, *,
                    median_follow_up_days: float | None = None) -> list[dict]:
    """One row per term (the reference's terms and every term observed), each band a Comparison, adjusted for
    multiplicity. `recorded_terms`: the terms with any record in the database (None: every term)."""
    overrides = overrides or {}
    reference_terms = [r.ctcae_term for r in references.rates(reference_set)] + [t for t, _ in overrides]
    observed = onsets.observed_terms()
    ordered = [t for t in ctcae.ordered_terms() if t in set(reference_terms) | set(observed)]
    ordered += [t for t in observed if t not in ordered]
    rows = []
    for term in ordered:
        row = {"term": term}
        for band, (ref_band, min_grade) in BANDS.items():
            set_name = overrides.get((term, band), reference_set)
            reference = references.reference_rate(set_name, term)
            text = reference.text(ref_band) if reference is not None else ""
            if band == "grade_2_plus" and not text:
                continue  # shown only where a reference gives grade >= 2
            source = _full_source(set_name, reference.source) if reference is not None else None
            window = reference.window_days if reference is not None and text else None
            k, n = onsets.count(term, min_grade, window)
            pct = reference.pct(ref_band) if reference is not None else None
            recorded = recorded_terms is None or term in recorded_terms
            if n == 0:  # nobody followed through the reference's window yet: nothing can be compared
                comparison = Comparison(0, 0, 0.0, 0.0, 100.0, pct, None, "no reference" if recorded else "not recorded",
                                        source)
            else:
                comparison = compare(k, n, pct, source, reference_n=reference.arm_n if reference is not None else None,
                                     recorded=recorded)
            caveats = _caveats(reference, band)
            early = onsets.not_yet_through(term, min_grade, window) if window else 0
            if early:
                caveats += (f"{early} of the {n} patients are counted because they had the event before being "
                            f"followed for {reference.time_window}: until everyone has been, this rate leans high",)
            row[band] = replace(comparison, window_days=window, reference_text=text or None, caveats=caveats)
        rows.append(row)
    rows = adjust_for_multiplicity(rows)
    follow_up = _follow_up_caveat(reference_set, median_follow_up_days)
    for row in rows:
        for band in BANDS:
            c = row.get(band)
            if follow_up and c is not None and "lower" in (c.signal, c.signal_adjusted):
                row[band] = replace(c, caveats=c.caveats + (follow_up,))
    return rows


def _caveats(reference: references.ReferenceRate | None, band: str) -> tuple[str, ...]:
    """What the reader of one comparison needs: the reference row's own caveat, what its grade >= 3 figure
    includes, and its time window."""
    if reference is None:
        return ()
    notes = [reference.caveat] if reference.caveat else []
    if band == "grade_3_plus" and reference.text("grade_3_plus"):
        notes.append({"grade 3-4": "the reference's figure is grade 3 and 4 combined",
                      "grade 3": "the reference gives grade 3 only (no grade 4 figure)"}.get(
            reference.grade_3_plus_definition, "the source does not say whether its figure includes grade 4"))
    if reference.window_days:
        notes.append(f"the reference counts the first {reference.time_window} of treatment; so does this row "
                     f"(patients followed that long, or with the event earlier)")
    return tuple(notes)


def _follow_up_caveat(set_name: str, median_follow_up_days: float | None) -> str | None:
    """Beside a lower rate: a cohort followed for less time than the trial shows fewer late events."""
    if median_follow_up_days is None:
        return None
    facts = references.set_facts(set_name)
    trial = (f"{facts.median_follow_up_months:g} months ({facts.follow_up_status})"
             if facts.median_follow_up_months is not None else f"not known here ({facts.follow_up_status})")
    return (f"short follow-up can explain a lower rate: this cohort's median follow-up is "
            f"{median_follow_up_days / DAYS_PER_MONTH:.1f} months; the reference's is {trial}")


BANDS = {"any_grade": ("any", 1), "grade_2_plus": ("grade_2_plus", 2), "grade_3_plus": ("grade_3_plus", 3)}
BAND_LABELS = {"any_grade": "Any grade", "grade_2_plus": "Grade ≥ 2", "grade_3_plus": "Grade ≥ 3"}


def cohort_incidence(url: str | None = None, *, as_of: date,
                     reference_set: str = references.DEFAULT_REFERENCE_SET) -> tuple[int, list[dict]]:
    """incidence_table() over every row of the database (the app itself reads the onset summary)."""
    from models.store import queries

    return incidence_table(queries.adverse_events(url), queries.patients(url), queries.dose_events(url),
                           as_of, reference_set)


def long_frame(rows: list[dict]) -> pd.DataFrame:
    """One row per term and band, for tables, charts and CSV export."""
    records = []
    for row in rows:
        for band, label in BAND_LABELS.items():
            if band not in row:
                continue
            comparison: Comparison = row[band]
            records.append({"term": row["term"], "band": label, **asdict(comparison),
                            "caveats": "; ".join(comparison.caveats),
                            "reading": reading(row["term"], label, comparison)})
    columns = ["term", "band", "patients", "exposed", "pct", "ci_low_pct", "ci_high_pct", "reference_pct",
               "reference_text", "reference_n", "window_days", "p_value", "signal", "p_adjusted", "signal_adjusted",
               "reference_source", "caveats", "reading"]
    return pd.DataFrame(records, columns=columns)


def reading(term: str, band_label: str, comparison: Comparison) -> str:
    """Plain language, e.g. "Mucositis oral (any grade): 78% of 120 vs 56% in the reference: higher (Holm-adjusted
    p = 0.002; unadjusted p < 0.001)", then the caveats the row carries."""
    c = comparison
    window = f", first {c.window_days // 7} weeks" if c.window_days and c.window_days % 7 == 0 \
        else (f", first {c.window_days} days" if c.window_days else "")
    head = f"{term} ({band_label.lower()}{window}): {c.pct:.0f}% of {c.exposed}"
    published = c.reference_text or ("" if c.reference_pct is None else f"{c.reference_pct:g}")
    versus = f"{head} vs {published}% in the reference"
    if c.signal == "not recorded":
        text = f"{head}; no record of this term in the database: not compared"
    elif c.exposed == 0:
        text = f"{head}; nobody followed through the reference's window yet: not compared"
    elif c.reference_pct is None and c.reference_text:
        text = f"{versus}; published as a range or bound, so not compared as a number"
    elif c.reference_pct is None:
        text = f"{head}; no reference rate for this band"
    elif c.p_value is None:
        text = f"{versus}; not testable without the trial's size"
    elif c.p_adjusted is None:  # not adjusted (a single comparison on its own)
        text = f"{versus}: {c.signal} ({format_p(c.p_value)})"
    else:
        adjusted = f"Holm-adjusted {format_p(c.p_adjusted)}; unadjusted {format_p(c.p_value)}"
        if c.signal_adjusted != c.signal:
            text = (f"{versus}: {c.signal} before adjustment only (exploratory), {c.signal_adjusted} after "
                    f"({adjusted})")
        else:
            text = f"{versus}: {c.signal_adjusted} ({adjusted})"
    return text + "".join(f". Note: {caveat}" for caveat in c.caveats)


def format_p(p_value: float | None, signal: str | None = None) -> str:
    """A p-value as people read it; without one (None, or NaN in a table), a dash and why."""
    if p_value is None or pd.isna(p_value):
        why = {"not recorded": "term not recorded", "no reference": "no reference"}.get(signal or "", "not tested")
        return f"— ({why})"
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"
