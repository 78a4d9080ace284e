"""What ToxWatch already holds of the lab results a FHIR import brings: the patient's MRN as registered, and
results recorded already (or twice in the file), which are not recorded again."""
from __future__ import annotations

from sqlalchemy import func, select

from models.clinical import ctcae
from models.clinical.vocabulary import LAB_TEST_LABELS
from models.exchange import codes
from models.store.db import read_session
from models.store.tables import LabResult, Patient


def some(labels: list[str]) -> str:
    """At most five of them, and how many more."""
    return ", ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")


def standard_value(test: str, value: float, unit: str | None) -> tuple[float, str]:
    """The value in the test's default unit where seed_data/lab_unit_conversions.csv converts it, so that one
    result recorded in g/L and sent again in g/dL is seen as the same."""
    factor = codes.standard_factor(test, unit)
    if factor is not None:
        return round(value * factor, 6), ctcae.default_unit(test)
    return round(value, 6), (unit or "").casefold()


def registered_mrn(mrn: str, url: str | None = None) -> str | None:
    """The MRN as ToxWatch has it registered (MRNs are one whatever their case), or None."""
    with read_session(url) as session:
        return session.scalar(select(Patient.mrn).where(func.lower(Patient.mrn) == mrn.strip().lower(),
                                                        Patient.record_status == "active"))


def describe(lab) -> str:
    unit = f" {lab.unit}" if lab.unit else ""
    return f"{LAB_TEST_LABELS[lab.test]} {lab.value:g}{unit} on {lab.collected_on} (MRN {lab.mrn})"


def without_duplicates(labs: list, report, url: str | None) -> list:
    """Results already recorded, or twice in the Bundle, are not imported again; an amended or corrected result
    whose day already holds another value of the test is refused (the earlier value must be marked entered in
    error first). The write path refuses a duplicate too (record_checks), should two imports run at once."""
    mrns = {lab.mrn for lab in labs}
    with read_session(url) as session:
        rows = session.exec(
            select(LabResult.test, LabResult.value, LabResult.unit, LabResult.collected_on, Patient.mrn)
            .join(Patient, Patient.id == LabResult.patient_id)
            .where(LabResult.record_status == "active", Patient.mrn.in_(mrns))).all()
        starts = dict(session.exec(select(Patient.mrn, Patient.treatment_start).where(Patient.mrn.in_(mrns))).all())
    recorded = {(mrn, test, day, standard_value(test, value, unit)) for test, value, unit, day, mrn in rows}
    by_day: dict[tuple, list[str]] = {}
    for test, value, unit, day, mrn in rows:
        by_day.setdefault((mrn, test, day), []).append(f"{value:g} {unit or ''}".strip())
    kept, again, twice, in_file = [], [], [], set()
    for lab in labs:
        identity = (lab.mrn, lab.test, lab.collected_on, standard_value(lab.test, lab.value, lab.unit))
        if identity in recorded:
            again.append(describe(lab))
            continue
        if identity in in_file:
            twice.append(f"{lab.label}: {describe(lab)}")
            continue
        if lab.revised and (lab.mrn, lab.test, lab.collected_on) in by_day:
            report.problems.append(
                f"{lab.label}: status: an amended result, but ToxWatch already holds "
                f"{', '.join(by_day[(lab.mrn, lab.test, lab.collected_on)])} for {LAB_TEST_LABELS[lab.test]} on "
                f"{lab.collected_on} for MRN {lab.mrn}; mark that result entered in error on the patient's page, "
                "then import again.")
            continue
        in_file.add(identity)
        kept.append(lab)
    if again:
        report.notes.append(f"{len(again)} already recorded in ToxWatch, not recorded again: {some(again)}.")
    if twice:
        report.notes.append(f"{len(twice)} appear more than once in the file, recorded once: {some(twice)}.")
    before = [lab for lab in kept if lab.mrn in starts and lab.collected_on < starts[lab.mrn]]
    if before:
        report.notes.append(f"{len(before)} from before the treatment start, recorded as baseline values: "
                            f"{some([describe(lab) for lab in before])}.")
    return kept
