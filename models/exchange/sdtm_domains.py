"""The rows of the SDTM domains DM, AE, EX, LB, CM and of the ADaM-like ADAE, from one snapshot of the active
records of the active patients (models/exchange/snapshot.py; entered-in-error records are never read).

- Data cut-off: the analysis date. Records dated after it (onset, collection, dose record, medication start)
  are left out and counted; exposure periods read only dose records on or before it (models/clinical/exposure.py).
- Pseudonymous: USUBJID = STUDYID-SUBJID, SUBJID = the database id zero-padded to 5 digits; no MRN, name or
  birth date (AGE instead). A patient's own MRN or name found in free text (dose reasons, medications) is
  replaced by "[removed]" and counted.
- Study days: day 1 = RFSTDTC (the treatment start), no day 0.
- Exposure (EX) is the everolimus dose intervals of models/clinical/dose_intervals.py; treatment-emergent
  (ADAE.TRTEMFL) is models/analysis/incidence.py's definition, over exposed patients (exposure.follow_up).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from models.analysis import incidence
from models.analysis.cohort import age_at  # the cohort filter's age: whole years at a date
from models.clinical import ctcae, exposure
from models.clinical.dose_intervals import DoseRecord, dose_intervals
from models.exchange import codes
from models.exchange.sdtm_metadata import SITEID, STUDYID, columns, domain_variables, term
from models.exchange.snapshot import STATEMENTS, read_snapshot

# The date that places each kind of record before or after the data cut-off.
CUT_OFF_DATES = {"adverse_events": ("AE", "onset_date"), "labs": ("LB", "collected_on"),
                 "doses": ("EX", "effective_date"), "medications": ("CM", "start_date")}
REMOVED = "[removed]"
ARM = "everolimus_exemestane"


@dataclass
class Export:
    """The domains as DataFrames, and what the define must say about how they were made."""
    as_of: date
    domains: dict[str, pd.DataFrame]
    after_cut_off: dict[str, int] = field(default_factory=dict)   # domain -> records left out (EX: dose records)
    identifiers_removed: dict[str, int] = field(default_factory=dict)   # "DOMAIN.VARIABLE" -> values
    units_as_recorded: int = 0   # lab units without a CDISC spelling, exported as recorded


def study_day(day: date | None, reference: date | None) -> int | None:
    """Day 1 is the reference date; the day before it is -1 (there is no day 0)."""
    if day is None or reference is None:
        return None
    delta = (day - reference).days
    return delta + 1 if delta >= 0 else delta


def subject_id(patient_id: int) -> str:
    return f"{int(patient_id):05d}"


def usubjid(patient_id: int) -> str:
    return f"{STUDYID}-{subject_id(patient_id)}"


def build(url: str | None, as_of: date) -> Export:
    frames = {name: pd.DataFrame(rows, columns=list(STATEMENTS[name].selected_columns.keys()))
              for name, rows in read_snapshot(url).items()}
    export = Export(as_of, {})
    for name, (domain, column) in CUT_OFF_DATES.items():
        late = pd.to_datetime(frames[name][column]) > pd.Timestamp(as_of)
        export.after_cut_off[domain] = int(late.sum())
        frames[name] = frames[name][~late.values].reset_index(drop=True)
    builder = _Builder(frames, export)
    ex = builder.ex()
    export.domains = {"DM": builder.dm(ex), "AE": builder.ae(), "EX": ex, "LB": builder.lb(), "CM": builder.cm(),
                      "ADAE": builder.adae()}
    return export


def frame(domain: str, rows: list[dict]) -> pd.DataFrame:
    """The domain's columns in the seed file's order, each of its type: text and ISO dates as objects (None
    when missing), integers Int64, numbers Float64, ADaM dates as date objects."""
    names = columns(domain)
    for row in rows:
        if list(row) != names:
            raise RuntimeError(f"{domain} row has columns {list(row)}, the metadata says {names}")
    data = {}
    for variable in domain_variables(domain):
        values = [row[variable.name] for row in rows]
        if variable.type == "integer":
            data[variable.name] = pd.array(values, dtype="Int64")
        elif variable.type == "float":
            data[variable.name] = pd.array([None if v is None else float(v) for v in values], dtype="Float64")
        else:
            data[variable.name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data, columns=names)


def _day(value) -> date | None:
    return None if value is None or pd.isna(value) else value


def _iso(value) -> str | None:
    value = _day(value)
    return None if value is None else value.isoformat()


def number_text(value) -> str | None:
    """A number as text, at most 10 significant digits (13.3 -> "13.3", 10.0 -> "10")."""
    return None if value is None or pd.isna(value) else format(float(value), ".10g")


def _rounded(value: float | None) -> float | None:
    return None if value is None else float(format(value, ".10g"))


def _coded(vocabulary: str, value) -> str | None:
    """The CDISC submission value of one of this app's values (seed_data/exchange_codes.csv); never dropped."""
    if value is None or pd.isna(value):
        return None
    found = codes.code(vocabulary, value)
    if found is None:
        raise ValueError(f"{value!r} has no {vocabulary} code in seed_data/exchange_codes.csv")
    return found.display


def _flag(condition: bool) -> str | None:
    return term("NY", "yes") if condition else None


def _yes_no(condition: bool) -> str:
    return term("NY", "yes" if condition else "no")


class _Builder:
    def __init__(self, frames: dict[str, pd.DataFrame], export: Export):
        self.frames, self.export, self.as_of = frames, export, export.as_of
        patients = frames["patients"].sort_values("id")
        self.patients = patients
        self.start = dict(zip(patients["id"].astype(int), patients["treatment_start"]))
        self._identifiers = {int(pid): [re.compile(rf"(?<!\w){re.escape(str(text).strip())}(?!\w)", re.IGNORECASE)
                                        for text in (mrn, name) if text and str(text).strip()]
                             for pid, mrn, name in zip(patients["id"], patients["mrn"], patients["name"])}
        events = frames["adverse_events"]
        self.events = events.sort_values(["patient_id", "onset_date", "id"]).reset_index(drop=True)
        doses = frames["doses"]
        self.periods = exposure.exposure_periods(patients, doses, self.as_of)
        deaths = events[events["death_date"].notna()].groupby("patient_id")["death_date"].min()
        self.deaths = {int(pid): day for pid, day in deaths.items()}
        followed = exposure.follow_up(patients, self.periods, deaths, self.as_of)
        self.exposed = {int(pid) for pid in followed.index[followed["exposed"].astype(bool)]}
        emergent = incidence.treatment_emergent(events, patients, doses, self.as_of)
        self.emergent = {int(i) for i in emergent["id"]}
        final = self.periods.sort_values(["patient_id", "period"]).groupby("patient_id").tail(1)
        self.last_dose = {int(pid): _day(day) for pid, day in zip(final["patient_id"], final["last_dose_day"])}
        self.sequence = {}   # adverse event id -> AESEQ
        for _, rows in self.events.groupby("patient_id", sort=False):
            self.sequence.update({int(i): n for n, i in enumerate(rows["id"], 1)})
        self.episode = self._episodes()

    def _scrub(self, patient_id: int, text, where: str) -> str | None:
        """Free text without the patient's own MRN or name."""
        if text is None or pd.isna(text):
            return None
        cleaned = str(text)
        for pattern in self._identifiers.get(int(patient_id), ()):
            cleaned = pattern.sub(REMOVED, cleaned)
        if cleaned != text:
            self.export.identifiers_removed[where] = self.export.identifiers_removed.get(where, 0) + 1
        return cleaned

    def _episodes(self) -> dict[int, int]:
        """Adverse event id -> the id of the first record of its episode: a record continues the one it names
        (previous_event_id) when that one is active, of the same patient and the same term."""
        rows = {int(e.id): e for e in self.events.itertuples()}
        first: dict[int, int] = {}

        def root(event_id: int, seen: frozenset = frozenset()) -> int:
            if event_id in first:
                return first[event_id]
            event = rows[event_id]
            previous = event.previous_event_id
            before = rows.get(int(previous)) if previous is not None and not pd.isna(previous) else None
            linked = before is not None and before.patient_id == event.patient_id and before.term == event.term \
                and before.id not in seen
            first[event_id] = root(int(before.id), seen | {event_id}) if linked else event_id
            return first[event_id]

        for event_id in rows:
            root(event_id)
        return first

    # ------------------------------------------------------------------ SDTM domains

    def dm(self, ex: pd.DataFrame) -> pd.DataFrame:
        first_dose = ex.groupby("USUBJID")["EXSTDTC"].min().to_dict() if not ex.empty else {}
        rows = []
        for p in self.patients.itertuples():
            pid, start = int(p.id), _day(p.treatment_start)
            age = age_at(p.birth_date, start)
            treated = first_dose.get(usubjid(pid))
            last, died = self.last_dose.get(pid), self.deaths.get(pid)
            rows.append({"STUDYID": STUDYID, "DOMAIN": "DM", "USUBJID": usubjid(pid), "SUBJID": subject_id(pid),
                         "RFSTDTC": _iso(start), "RFENDTC": _iso(last), "RFXSTDTC": treated, "RFXENDTC": _iso(last),
                         "DTHDTC": _iso(died), "DTHFL": _flag(died is not None), "SITEID": SITEID,
                         "AGE": None if age is None else int(age), "AGEU": term("AGEU", "years") if age is not None
                         else None, "SEX": term("SEX", "not_recorded"), "ARMCD": term("ARMCD", ARM),
                         "ARM": term("ARM", ARM), "ACTARMCD": term("ARMCD", ARM) if treated else None,
                         "ACTARM": term("ARM", ARM) if treated else None,
                         "ARMNRS": None if treated else term("ARMNRS", "not_treated"), "COUNTRY": None})
        return frame("DM", rows)

    def ae(self) -> pd.DataFrame:
        rows = []
        for e in self.events.itertuples():
            pid, start = int(e.patient_id), self.start.get(int(e.patient_id))
            onset, end = _day(e.onset_date), _day(e.resolved_date)
            serious = bool(e.serious) or int(e.grade) == 5 or _day(e.death_date) is not None  # death is serious
            rows.append({"STUDYID": STUDYID, "DOMAIN": "AE", "USUBJID": usubjid(pid), "AESEQ": self.sequence[int(e.id)],
                         "AEGRPID": str(self.sequence[self.episode[int(e.id)]]), "AESPID": str(int(e.id)),
                         "AETERM": e.term, "AELLT": e.term, "AELLTCD": _meddra_code(e.term, e.meddra_code),
                         "AEDECOD": e.term, "AETOXGR": str(int(e.grade)), "AESER": _yes_no(serious),
                         "AEACN": _coded("aeacn", e.action_taken), "AEREL": _coded("aerel", e.attribution),
                         "AEOUT": _coded("aeout", e.outcome),
                         "AESDTH": _yes_no(_day(e.death_date) is not None) if serious or _day(e.death_date) else None,
                         "AESTDTC": _iso(onset), "AEENDTC": _iso(end), "AESTDY": study_day(onset, start),
                         "AEENDY": study_day(end, start)})
        return frame("AE", rows)

    def ex(self) -> pd.DataFrame:
        rows = []
        doses = self.frames["doses"]
        by_patient = {int(pid): records for pid, records in doses.groupby("patient_id")}
        for p in self.patients.itertuples():
            pid, start = int(p.id), self.start.get(int(p.id))
            if start is None or start > self.export.as_of:
                continue
            records = by_patient.get(pid, doses.iloc[0:0])
            intervals = dose_intervals([DoseRecord(int(d.id), d.effective_date, d.action, float(d.dose_mg),
                                                   bool(d.every_other_day), d.reason) for d in records.itertuples()],
                                       treatment_start=start, planned_dose_mg=float(p.planned_dose_mg))
            for number, interval in enumerate((i for i in intervals if i.kind == "dose"), 1):
                opened = interval.opened_by
                adjusted = opened.action in ("reduce", "escalate")
                rows.append({"STUDYID": STUDYID, "DOMAIN": "EX", "USUBJID": usubjid(pid), "EXSEQ": number,
                             "EXTRT": term("EXTRT", "everolimus"), "EXDOSE": interval.dose_mg,
                             "EXDOSU": term("UNIT", "mg"), "EXDOSFRM": term("FRM", "tablet"),
                             "EXDOSFRQ": term("FREQ", "every_other_day" if interval.every_other_day else "daily"),
                             "EXROUTE": term("ROUTE", "oral"),
                             "EXADJ": self._scrub(pid, opened.reason, "EX.EXADJ") if adjusted else None,
                             "EXSTDTC": _iso(interval.start), "EXENDTC": _iso(interval.end),
                             "EXSTDY": study_day(interval.start, start), "EXENDY": study_day(interval.end, start)})
        return frame("EX", sorted(rows, key=lambda r: (r["USUBJID"], r["EXSEQ"])))

    def lb(self) -> pd.DataFrame:
        labs = self.frames["labs"].sort_values(["patient_id", "collected_on", "id"])
        starts = labs["patient_id"].astype(int).map(self.start)
        before = labs[(pd.to_datetime(labs["collected_on"]) <= pd.to_datetime(starts)).values]
        last_before = set(before.groupby(["patient_id", "test"])["id"].last().astype(int))
        rows, sequence = [], {}
        for lab in labs.itertuples():
            pid = int(lab.patient_id)
            sequence[pid] = sequence.get(pid, 0) + 1
            rows.append({"STUDYID": STUDYID, "DOMAIN": "LB", "USUBJID": usubjid(pid), "LBSEQ": sequence[pid],
                         **self._lab_values(lab), "LBLOBXFL": _flag(int(lab.id) in last_before),
                         "LBDTC": _iso(lab.collected_on),
                         "LBDY": study_day(_day(lab.collected_on), self.start.get(pid))})
        return frame("LB", rows)

    def _lab_values(self, lab) -> dict:
        test, code = lab.test, codes.export_code(lab.test)
        unit = _unit(test, lab.unit)
        spelling = codes.cdisc_unit(unit)
        if unit is not None and spelling is None:
            self.export.units_as_recorded += 1
            spelling = unit
        standard = ctcae.default_unit(test)
        factor = codes.standard_factor(test, unit)
        lln, uln, value = _number(lab.lln), _number(lab.uln), float(lab.value)
        converted = _rounded(value * factor) if factor is not None else None
        grade = None if lab.ctcae_grade is None or pd.isna(lab.ctcae_grade) else int(lab.ctcae_grade)
        return {"LBTESTCD": code.lbtestcd, "LBTEST": code.lbtest, "LBCAT": code.lbcat, "LBORRES": number_text(value),
                "LBORRESU": spelling, "LBORNRLO": number_text(lln), "LBORNRHI": number_text(uln),
                "LBSTRESC": number_text(converted), "LBSTRESN": converted,
                "LBSTRESU": codes.cdisc_unit(standard) if converted is not None else None,
                "LBSTNRLO": _rounded(lln * factor) if factor is not None and lln is not None else None,
                "LBSTNRHI": _rounded(uln * factor) if factor is not None and uln is not None else None,
                "LBNRIND": _range_indicator(value, lln, uln), "LBLOINC": code.loinc,
                "LBFAST": _flag(test == "glucose_fasting"), "LBTOX": lab.ctcae_term if grade is not None else None,
                "LBTOXGR": None if grade is None else str(grade), "LBBLFL": _flag(bool(lab.baseline))}

    def cm(self) -> pd.DataFrame:
        rows, sequence = [], {}
        for m in self.frames["medications"].sort_values(["patient_id", "start_date", "id"]).itertuples():
            pid, start = int(m.patient_id), self.start.get(int(m.patient_id))
            sequence[pid] = sequence.get(pid, 0) + 1
            begin, end = _day(m.start_date), _day(m.stop_date)
            rows.append({"STUDYID": STUDYID, "DOMAIN": "CM", "USUBJID": usubjid(pid), "CMSEQ": sequence[pid],
                         "CMTRT": self._scrub(pid, m.drug, "CM.CMTRT"),
                         "CMINDC": self._scrub(pid, m.indication, "CM.CMINDC"),
                         "CMDOSTXT": self._scrub(pid, m.dose, "CM.CMDOSTXT"),
                         "CMROUTE": term("ROUTE", m.route) if m.route else None, "CMSTDTC": _iso(begin),
                         "CMENDTC": _iso(end), "CMSTDY": study_day(begin, start), "CMENDY": study_day(end, start)})
        return frame("CM", rows)

    # ------------------------------------------------------------------ ADaM-like ADAE

    def adae(self) -> pd.DataFrame:
        """One record per episode. TRTEMFL = Y when any record of the episode is treatment-emergent (the app's
        definition) and the subject is exposed: per term, the subjects with TRTEMFL = Y are the incidence
        report's patients, and those with TEMTOXGR >= 3 its grade >= 3 patients."""
        by_episode: dict[int, list] = {}
        for e in self.events.itertuples():
            by_episode.setdefault(self.episode[int(e.id)], []).append(e)
        rows = []
        for first_id, records in by_episode.items():
            first, last = records[0], records[-1]
            pid = int(first.patient_id)
            start = _day(self.start.get(pid))
            counted = [r for r in records if int(r.id) in self.emergent and pid in self.exposed]
            begin, end = _day(first.onset_date), _day(last.resolved_date)
            rows.append({"STUDYID": STUDYID, "USUBJID": usubjid(pid), "AESEQ": self.sequence[first_id],
                         "AETERM": first.term, "AEDECOD": first.term,
                         "AELLTCD": _meddra_code(first.term, first.meddra_code), "TRTSDT": start,
                         "TRTEDT": self.last_dose.get(pid), "ASTDT": begin, "ASTDY": study_day(begin, start),
                         "AENDT": end, "AENDY": study_day(end, start),
                         "AETOXGR": str(max(int(r.grade) for r in records)),
                         "TEMTOXGR": max(int(r.grade) for r in counted) if counted else None,
                         "AESER": _yes_no(any(bool(r.serious) for r in records)), "SAFFL": _yes_no(pid in self.exposed),
                         "TRTEMFL": _flag(bool(counted))})
        return frame("ADAE", sorted(rows, key=lambda r: (r["USUBJID"], r["AESEQ"])))


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _unit(test: str, unit) -> str | None:
    """The recorded unit in this app's spelling of it (units are matched as the grading matches them)."""
    if unit is None or pd.isna(unit) or not str(unit).strip():
        return None
    return ctcae.accepted_unit(test, str(unit)) or str(unit)


def _range_indicator(value: float, lln: float | None, uln: float | None) -> str | None:
    if lln is not None and value < lln:
        return term("NRIND", "low")
    if uln is not None and value > uln:
        return term("NRIND", "high")
    return term("NRIND", "normal") if lln is not None and uln is not None else None


def _meddra_code(term_name: str, recorded) -> int | None:
    if recorded is not None and not pd.isna(recorded):
        return int(recorded)
    try:
        return ctcae.get_term(term_name).meddra_code
    except (KeyError, ValueError):
        return None
