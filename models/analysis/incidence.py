"""Cohort incidence of each CTCAE term, with exact confidence intervals, compared with a reference rate.

Definitions (DESIGN.md): exposed = treatment start on or before the analysis date; treatment-emergent =
onset on or after treatment start, on or before the analysis date and no later than 30 days after
discontinuation, not baseline, not entered in error. Worst grade per patient.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta

import pandas as pd
from scipy.stats import beta, binom, fisher_exact

from models.analysis.time_to_event import first_discontinuations
from models.clinical import ctcae, references
from models.clinical.definitions import FOLLOW_UP_AFTER_STOP_DAYS

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
    """The events that count: treatment-emergent, active, of exposed patients."""
    exposed = patients[patients["treatment_start"] <= as_of][["id", "treatment_start"]]
    stops = first_discontinuations(doses, as_of).rename("stopped_on")
    frame = events[~events["baseline"].astype(bool)].merge(exposed, left_on="patient_id", right_on="id",
                                                            suffixes=("", "_patient"))
    frame = frame.merge(stops, left_on="patient_id", right_index=True, how="left")
    last_day = frame["stopped_on"].map(lambda stop: _last_counted_day(stop, as_of))
    return frame[(frame["onset_date"] >= frame["treatment_start"]) & (frame["onset_date"] <= last_day)]


def _full_source(reference_set: str, source: str) -> str:
    # Later rows of a set say "same (...)" for the set's first source.
    if source.startswith("same"):
        return references.citation(reference_set) + source[len("same"):]
    return source


def _last_counted_day(stopped_on, as_of: date) -> date:
    if stopped_on is None or not isinstance(stopped_on, date):
        return as_of
    return min(as_of, stopped_on + timedelta(days=FOLLOW_UP_AFTER_STOP_DAYS))


def incidence_table(events: pd.DataFrame, patients: pd.DataFrame, doses: pd.DataFrame, as_of: date,
                    reference_set: str = references.DEFAULT_REFERENCE_SET,
                    overrides: dict[tuple[str, str], str] | None = None) -> tuple[int, list[dict]]:
    """(exposed patients, one row per term with 'any_grade' and 'grade_3_plus' Comparisons, and
    'grade_2_plus' where a reference gives that band). `overrides` maps (term, band) to another reference
    set, e.g. SWISH's grade >= 2 stomatitis rate for patients on dexamethasone mouthwash."""
    stops = first_discontinuations(doses, as_of)
    return incidence_from_onsets(onsets_from_events(events, patients), patients, stops, as_of, reference_set,
                                 overrides, recorded_terms=set(events["term"]))


ONSET_COLUMNS = {1: "first_onset", 2: "first_onset_grade_2", 3: "first_onset_grade_3"}


def onsets_from_events(events: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    """Per patient and term, the first onset at any grade, grade >= 2 and grade >= 3 among events that can
    be treatment-emergent (not baseline, onset on or after treatment start). The database keeps the same
    summary up to date (models/store/summary.py); this builds it from event rows."""
    columns = ["patient_id", "term", *ONSET_COLUMNS.values(), "worst_grade"]
    frame = events[~events["baseline"].astype(bool)].merge(
        patients[["id", "treatment_start"]], left_on="patient_id", right_on="id", suffixes=("", "_patient"))
    frame = frame[frame["onset_date"] >= frame["treatment_start"]]
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


def incidence_from_onsets(onsets: pd.DataFrame, patients: pd.DataFrame, stops: pd.Series, as_of: date,
                          reference_set: str = references.DEFAULT_REFERENCE_SET,
                          overrides: dict[tuple[str, str], str] | None = None, *,
                          recorded_terms: set[str] | None = None) -> tuple[int, list[dict]]:
    """The incidence table from the onset summary: a patient counts for a band when their first onset at
    that grade falls on or before their last counted day (analysis date, or 30 days after stopping)."""
    exposed = patients[patients["treatment_start"] <= as_of]
    n = len(exposed)
    if n == 0:
        return 0, []
    last_day = pd.to_datetime(exposed["id"].map(
        lambda pid: _last_counted_day(stops.get(pid), as_of)).set_axis(exposed["id"].astype(int)))
    onsets = onsets[onsets["patient_id"].isin(last_day.index)]
    limit = onsets["patient_id"].map(last_day)
    counted = {grade: onsets[pd.to_datetime(onsets[column]) <= limit] for grade, column in ONSET_COLUMNS.items()}
    per_term = {grade: frame.groupby("term")["patient_id"].nunique() for grade, frame in counted.items()}
    return n, comparison_rows(n, per_term, reference_set, overrides, recorded_terms)


def comparison_rows(n: int, per_term: dict[int, pd.Series], reference_set: str,
                    overrides: dict[tuple[str, str], str] | None = None,
                    recorded_terms: set[str] | None = None) -> list[dict]:
    """One row per term from patient counts per term at grade >= 1, 2, 3 (per_term[grade][term]), adjusted for
    multiplicity. `recorded_terms`: the terms with any record in the database (None: every term)."""
    overrides = overrides or {}
    reference_terms = [r.ctcae_term for r in references.rates(reference_set)] + [t for t, _ in overrides]
    observed = sorted(t for t, count in per_term[1].items() if count > 0)
    ordered = [t for t in ctcae.ordered_terms() if t in set(reference_terms) | set(observed)]
    ordered += [t for t in observed if t not in ordered]
    rows = []
    for term in ordered:
        row = {"term": term}
        for band, (ref_band, min_grade) in BANDS.items():
            set_name = overrides.get((term, band), reference_set)
            reference = references.reference_rate(set_name, term)
            pct = references.rate(set_name, term, ref_band)
            if band == "grade_2_plus" and pct is None:
                continue  # shown only where a reference gives grade >= 2
            source = _full_source(set_name, reference.source) if reference is not None else None
            if source and set_name != reference_set:
                source = f"{set_name}: {source}"
            row[band] = compare(int(per_term[min_grade].get(term, 0)), n, pct, source,
                                reference_n=reference.arm_n if reference is not None else None,
                                recorded=recorded_terms is None or term in recorded_terms)
        rows.append(row)
    return adjust_for_multiplicity(rows)


BANDS = {"any_grade": ("any", 1), "grade_2_plus": ("grade_2_plus", 2), "grade_3_plus": ("grade_3_plus", 3)}
BAND_LABELS = {"any_grade": "Any grade", "grade_2_plus": "Grade >= 2", "grade_3_plus": "Grade >= 3"}


def cohort_incidence(url: str | None = None, *, as_of: date,
                     reference_set: str = references.DEFAULT_REFERENCE_SET) -> tuple[int, list[dict]]:
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
                            "reading": reading(row["term"], label, comparison)})
    columns = ["term", "band", "patients", "exposed", "pct", "ci_low_pct", "ci_high_pct", "reference_pct",
               "reference_n", "p_value", "signal", "p_adjusted", "signal_adjusted", "reference_source", "reading"]
    return pd.DataFrame(records, columns=columns)


def reading(term: str, band_label: str, comparison: Comparison) -> str:
    """Plain language, e.g. "Mucositis oral (any grade): 78% of 120 vs 56% in the reference: higher after
    adjustment for 14 comparisons (Holm p = 0.002; unadjusted p < 0.001)"."""
    head = f"{term} ({band_label.lower()}): {comparison.pct:.0f}% of {comparison.exposed}"
    if comparison.signal == "not recorded":
        return f"{head}; no record of this term in the database: not compared"
    if comparison.reference_pct is None:
        return f"{head}; no reference rate for this band"
    if comparison.p_value is None:
        return f"{head} vs {comparison.reference_pct:g}% in the reference; not testable without the trial's size"
    adjusted = f"Holm-adjusted {format_p(comparison.p_adjusted)}; unadjusted {format_p(comparison.p_value)}"
    if comparison.signal_adjusted != comparison.signal:
        return (f"{head} vs {comparison.reference_pct:g}% in the reference: {comparison.signal} before adjustment "
                f"only (exploratory), {comparison.signal_adjusted} after ({adjusted})")
    return f"{head} vs {comparison.reference_pct:g}% in the reference: {comparison.signal_adjusted} ({adjusted})"


def format_p(p_value: float | None, signal: str | None = None) -> str:
    """A p-value as people read it; without one (None, or NaN in a table), a dash and why."""
    if p_value is None or pd.isna(p_value):
        why = {"not recorded": "term not recorded", "no reference": "no reference"}.get(signal or "", "not tested")
        return f"— ({why})"
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"
