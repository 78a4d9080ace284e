"""models.analysis.cohort filters on hand-made patients (each filter at its boundaries) and models.analysis.incidence's
grade >= 2 band with reference overrides (SWISH for patients on dexamethasone mouthwash).

DataFrames have the columns models.store.queries returns (dates as datetime.date objects in object columns).
"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from models.analysis import incidence
from models.analysis.cohort import SWISH_SET, CohortFilter, apply_filter, starting_doses
from models.clinical import medications, references
from tests.support.frames import PATIENT_COLUMNS, doses_frame

AS_OF = date(2025, 12, 31)
START = date(2025, 1, 1)
INTERIM = "bolero2_interim_2012"

EVENT_COLUMNS = ["id", "patient_id", "mrn", "term", "grade", "onset_date", "resolved_date", "death_date",
                 "serious", "attribution", "action_taken", "source", "baseline", "created_by", "created_at"]


def patient(pid: int, *, start: date = START, birth: date | None = date(1960, 1, 1), planned: float = 10.0,
            prophylaxis: bool | None = None) -> dict:
    """prophylaxis: True = a dexamethasone mouthwash record from the start (see rinses())."""
    return {"id": pid, "mrn": f"MRN{pid:03d}", "name": f"Patient {pid}", "birth_date": birth,
            "treatment_start": start, "planned_dose_mg": planned, "status": "on_treatment",
            "mouthwash": prophylaxis}


def patients_frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=[*PATIENT_COLUMNS, "mouthwash"])


def rinses(patients: pd.DataFrame, *, started_after_days: int = 0, stopped_before_days: int | None = None,
           drug: str = "Dexamethasone mouthwash") -> pd.DataFrame:
    """A mouthwash record (as queries.medications returns it) for every patient whose `mouthwash` is True."""
    rows = [{"id": i, "version": 1, "patient_id": p.id, "mrn": p.mrn, "drug": drug,
             "in_catalogue": medications.find(drug) is not None, "dose": "10 mL 4 times daily", "route": "oral_rinse",
             "start_date": p.treatment_start + timedelta(days=started_after_days),
             "stop_date": None if stopped_before_days is None else p.treatment_start - timedelta(days=stopped_before_days),
             "indication": None, "adverse_event_id": None, "notes": None}
            for i, p in enumerate(patients.itertuples(), 1) if p.mouthwash is True]
    return pd.DataFrame(rows, columns=["id", "version", "patient_id", "mrn", "drug", "in_catalogue", "dose", "route",
                                       "start_date", "stop_date", "indication", "adverse_event_id", "notes"])


def events_frame(*events: tuple) -> pd.DataFrame:
    """events: (patient_id, term, grade, onset_date)."""
    rows = [{"id": i, "patient_id": pid, "mrn": f"MRN{pid:03d}", "term": term, "grade": grade,
             "onset_date": onset, "resolved_date": None, "death_date": None, "serious": False,
             "attribution": "possible", "action_taken": None, "source": "reported", "baseline": False,
             "created_by": "test", "created_at": None} for i, (pid, term, grade, onset) in enumerate(events, 1)]
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


NO_DOSES = doses_frame()


def kept(patients: pd.DataFrame, chosen: CohortFilter, doses: pd.DataFrame = NO_DOSES,
         meds: pd.DataFrame | None = None) -> list[int]:
    mouthwash = medications.mouthwash_from_start(patients, rinses(patients) if meds is None else meds)
    return sorted(int(i) for i in apply_filter(patients, doses, chosen, mouthwash)["id"])


# ---------------------------------------------------------------- treatment start window

WINDOW = patients_frame(patient(1, start=date(2025, 2, 28)), patient(2, start=date(2025, 3, 1)),
                        patient(3, start=date(2025, 3, 31)), patient(4, start=date(2025, 4, 1)))


def test_no_filter_keeps_everyone():
    assert kept(WINDOW, CohortFilter()) == [1, 2, 3, 4]
    assert CohortFilter().describe() == "all patients"


def test_start_window_is_inclusive_at_both_ends():
    chosen = CohortFilter(start_from=date(2025, 3, 1), start_to=date(2025, 3, 31))
    assert kept(WINDOW, chosen) == [2, 3]
    assert chosen.describe() == "treatment start 2025-03-01 to 2025-03-31"


def test_start_window_open_at_one_end():
    assert kept(WINDOW, CohortFilter(start_from=date(2025, 3, 31))) == [3, 4]
    assert kept(WINDOW, CohortFilter(start_to=date(2025, 3, 1))) == [1, 2]
    assert kept(WINDOW, CohortFilter(start_from=date(2025, 4, 2))) == []


def test_a_one_day_window():
    assert kept(WINDOW, CohortFilter(start_from=date(2025, 3, 31), start_to=date(2025, 3, 31))) == [3]


# ---------------------------------------------------------------- age at treatment start

AGES = patients_frame(
    patient(1, birth=date(1960, 6, 15), start=date(2025, 6, 15)),   # 65th birthday on the start day: 65
    patient(2, birth=date(1960, 6, 15), start=date(2025, 6, 14)),   # the day before: still 64
    patient(3, birth=date(1964, 2, 29), start=date(2029, 2, 28)),   # leap-day birth, not yet 65: 64
    patient(4, birth=date(1964, 2, 29), start=date(2029, 3, 1)),    # 65
    patient(5, birth=None, start=date(2025, 6, 15)),                 # birth date not recorded
    patient(6, birth=date(1975, 6, 16), start=date(2025, 6, 15)),   # 49 (50 tomorrow)
    patient(7, birth=date(1950, 1, 1), start=date(2025, 1, 1)),     # 75 on the day
)


def test_age_is_whole_years_at_treatment_start_with_the_birthday_edge():
    assert kept(AGES, CohortFilter(age_min=65, age_max=65)) == [1, 4]
    assert kept(AGES, CohortFilter(age_min=64, age_max=64)) == [2, 3]


def test_age_bands_as_the_page_offers_them():
    assert kept(AGES, CohortFilter(age_max=49)) == [6]                # Under 50
    assert kept(AGES, CohortFilter(age_min=50, age_max=64)) == [2, 3]  # 50-64
    assert kept(AGES, CohortFilter(age_min=65, age_max=74)) == [1, 4]  # 65-74
    assert kept(AGES, CohortFilter(age_min=75)) == [7]                 # 75 and over
    assert CohortFilter(age_min=65, age_max=74).describe() == "age 65-74"
    assert CohortFilter(age_min=75).describe() == "age 75-…"


def test_unknown_birth_date_is_excluded_only_when_an_age_filter_is_set():
    assert 5 not in kept(AGES, CohortFilter(age_min=0))
    assert 5 not in kept(AGES, CohortFilter(age_max=200))
    assert 5 in kept(AGES, CohortFilter())


# ---------------------------------------------------------------- starting dose

DOSE_PATIENTS = patients_frame(patient(1), patient(2), patient(3, planned=5.0), patient(4), patient(5))
DOSES = doses_frame(
    (1, START, "start", 7.5),                         # started below the planned 10 mg
    (2, START, "start", 10.0), (2, date(2025, 2, 1), "reduce", 5.0),   # reduced later: started on 10
    (4, date(2025, 1, 5), "start", 5.0), (4, START, "start", 2.5),     # two start records: the earlier
    (5, date(2025, 1, 5), "hold", 0.0),               # no start record: the planned dose (10)
)                                                      # 3: no dose record at all: planned 5


def test_starting_dose_from_the_first_start_record_else_the_planned_dose():
    doses = starting_doses(DOSE_PATIENTS, DOSES)
    assert doses.to_dict() == {1: 7.5, 2: 10.0, 3: 5.0, 4: 2.5, 5: 10.0}


def test_same_day_start_records_are_ordered_by_id():
    doses = doses_frame((1, START, "start", 5.0), (1, START, "start", 10.0))
    assert starting_doses(patients_frame(patient(1)), doses).to_dict() == {1: 5.0}


def test_starting_dose_filter():
    assert kept(DOSE_PATIENTS, CohortFilter(starting_dose_mg=10.0), DOSES) == [2, 5]
    assert kept(DOSE_PATIENTS, CohortFilter(starting_dose_mg=7.5), DOSES) == [1]
    assert kept(DOSE_PATIENTS, CohortFilter(starting_dose_mg=5.0), DOSES) == [3]
    assert kept(DOSE_PATIENTS, CohortFilter(starting_dose_mg=2.5), DOSES) == [4]
    assert kept(DOSE_PATIENTS, CohortFilter(starting_dose_mg=20.0), DOSES) == []
    assert CohortFilter(starting_dose_mg=7.5).describe() == "starting dose 7.5 mg"


# ---------------------------------------------------------------- stomatitis prophylaxis

PROPHYLAXIS = patients_frame(patient(1, prophylaxis=True), patient(2, prophylaxis=False),
                             patient(3, prophylaxis=None), patient(4, prophylaxis=True))


def test_prophylaxis_comes_from_the_mouthwash_records():
    assert kept(PROPHYLAXIS, CohortFilter(prophylaxis=True)) == [1, 4]
    assert kept(PROPHYLAXIS, CohortFilter(prophylaxis=False)) == [2, 3]  # "no" and nothing recorded alike
    assert kept(PROPHYLAXIS, CohortFilter(prophylaxis=None)) == [1, 2, 3, 4]
    assert CohortFilter(prophylaxis=True).describe() == "dexamethasone mouthwash from the start"
    assert CohortFilter(prophylaxis=False).describe() == "no dexamethasone mouthwash recorded from the start"


@pytest.mark.parametrize("after, stopped_before, counted", [
    (0, None, True), (7, None, True), (8, None, False),   # started within 7 days of the everolimus start
    (-30, None, True), (-30, 1, False), (-30, 0, True),   # started before: still in use on the start day
])
def test_the_mouthwash_counts_when_started_within_the_window(after, stopped_before, counted):
    assert medications.mouthwash_window_days() == 7
    meds = rinses(PROPHYLAXIS, started_after_days=after, stopped_before_days=stopped_before)
    assert kept(PROPHYLAXIS, CohortFilter(prophylaxis=True), meds=meds) == ([1, 4] if counted else [])


def test_a_free_text_rinse_or_another_drug_is_not_the_mouthwash():
    for drug in ("dexamethasone swish (own recipe)", "Prednisone"):
        assert kept(PROPHYLAXIS, CohortFilter(prophylaxis=True), meds=rinses(PROPHYLAXIS, drug=drug)) == []


def test_the_prophylaxis_filter_needs_the_mouthwash_records():
    with pytest.raises(ValueError, match="mouthwash"):
        apply_filter(PROPHYLAXIS, NO_DOSES, CohortFilter(prophylaxis=True))


def test_filters_combine_with_and():
    patients = patients_frame(
        patient(1, start=date(2025, 3, 1), birth=date(1955, 1, 1), prophylaxis=True),
        patient(2, start=date(2025, 3, 1), birth=date(1955, 1, 1), prophylaxis=False),
        patient(3, start=date(2025, 5, 1), birth=date(1955, 1, 1), prophylaxis=True),
        patient(4, start=date(2025, 3, 1), birth=date(1985, 1, 1), prophylaxis=True),
        patient(5, start=date(2025, 3, 1), birth=date(1955, 1, 1), prophylaxis=True, planned=5.0),
    )
    chosen = CohortFilter(start_from=date(2025, 2, 1), start_to=date(2025, 4, 1), age_min=65, age_max=74,
                          starting_dose_mg=10.0, prophylaxis=True)
    assert kept(patients, chosen) == [1]
    assert chosen.describe() == ("treatment start 2025-02-01 to 2025-04-01; age 65-74; starting dose 10 mg; "
                                 "dexamethasone mouthwash from the start")


def test_filters_on_no_patients_give_no_patients():
    empty = patients_frame()
    for chosen in (CohortFilter(age_min=50), CohortFilter(starting_dose_mg=10.0), CohortFilter(prophylaxis=True),
                   CohortFilter(start_from=START)):
        assert kept(empty, chosen) == []


# ---------------------------------------------------------------- grade >= 2 band and overrides

def mouthwash_cohort():
    """10 patients on mouthwash; stomatitis worst grades 1, 1, 2 (two records), 3; fatigue grade 2."""
    patients = patients_frame(*[patient(i, prophylaxis=True) for i in range(1, 11)])
    events = events_frame((1, "Mucositis oral", 1, date(2025, 1, 10)),
                          (2, "Mucositis oral", 1, date(2025, 1, 12)),
                          (3, "Mucositis oral", 1, date(2025, 1, 8)), (3, "Mucositis oral", 2, date(2025, 1, 9)),
                          (4, "Mucositis oral", 3, date(2025, 1, 20)),
                          (5, "Fatigue", 2, date(2025, 2, 1)))
    doses = doses_frame(*[(i, START, "start", 10.0) for i in range(1, 11)])
    return events, patients, doses


def row_of(rows: list[dict], term: str) -> dict:
    matches = [r for r in rows if r["term"] == term]
    assert len(matches) == 1, f"{term!r} appears {len(matches)} times"
    return matches[0]


def test_swish_override_adds_a_grade_2_plus_comparison_for_mucositis_oral():
    assert SWISH_SET == "swish_2017"
    assert references.rate(SWISH_SET, "Mucositis oral", "grade_2_plus") == 2.4
    overrides = {("Mucositis oral", "grade_2_plus"): SWISH_SET}
    n, rows = incidence.incidence_table(*mouthwash_cohort(), AS_OF, INTERIM, overrides)
    assert n == 10
    mucositis = row_of(rows, "Mucositis oral")
    g2 = mucositis["grade_2_plus"]
    assert (g2.patients, g2.exposed, g2.pct) == (2, 10, 20.0)   # worst grades 2 and 3
    assert g2.reference_pct == 2.4
    assert g2.reference_source.startswith("SWISH (Rugo et al., Lancet Oncol 2017")
    assert "Rugo" in g2.reference_source and "Lancet Oncol 2017" in g2.reference_source
    assert g2.ci_low_pct > 2.4                                  # CI 2.5-55.6% lies above 2.4% ...
    # ... but SWISH's 2.4% is 2 of 85 patients: against that, 2 of 10 is p = 0.054 (Fisher), not a signal
    assert g2.reference_n == 85 and g2.p_value == pytest.approx(0.0537, abs=1e-4)
    assert g2.signal == "consistent"
    # The other bands of the row keep the chosen set (BOLERO-2: 56% any grade, 8% grade >= 3).
    assert mucositis["any_grade"].reference_pct == 56 and mucositis["any_grade"].patients == 4
    assert mucositis["grade_3_plus"].reference_pct == 8 and mucositis["grade_3_plus"].patients == 1
    assert not mucositis["any_grade"].reference_source.startswith("SWISH")
    # Other terms get no grade >= 2 band: BOLERO-2's interim set has no grade >= 2 figures.
    assert all("grade_2_plus" not in row for row in rows if row["term"] != "Mucositis oral")


def test_grade_2_plus_row_in_the_long_frame():
    overrides = {("Mucositis oral", "grade_2_plus"): SWISH_SET}
    _, rows = incidence.incidence_table(*mouthwash_cohort(), AS_OF, INTERIM, overrides)
    frame = incidence.long_frame(rows)
    mucositis = frame[frame["term"] == "Mucositis oral"]
    assert list(mucositis["band"]) == ["Any grade", "Grade ≥ 2", "Grade ≥ 3"]
    g2 = mucositis[mucositis["band"] == "Grade ≥ 2"].iloc[0]
    assert g2["reference_pct"] == 2.4 and g2["reading"].startswith("Mucositis oral (grade ≥ 2, first 8 weeks): 20% of 10")
    assert set(frame[frame["term"] != "Mucositis oral"]["band"]) <= {"Any grade", "Grade ≥ 3"}


def test_a_set_without_grade_2_plus_figures_has_no_grade_2_plus_key():
    assert all(r.grade_2_plus_pct is None for r in references.rates(INTERIM))
    _, rows = incidence.incidence_table(*mouthwash_cohort(), AS_OF, INTERIM)
    assert rows and all("grade_2_plus" not in row for row in rows)
    assert all({"any_grade", "grade_3_plus"} <= set(row) for row in rows)
    assert "Grade ≥ 2" not in set(incidence.long_frame(rows)["band"])


def test_a_set_with_grade_2_plus_figures_gets_the_band_without_an_override():
    grouped = "bolero2_grouped_stomatitis"
    assert references.rate(grouped, "Mucositis oral", "grade_2_plus") == 33
    _, rows = incidence.incidence_table(*mouthwash_cohort(), AS_OF, grouped)
    g2 = row_of(rows, "Mucositis oral")["grade_2_plus"]
    assert (g2.patients, g2.reference_pct) == (2, 33)
    assert not g2.reference_source.startswith(grouped + ":"), "no set prefix when it is the chosen set"
    assert "grade_2_plus" not in row_of(rows, "Fatigue")


def test_override_for_a_term_the_chosen_set_lacks_still_adds_its_row():
    # SWISH has only Mucositis oral: overriding it onto a set without that term still lists the term.
    _, rows = incidence.incidence_table(events_frame(), patients_frame(patient(1)), doses_frame(), AS_OF,
                                        "ballet", {("Mucositis oral", "grade_2_plus"): SWISH_SET})
    mucositis = row_of(rows, "Mucositis oral")
    assert mucositis["grade_2_plus"].reference_pct == 2.4 and mucositis["grade_2_plus"].patients == 0
    assert mucositis["any_grade"].signal == "not recorded"  # no event of any term in this database


@pytest.mark.parametrize("band", ["any_grade", "grade_3_plus"])
def test_overriding_another_band_uses_that_sets_figure(band):
    overrides = {("Mucositis oral", band): SWISH_SET}
    _, rows = incidence.incidence_table(*mouthwash_cohort(), AS_OF, INTERIM, overrides)
    comparison = row_of(rows, "Mucositis oral")[band]
    assert comparison.reference_pct == {"any_grade": 21, "grade_3_plus": 0}[band]
    assert comparison.reference_source.startswith("SWISH (Rugo et al., Lancet Oncol 2017")
