"""The medication catalogue and the interaction classes, as data (seed_data/medications.csv,
seed_data/interaction_classes.csv), every row with its source and status.

A concomitant medication names a catalogue drug (by its name or a synonym, in any case) or is free text,
marked as such: free text belongs to no class, so no interaction rule sees it. A class says what the label
asks (its dose consequence) and what kind of finding the dosing audit makes of it: a deviation, a finding for
a pharmacist's review, or information.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from models.clinical.reference_data import SEED_DATA_DIR, ReferenceDataError, check_unique, read_csv
from models.clinical.vocabulary import MEDICATION_ROUTES

CATALOGUE_FILE = SEED_DATA_DIR / "medications.csv"
CLASSES_FILE = SEED_DATA_DIR / "interaction_classes.csv"
DEFINITIONS_FILE = SEED_DATA_DIR / "cohort_definitions.csv"
FINDINGS = ("deviation", "review", "information")
MOUTHWASH_CLASS = "stomatitis_prophylaxis"
STEROID_CLASS = "corticosteroid"
PJP_CLASS = "pjp_prophylaxis"


@dataclass(frozen=True)
class InteractionClass:
    name: str
    label: str
    rule: str | None            # the rule id of its audit finding (None: a class other rules use)
    finding: str | None         # deviation, review, information
    dose_mg: float | None       # the everolimus daily dose the label asks for while it is taken
    dose_up_to_mg: float | None  # the highest everolimus daily dose the label allows while it is taken
    washout_days: int | None    # days after it stops before everolimus may return to the dose before it
    return_by_days: int | None  # days after it stops by which everolimus is back to the dose before it
    dose_step_mg: float | None  # the steps in which the dose may rise to dose_up_to_mg while it is taken
    consequence: str
    source: str
    status: str


@dataclass(frozen=True)
class Drug:
    name: str
    synonyms: tuple[str, ...]
    classes: tuple[str, ...]
    patient_reported: bool      # a food or herbal product the patient reports, not a prescription
    route: str
    source: str
    status: str


def load_classes(path: str | Path | None = None) -> dict[str, InteractionClass]:
    path = path or CLASSES_FILE
    rows = read_csv(path, ["class", "label", "consequence", "source", "status"],
                    ["rule", "finding", "dose_mg", "dose_up_to_mg", "washout_days", "return_by_days",
                     "dose_step_mg"])
    check_unique(rows, lambda r: r.text("class"), "class")
    classes = {}
    for row in rows:
        rule, finding = row.text("rule", required=False) or None, row.text("finding", required=False) or None
        if (rule is None) != (finding is None):
            raise row.error("a rule needs its kind of finding, and a kind of finding its rule", "finding")
        if finding is not None and finding not in FINDINGS:
            raise row.error(f"{finding!r} is not one of {', '.join(FINDINGS)}", "finding")
        classes[row.text("class")] = InteractionClass(
            row.text("class"), row.text("label"), rule, finding, row.number("dose_mg", required=False, positive=True),
            row.number("dose_up_to_mg", required=False, positive=True),
            row.integer("washout_days", required=False, minimum=0),
            row.integer("return_by_days", required=False, minimum=0),
            row.number("dose_step_mg", required=False, positive=True), row.text("consequence"), row.text("source"),
            row.text("status"))
    check_unique([r for r in rows if r.text("rule", required=False)], lambda r: r.text("rule"), "rule")
    for needed in (MOUTHWASH_CLASS, STEROID_CLASS, PJP_CLASS):
        if needed not in classes:
            raise ReferenceDataError(path, None, f"no row for class {needed}")
    return classes


def load_catalogue(path: str | Path | None = None, classes: dict | None = None) -> dict[str, Drug]:
    """Drugs by case-folded name and synonym."""
    path = path or CATALOGUE_FILE
    classes = classes if classes is not None else interaction_classes()
    rows = read_csv(path, ["drug", "classes", "patient_reported", "route", "source", "status"], ["synonyms"])
    by_name: dict[str, Drug] = {}
    for row in rows:
        names = [n.strip() for n in row.text("classes").split(";") if n.strip()]
        unknown = [n for n in names if n not in classes]
        if unknown:
            raise row.error(f"unknown class(es): {', '.join(unknown)}", "classes")
        drug = Drug(row.text("drug"), tuple(s.strip() for s in row.text("synonyms", required=False).split(";")
                                             if s.strip()), tuple(names),
                    row.choice("patient_reported", ("yes", "no")) == "yes", row.choice("route", MEDICATION_ROUTES),
                    row.text("source"), row.text("status"))
        for key in (drug.name, *drug.synonyms):
            if key.casefold() in by_name:
                raise row.error(f"{key!r} already names {by_name[key.casefold()].name}", "drug")
            by_name[key.casefold()] = drug
    return by_name


def load_definitions(path: str | Path | None = None) -> dict[str, float]:
    path = path or DEFINITIONS_FILE
    rows = read_csv(path, ["name", "value", "unit", "description", "source", "status"])
    check_unique(rows, lambda r: r.text("name"), "name")
    return {row.text("name"): row.number("value", minimum=0) for row in rows}


@lru_cache(maxsize=1)
def interaction_classes() -> dict[str, InteractionClass]:
    return load_classes()


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Drug]:
    return load_catalogue()


@lru_cache(maxsize=1)
def definitions() -> dict[str, float]:
    return load_definitions()


def mouthwash_window_days() -> int:
    return int(definitions()["mouthwash_started_within_days"])


def catalogue_drugs() -> list[Drug]:
    """Each catalogue drug once, in the file's order."""
    seen: dict[str, Drug] = {}
    for drug in catalogue().values():
        seen.setdefault(drug.name, drug)
    return list(seen.values())


def find(drug: str) -> Drug | None:
    """The catalogue drug a name or synonym names (case and surrounding spaces ignored), else None."""
    return catalogue().get(" ".join(drug.split()).casefold()) if drug else None


def classes_of(drug: str) -> tuple[str, ...]:
    found = find(drug)
    return found.classes if found is not None else ()


def class_label(name: str) -> str:
    return interaction_classes()[name].label


def doses_allowed_with(drugs: list[str], planned_dose_mg: float) -> tuple[float, ...]:
    """Daily doses the label asks for or allows while these drugs are taken, whatever the clinic's step list:
    a moderate inhibitor's 2.5 and 5 mg, a strong inducer's steps above the planned dose up to 20 mg."""
    doses: set[float] = set()
    for drug in drugs:
        for name in classes_of(drug):
            klass = interaction_classes()[name]
            if klass.dose_mg is not None:
                doses |= {klass.dose_mg, klass.dose_up_to_mg or klass.dose_mg}
            elif klass.dose_up_to_mg is not None and klass.dose_step_mg:
                level = planned_dose_mg + klass.dose_step_mg
                while level <= klass.dose_up_to_mg + 1e-9:
                    doses.add(round(level, 2))
                    level += klass.dose_step_mg
    return tuple(sorted(doses))


def mouthwash_drugs() -> list[str]:
    """The catalogue names of the stomatitis prophylaxis (the dexamethasone mouthwash)."""
    return [drug.name for drug in catalogue_drugs() if MOUTHWASH_CLASS in drug.classes]


def mouthwash_from_start(patients: pd.DataFrame, medications: pd.DataFrame) -> pd.Series:
    """Per patient id: True when a dexamethasone mouthwash record starts no later than the window
    (seed_data/cohort_definitions.csv) after the everolimus start and had not stopped before the start."""
    result = pd.Series(False, index=pd.Index(patients["id"], name="id"), dtype=bool)
    if medications.empty or patients.empty:
        return result
    rinses = medications[medications["drug"].isin(mouthwash_drugs()) & medications["in_catalogue"].astype(bool)]
    starts = rinses["patient_id"].map(patients.set_index("id")["treatment_start"])
    window = pd.Timedelta(days=mouthwash_window_days())
    start_dates, stops = pd.to_datetime(starts), pd.to_datetime(rinses["stop_date"])
    in_use = (pd.to_datetime(rinses["start_date"]) <= start_dates + window) & (stops.isna() | (stops >= start_dates))
    given = set(rinses.loc[in_use & starts.notna(), "patient_id"])
    return pd.Series(result.index.isin(given), index=result.index)
