"""CDISC SDTM export (models/exchange/sdtm.py): DM, AE, EX, LB, CM and the ADaM-like ADAE as SAS XPORT v5 and
Dataset-JSON v1.1 files with a define. The demo cohort's files are written once per format and read back
(pyreadstat, json); small hand-made patients check the rules one by one on SQLite and PostgreSQL."""
from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from sqlalchemy import text

from models.analysis.cohort import incidence_report
from models.exchange import codes, sdtm
from models.exchange.sdtm_metadata import DATASETS, codelist_values, columns, domain_variables
from models.store import queries, records
from models.store.db import get_engine
from models.store.records import Actor
from tests.conftest import DEMO_TODAY

ADMIN = Actor("ada.admin", "admin")
NURSE = Actor("nina.nurse", "nurse")
TODAY = date(2026, 6, 1)
NAMES = ("dm", "ae", "ex", "lb", "cm", "adae")
# SDTMIG core, as the shared reference sdtm.md gives it (DM: SDTMIG's required DM variables the app records).
REQUIRED = {"DM": ["STUDYID", "DOMAIN", "USUBJID", "SUBJID", "SITEID", "SEX", "RFSTDTC"],
            "AE": ["STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AETERM", "AEDECOD"],
            "EX": ["STUDYID", "DOMAIN", "USUBJID", "EXSEQ", "EXTRT"],
            "LB": ["STUDYID", "DOMAIN", "USUBJID", "LBSEQ", "LBTESTCD", "LBTEST"],
            "CM": ["STUDYID", "DOMAIN", "USUBJID", "CMSEQ", "CMTRT"],
            "ADAE": ["STUDYID", "USUBJID", "AESEQ", "AEDECOD", "ASTDT", "SAFFL"]}
EXPECTED = {"AE": ["AELLT", "AELLTCD", "AESER", "AEACN", "AEREL", "AESTDTC", "AEENDTC", "AETOXGR"],
            "EX": ["EXDOSE", "EXDOSU", "EXDOSFRM", "EXSTDTC", "EXENDTC", "EXDOSFRQ", "EXROUTE", "EXADJ"],
            "LB": ["LBCAT", "LBORRES", "LBORRESU", "LBORNRLO", "LBORNRHI", "LBSTRESC", "LBSTRESN", "LBSTRESU",
                   "LBSTNRLO", "LBSTNRHI", "LBNRIND", "LBLOBXFL", "LBDTC", "LBLOINC", "LBFAST", "LBTOX",
                   "LBTOXGR", "LBBLFL"],
            "DM": ["RFENDTC", "RFXSTDTC", "RFXENDTC", "DTHDTC", "DTHFL", "AGE", "AGEU", "ARMCD", "ARM"],
            "ADAE": ["TRTEMFL", "AETOXGR", "TEMTOXGR", "AENDT", "ASTDY", "TRTSDT"]}
STUDY_DAYS = {"AE": [("AESTDTC", "AESTDY"), ("AEENDTC", "AEENDY")],
              "EX": [("EXSTDTC", "EXSTDY"), ("EXENDTC", "EXENDY")],
              "LB": [("LBDTC", "LBDY")], "CM": [("CMSTDTC", "CMSTDY"), ("CMENDTC", "CMENDY")]}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- the demo cohort, written once per format --------------------------------------------------------------

@pytest.fixture(scope="module")
def xpt_export(demo_sqlite_url, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sdtm_xpt")
    counts = sdtm.write_sdtm(folder, fmt="xpt", url=demo_sqlite_url, as_of=DEMO_TODAY)
    read = {name: pyreadstat.read_xport(str(folder / f"{name}.xpt")) for name in NAMES}
    return folder, counts, read


@pytest.fixture(scope="module")
def json_export(demo_sqlite_url, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sdtm_json")
    counts = sdtm.write_sdtm(folder, fmt="json", url=demo_sqlite_url, as_of=DEMO_TODAY)
    return folder, counts, {name: json.loads((folder / f"{name}.json").read_text("utf-8")) for name in NAMES}


def _frame(dataset: dict) -> pd.DataFrame:
    """A Dataset-JSON dataset as a DataFrame (missing values None)."""
    return pd.DataFrame(dataset["rows"], columns=[c["name"] for c in dataset["columns"]], dtype=object)


def _scalar(url: str, sql: str) -> int:
    with get_engine(url).connect() as connection:
        return int(connection.execute(text(sql)).scalar())


ACTIVE_AE = ("FROM adverse_event e JOIN patient p ON p.id = e.patient_id "
             "WHERE e.record_status = 'active' AND p.record_status = 'active'")


def test_every_dataset_is_written_and_counts_the_active_records(demo_sqlite_url, xpt_export, json_export):
    for folder, counts, _ in (xpt_export, json_export):
        suffix = "xpt" if folder == xpt_export[0] else "json"
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [f"{n}.{suffix}" for n in NAMES] + ["define.json", "define.md"])
        active = "WHERE record_status = 'active'"
        assert counts == {"DM": _scalar(demo_sqlite_url, f"SELECT count(*) FROM patient {active}"),
                          "AE": _scalar(demo_sqlite_url, f"SELECT count(*) {ACTIVE_AE}"),
                          "EX": _expected_ex_records(demo_sqlite_url),
                          "LB": _scalar(demo_sqlite_url, f"SELECT count(*) FROM lab_result {active}"),
                          "CM": _scalar(demo_sqlite_url, f"SELECT count(*) FROM concomitant_medication {active}"),
                          # one ADAE record per episode: the records that continue no other one
                          "ADAE": _scalar(demo_sqlite_url,
                                          f"SELECT count(*) {ACTIVE_AE} AND e.previous_event_id IS NULL")}
    _, _, xpt = xpt_export
    _, _, dsj = json_export
    for name in NAMES:
        assert len(xpt[name][0]) == dsj[name]["records"] == len(dsj[name]["rows"]) == xpt_export[1][name.upper()]
    assert xpt_export[1]["LB"] > 7000 and xpt_export[1]["AE"] > 300 and xpt_export[1]["CM"] > 0


def _expected_ex_records(url: str) -> int:
    """A dose record that gives the drug opens one EX record, unless another record of the same day follows."""
    doses = queries.dose_events(url).sort_values(["patient_id", "effective_date", "id"])
    count = 0
    for _, rows in doses.groupby("patient_id"):
        rows = list(rows.itertuples())
        for record, following in zip(rows, rows[1:] + [None]):
            same_day = following is not None and following.effective_date == record.effective_date
            count += record.action in ("start", "resume", "reduce", "escalate") and not same_day
    return count


def test_xpt_files_keep_names_labels_and_types_within_sas_v5_limits(xpt_export):
    _, _, xpt = xpt_export
    for name in NAMES:
        frame, meta = xpt[name]
        domain = name.upper()
        assert meta.table_name == domain and meta.file_label == DATASETS[domain].label
        assert list(frame.columns) == columns(domain)
        specs = domain_variables(domain)
        assert [meta.column_names_to_labels[v.name] for v in specs] == [v.label for v in specs]
        for v in specs:
            assert len(v.name) <= 8 and len(v.label) <= 40
            kind = meta.readstat_variable_types[v.name]
            assert kind == ("string" if v.sas_type == "Char" else "double"), (domain, v.name, kind)
            if v.sas_type == "Char":
                values = frame[v.name].astype(str)
                assert values.map(lambda s: s.isascii() and len(s.encode()) <= 200).all(), (domain, v.name)
    adae, meta = xpt["adae"]
    assert meta.original_variable_types["ASTDT"].startswith("DATE")
    assert isinstance(adae["ASTDT"].iloc[0], date), "ADaM dates are SAS dates, read back as dates"
    assert len(xpt["dm"][0]) == 120 and len(xpt["dm"][0].columns) == len(columns("DM"))


def test_required_variables_are_there_and_filled(xpt_export, json_export):
    _, _, dsj = json_export
    for domain, names in REQUIRED.items():
        frame = _frame(dsj[domain.lower()])
        for name in names:
            assert frame[name].notna().all(), f"{domain}.{name} is required"
        for name in EXPECTED.get(domain, []):
            assert name in frame.columns, f"{domain}.{name} is expected"
        assert (frame["STUDYID"] == "TOXWATCH").all()
        if "DOMAIN" in frame.columns:
            assert (frame["DOMAIN"] == domain).all()
        seq = {"ADAE": "AESEQ"}.get(domain, f"{domain}SEQ")
        if seq in frame.columns:
            assert not frame.duplicated(["USUBJID", seq]).any()
            firsts = frame.groupby("USUBJID")[seq].min()
            assert (firsts == 1).all() or domain == "ADAE"
    dm = _frame(dsj["dm"])
    assert (dm["USUBJID"] == "TOXWATCH-" + dm["SUBJID"]).all() and dm["SUBJID"].str.fullmatch(r"\d{5}").all()
    assert (dm["SEX"] == "U").all() and dm["AGE"].map(lambda a: isinstance(a, int) and 18 <= a <= 110).all()
    assert (dm["AGEU"] == "YEARS").all() and dm["COUNTRY"].isna().all()
    ae = _frame(dsj["ae"])
    assert (ae["AETERM"] == ae["AEDECOD"]).all() and ae["AELLTCD"].map(lambda c: isinstance(c, int)).all()


def test_controlled_terms_come_from_the_codelists(demo_sqlite_url, json_export):
    _, _, dsj = json_export
    ae, lb, ex, cm = (_frame(dsj[n]) for n in ("ae", "lb", "ex", "cm"))

    def values(frame, column):
        return set(frame[column].dropna())

    assert values(ae, "AESER") <= {"Y", "N"} and values(ae, "AETOXGR") <= {"1", "2", "3", "4", "5"}
    assert values(ae, "AEACN") <= {"DOSE NOT CHANGED", "DRUG INTERRUPTED", "DOSE REDUCED", "DRUG WITHDRAWN"}
    assert values(ae, "AEACN") and values(ae, "AEACN") <= codelist_values("ACN")
    assert values(ae, "AEOUT") and values(ae, "AEOUT") <= codelist_values("OUT")
    assert values(ae, "AEOUT") <= {"RECOVERED/RESOLVED", "RECOVERING/RESOLVING", "NOT RECOVERED/NOT RESOLVED",
                                   "RECOVERED/RESOLVED WITH SEQUELAE", "FATAL", "UNKNOWN"}
    assert values(ae, "AEREL") <= {c.display for c in codes.vocabulary("aerel").values()}
    # every recorded action and outcome is exported; not recorded stays null
    for column, field, vocabulary in (("AEACN", "action_taken", "aeacn"), ("AEOUT", "outcome", "aeout")):
        recorded = _scalar(demo_sqlite_url, f"SELECT count(*) {ACTIVE_AE} AND e.{field} IS NOT NULL")
        assert ae[column].notna().sum() == recorded
        held = _scalar(demo_sqlite_url, f"SELECT count(*) {ACTIVE_AE} AND e.{field} = "
                                        f"'{'held' if field == 'action_taken' else 'recovered'}'")
        display = codes.code(vocabulary, "held" if field == "action_taken" else "recovered").display
        assert (ae[column] == display).sum() == held
    assert values(lb, "LBTESTCD") == {c.lbtestcd for c in codes.lab_codes()}
    assert values(lb, "LBORRESU") | values(lb, "LBSTRESU") <= codelist_values("UNIT")
    assert values(lb, "LBNRIND") <= {"LOW", "HIGH", "NORMAL"} and values(lb, "LBTOXGR") <= {"0", "1", "2", "3", "4"}
    assert set(lb.loc[lb["LBFAST"] == "Y", "LBTESTCD"]) == {"GLUC"}
    assert values(ex, "EXDOSFRQ") <= {"QD", "QOD"} and values(ex, "EXROUTE") == {"ORAL"}
    assert values(ex, "EXTRT") == {"EVEROLIMUS"} and values(ex, "EXDOSU") == {"mg"}
    assert values(cm, "CMROUTE") and values(cm, "CMROUTE") <= codelist_values("ROUTE")
    assert values(cm, "CMROUTE") == {"ORAL", "OROPHARYNGEAL"}


def test_lab_results_in_standard_units_and_limits(json_export):
    lb = _frame(json_export[2]["lb"])
    both = lb[lb["LBORRESU"].notna()]
    same = both[both["LBORRESU"] == both["LBSTRESU"]]
    assert len(same) == len(lb), "the demo records every test in its standard unit"
    assert (same["LBSTRESN"].astype(float) == same["LBORRES"].astype(float)).all()
    assert (same["LBSTRESC"] == same["LBORRES"]).all()
    low = lb[lb["LBNRIND"] == "LOW"]
    assert len(low) and (low["LBSTRESN"].astype(float) < low["LBSTNRLO"].astype(float)).all()
    assert lb.loc[lb["LBORNRLO"].isna() & lb["LBORNRHI"].isna(), "LBNRIND"].isna().all()
    assert (lb.loc[lb["LBBLFL"] == "Y", "LBDY"] < 1).all()
    assert lb.loc[lb["LBLOBXFL"] == "Y"].duplicated(["USUBJID", "LBTESTCD"]).sum() == 0


def test_study_days_count_from_the_treatment_start_without_day_0(json_export):
    _, _, dsj = json_export
    starts = dict(zip(_frame(dsj["dm"])["USUBJID"], _frame(dsj["dm"])["RFSTDTC"]))
    negative = 0
    for domain, pairs in STUDY_DAYS.items():
        frame = _frame(dsj[domain.lower()])
        for date_column, day_column in pairs:
            rows = frame[frame[date_column].notna()]
            assert rows[day_column].notna().all()
            for subject, day, number in zip(rows["USUBJID"], rows[date_column], rows[day_column]):
                delta = (date.fromisoformat(day) - date.fromisoformat(starts[subject])).days
                assert number == (delta + 1 if delta >= 0 else delta) and number != 0
                negative += number < 0
            assert frame.loc[frame[date_column].isna(), day_column].isna().all()
    assert negative > 0, "baseline labs are before day 1"
    ex = _frame(dsj["ex"])
    first = ex.loc[ex["EXSEQ"] == 1, "EXSTDY"]
    assert (first >= 1).all() and (first == 1).sum() >= 110, "the treatment start is day 1 (a hold that day delays it)"
    assert (_frame(dsj["lb"])["LBDY"] == -7).any(), "a baseline lab a week before the start is day -7"


def test_no_name_mrn_or_birth_date_in_any_file(demo_sqlite_url, xpt_export, json_export):
    people = queries.patients(demo_sqlite_url)
    identifiers = [s.encode() for s in people["mrn"]] + [s.encode() for s in people["name"]] \
        + [b.isoformat().encode() for b in people["birth_date"] if b is not None]
    assert len(identifiers) == 360
    for folder in (xpt_export[0], json_export[0]):
        for path in folder.iterdir():
            content = path.read_bytes()
            assert b"(fictional)" not in content and b"DEMO-" not in content, path.name
            found = [i for i in identifiers if i in content]
            assert not found, f"{path.name} holds {found[:3]}"
    assert not {"BRTHDTC", "MRN", "NAME"} & set(columns("DM"))


def test_adae_treatment_emergent_flags_reproduce_the_incidence_report(demo_sqlite_url, xpt_export):
    adae = xpt_export[2]["adae"][0]
    report = incidence_report(demo_sqlite_url, as_of=DEMO_TODAY)
    emergent = adae[adae["TRTEMFL"] == "Y"]
    assert len(report["rows"]) >= 8 and len(emergent)
    for row in report["rows"]:
        term = emergent[emergent["AEDECOD"] == row["term"]]
        assert term["USUBJID"].nunique() == row["any_grade"]["patients"], row["term"]
        assert term.loc[term["TEMTOXGR"] >= 3, "USUBJID"].nunique() == row["grade_3_plus"]["patients"], row["term"]
    assert sum(r["grade_3_plus"]["patients"] for r in report["rows"]) > 0
    assert (adae.loc[adae["TRTEMFL"] == "Y", "SAFFL"] == "Y").all()
    assert adae.loc[adae["TRTEMFL"] != "Y", "TEMTOXGR"].isna().all()
    assert (adae["TEMTOXGR"].fillna(0) <= adae["AETOXGR"].astype(int)).all()
    # the episodes of the SDTM AE records: AEGRPID is the ADAE record's AESEQ
    ae = xpt_export[2]["ae"][0]
    groups = set(zip(ae["USUBJID"], ae["AEGRPID"].astype(int)))
    assert groups == set(zip(adae["USUBJID"], adae["AESEQ"].astype(int)))
    worst = ae.groupby(["USUBJID", "AEGRPID"])["AETOXGR"].max()
    assert (adae.set_index(["USUBJID", adae["AESEQ"].astype(int).astype(str)])["AETOXGR"]
            .sort_index() == worst.sort_index().values).all()


def test_ex_has_one_record_per_constant_dose_and_holds_are_gaps(demo_sqlite_url, json_export):
    ex = _frame(json_export[2]["ex"])
    assert (ex["EXDOSE"].astype(float) > 0).all(), "never EXDOSE = 0"
    holds = queries.dose_events(demo_sqlite_url)
    holds = holds[holds["action"] == "hold"]
    assert len(holds) > 10
    subjects = {f"TOXWATCH-{int(p):05d}": list(rows.itertuples()) for p, rows in
                [(s, r) for s, r in ex.assign(p=ex["USUBJID"].str[-5:].astype(int)).groupby("p")]}
    for hold in holds.itertuples():
        day = hold.effective_date.isoformat()
        for record in subjects.get(f"TOXWATCH-{int(hold.patient_id):05d}", []):
            assert not (record.EXSTDTC <= day and (record.EXENDTC is None or day <= record.EXENDTC)), \
                f"a hold on {day} falls inside an EX record"
    for records_ in subjects.values():
        for before, after in zip(records_, records_[1:]):
            assert before.EXENDTC is not None and before.EXENDTC < after.EXSTDTC
    reduced = ex[ex["EXADJ"].notna()]
    assert len(reduced) and reduced["EXADJ"].str.len().gt(0).all()


def test_dataset_json_has_the_v1_1_attributes(json_export):
    _, _, dsj = json_export
    allowed = {"string", "integer", "decimal", "float", "double", "boolean", "datetime", "date", "time", "URI"}
    for name, data in dsj.items():
        domain = name.upper()
        for key in ("datasetJSONCreationDateTime", "datasetJSONVersion", "fileOID", "itemGroupOID", "records",
                    "name", "label", "columns", "rows"):
            assert key in data, (name, key)
        assert data["datasetJSONVersion"] == "1.1.0" and data["name"] == domain
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", data["datasetJSONCreationDateTime"])
        assert data["itemGroupOID"] == f"IG.{domain}" and data["label"] == DATASETS[domain].label
        assert [c["name"] for c in data["columns"]] == columns(domain)
        keys = [c["name"] for c in sorted((c for c in data["columns"] if "keySequence" in c),
                                          key=lambda c: c["keySequence"])]
        assert keys[:2] == ["STUDYID", "USUBJID"]
        for index, column in enumerate(data["columns"]):
            assert {"itemOID", "name", "label", "dataType"} <= set(column)
            assert column["itemOID"] == f"IT.{domain}.{column['name']}" and column["dataType"] in allowed
            values = [row[index] for row in data["rows"] if row[index] is not None]
            assert all(len(row) == len(data["columns"]) for row in data["rows"])
            if column["dataType"] == "string":
                assert column["length"] >= max([1] + [len(v) for v in values])
                assert all(isinstance(v, str) for v in values)
            elif column["dataType"] == "integer":
                assert all(isinstance(v, int) and not isinstance(v, bool) for v in values)
            elif column["dataType"] == "double":
                assert all(isinstance(v, (int, float)) for v in values)
            elif column["dataType"] == "date":
                assert all(ISO_DATE.fullmatch(v) for v in values)
    adae = {c["name"]: c for c in dsj["adae"]["columns"]}
    assert adae["ASTDT"]["targetDataType"] == "integer" and "targetDataType" not in {
        k for c in dsj["ae"]["columns"] for k in c if c["name"] == "AESTDTC"}


def test_the_define_describes_every_dataset_variable_and_codelist(xpt_export, json_export):
    for folder, counts, _ in (xpt_export, json_export):
        define = json.loads((folder / "define.json").read_text("utf-8"))
        assert define["as_of"] == DEMO_TODAY.isoformat()
        assert {d["name"]: d["records"] for d in define["datasets"]} == counts
        listed = {c["name"] for c in define["codelists"]}
        for dataset in define["datasets"]:
            assert dataset["label"] and dataset["structure"] and dataset["keys"][:2] == ["STUDYID", "USUBJID"]
            assert [v["name"] for v in dataset["variables"]] == columns(dataset["name"])
            for v in dataset["variables"]:
                assert v["label"] and v["type"] in ("Char", "Num") and v["length"] >= 1 and v["origin"]
                assert v["derivation"] and v["source"] and v["status"]
                assert v["codelist"] is None or v["codelist"] in listed
        for codelist in define["codelists"]:
            assert all(t["source"] and t["status"] for t in codelist["terms"])
        notes = " ".join(define["notes"])
        for needed in ("not recorded in ToxWatch: SEX = U", "exemestane", "MedDRA lowest level terms",
                       "TRTEMFL = Y when at least one record of the episode is treatment-emergent", "Pseudonymous"):
            assert needed in notes, needed
        markdown = (folder / "define.md").read_text("utf-8")
        for name in DATASETS:
            assert f"## {name}: {DATASETS[name].label}" in markdown
        assert "| AEACN | Action Taken with Study Treatment |" in markdown and "### ROUTE" in markdown
    xpt_define = json.loads((xpt_export[0] / "define.json").read_text("utf-8"))
    assert xpt_define["format"].startswith("SAS XPORT") and xpt_define["text_changes"]["transliterated_to_ascii"] == {}
    assert sdtm.variable_metadata().groupby("dataset").size().to_dict() == {
        d: len(columns(d)) for d in DATASETS}


# --- hand-made patients --------------------------------------------------------------------------------------

def _hand_made_patient(url: str) -> tuple[int, date]:
    """Start 10 mg, hold, resume at 5 mg, reduce to 2.5 mg every other day (a non-ASCII reason) for an event; a
    baseline event that worsens on treatment, one that does not, an event entered in error; labs in g/L and
    without a unit; a medication whose indication names the patient."""
    start = date(2026, 1, 5)
    patient = records.register_patient(
        {"mrn": "SDTM-1", "name": "Ann Example", "birth_date": date(1960, 3, 2), "treatment_start": start,
         "planned_dose_mg": 10},
        [{"test": "hemoglobin", "value": 131, "unit": "g/L", "lln": 120, "uln": 160,
          "collected_on": start - timedelta(days=3)}], ADMIN, today=TODAY, url=url)
    pid = patient["id"]

    def dose(days: int, action: str, mg: float, reason: str | None = None, **values) -> None:
        records.create("dose_event", {"patient_id": pid, "effective_date": start + timedelta(days=days),
                                      "action": action, "dose_mg": mg, "reason": reason, **values}, ADMIN,
                       today=TODAY, url=url)

    def event(term: str, grade: int, days: int, **values) -> dict:
        return records.create("adverse_event", {"patient_id": pid, "term": term, "grade": grade,
                                                "onset_date": start + timedelta(days=days), **values},
                              NURSE, today=TODAY, url=url)

    dose(14, "hold", 0, "Pneumonitis grade 2")
    dose(28, "resume", 5)
    mucositis = event("Mucositis oral", 2, 45)
    dose(50, "reduce", 2.5, "Stomatitis grade 2 \u2264 r\u00e9duction", every_other_day=True,
         adverse_event_id=mucositis["id"])
    fatigue = event("Fatigue", 1, -10, baseline=True)
    records.change_grade(fatigue["id"], 1, 2, start + timedelta(days=5), NURSE, today=TODAY, url=url)
    event("Dyspnea", 1, -20, baseline=True)
    event("Diarrhea", 1, 40, resolved_date=start + timedelta(days=45), action_taken="none", outcome="recovered",
          attribution="possible")
    wrong = event("Nausea", 2, 30)
    records.mark_entered_in_error("adverse_event", wrong["id"], wrong["version"], "wrong patient", ADMIN, url=url)
    records.create("lab_result", {"patient_id": pid, "test": "ast", "value": 80, "unit": None, "uln": 40,
                                  "collected_on": start + timedelta(days=20)}, NURSE, today=TODAY, url=url)
    records.create("concomitant_medication", {"patient_id": pid, "drug": "Parac\u00e9tamol", "route": "oral",
                                              "dose": "1 g when needed", "start_date": start + timedelta(days=3),
                                              "indication": "Kopfschmerzen \u2013 Ann Example"},
                   NURSE, today=TODAY, url=url)
    return pid, start


def test_hand_made_patient_in_both_formats(db_url, tmp_path):
    pid, start = _hand_made_patient(db_url)
    subject = f"TOXWATCH-{pid:05d}"
    assert sdtm.write_sdtm(tmp_path / "json", fmt="json", url=db_url, as_of=TODAY) == {
        "DM": 1, "AE": 5, "EX": 3, "LB": 2, "CM": 1, "ADAE": 4}
    dsj = {n: _frame(json.loads((tmp_path / "json" / f"{n}.json").read_text("utf-8"))) for n in NAMES}

    def day(n: int) -> str:
        return (start + timedelta(days=n)).isoformat()

    dm = dsj["dm"].iloc[0]
    assert (dm["USUBJID"], dm["SUBJID"], dm["AGE"], dm["RFSTDTC"], dm["RFENDTC"]) == (
        subject, f"{pid:05d}", 65, start.isoformat(), None)
    # start 10 mg, hold on day 15, resume 5 mg on day 29: two records with a gap, then the reduction
    ex = dsj["ex"]
    assert [(r.EXDOSE, r.EXSTDTC, r.EXENDTC, r.EXSTDY, r.EXENDY, r.EXDOSFRQ) for r in ex.itertuples()] == [
        (10.0, day(0), day(13), 1, 14, "QD"), (5.0, day(28), day(49), 29, 50, "QD"),
        (2.5, day(50), None, 51, None, "QOD")]
    assert ex["EXADJ"].tolist() == [None, None, "Stomatitis grade 2 \u2264 r\u00e9duction"]
    ae = dsj["ae"]
    assert "Nausea" not in set(ae["AETERM"]), "an entered-in-error record is never exported"
    assert [(r.AETERM, r.AETOXGR, r.AESTDY, r.AEGRPID) for r in ae.itertuples()] == [
        ("Dyspnea", "1", -20, "1"), ("Fatigue", "1", -10, "2"), ("Fatigue", "2", 6, "2"), ("Diarrhea", "1", 41, "4"),
        ("Mucositis oral", "2", 46, "5")]
    diarrhea = ae[ae["AETERM"] == "Diarrhea"].iloc[0]
    assert (diarrhea["AEACN"], diarrhea["AEOUT"], diarrhea["AEREL"], diarrhea["AEENDY"]) == (
        "DOSE NOT CHANGED", "RECOVERED/RESOLVED", "POSSIBLY RELATED", 46)
    adae = dsj["adae"].set_index("AEDECOD")
    assert adae.loc["Dyspnea", "TRTEMFL"] is None, "a baseline event is never treatment-emergent"
    assert (adae.loc["Fatigue", "TRTEMFL"], adae.loc["Fatigue", "TEMTOXGR"], adae.loc["Fatigue", "AETOXGR"],
            adae.loc["Fatigue", "ASTDY"], adae.loc["Fatigue", "ASTDT"]) == ("Y", 2, "2", -10, day(-10))
    assert adae.loc["Diarrhea", "TRTEMFL"] == "Y" and adae.loc["Diarrhea", "AENDT"] == day(45)
    hb, ast = dsj["lb"].iloc[0], dsj["lb"].iloc[1]
    assert (hb["LBTESTCD"], hb["LBORRES"], hb["LBORRESU"], hb["LBSTRESN"], hb["LBSTRESC"], hb["LBSTRESU"],
            hb["LBSTNRLO"], hb["LBSTNRHI"], hb["LBNRIND"], hb["LBBLFL"], hb["LBLOBXFL"], hb["LBDY"]) == (
        "HGB", "131", "g/L", 13.1, "13.1", "g/dL", 12.0, 16.0, "NORMAL", "Y", "Y", -3)
    assert (ast["LBORRESU"], ast["LBSTRESN"], ast["LBSTRESU"], ast["LBNRIND"], ast["LBLOINC"]) == (
        None, None, None, "HIGH", "1920-8"), "no unit recorded: no standard result (never guessed)"
    cm = dsj["cm"].iloc[0]
    assert (cm["CMTRT"], cm["CMINDC"], cm["CMROUTE"], cm["CMSTDY"]) == (
        "Parac\u00e9tamol", "Kopfschmerzen \u2013 [removed]", "ORAL", 4)

    counts = sdtm.write_sdtm(tmp_path / "xpt", fmt="xpt", url=db_url, as_of=TODAY)
    assert counts["EX"] == 3
    cm_xpt, _ = pyreadstat.read_xport(str(tmp_path / "xpt" / "cm.xpt"))
    assert (cm_xpt.at[0, "CMTRT"], cm_xpt.at[0, "CMINDC"]) == ("Paracetamol", "Kopfschmerzen - [removed]")
    ex_xpt, _ = pyreadstat.read_xport(str(tmp_path / "xpt" / "ex.xpt"))
    assert ex_xpt["EXADJ"].tolist() == ["", "", "Stomatitis grade 2 <= reduction"]
    define = json.loads((tmp_path / "xpt" / "define.json").read_text("utf-8"))
    assert define["text_changes"]["transliterated_to_ascii"] == {"EX.EXADJ": 1, "CM.CMTRT": 1, "CM.CMINDC": 1}
    assert define["text_changes"]["identifiers_removed"] == {"CM.CMINDC": 1}
    for folder in (tmp_path / "json", tmp_path / "xpt"):
        for path in folder.iterdir():
            content = path.read_bytes()
            assert b"Ann Example" not in content and b"SDTM-1" not in content and b"1960-03-02" not in content

    # a data cut-off before the reduction and the diarrhoea leaves them out
    earlier = sdtm.build_domains(db_url, as_of=start + timedelta(days=30))
    assert earlier["EX"]["EXDOSE"].tolist() == [10.0, 5.0] and earlier["EX"]["EXENDTC"].tolist()[1] is None
    assert not {"Diarrhea", "Mucositis oral"} & set(earlier["AE"]["AETERM"]) and len(earlier["ADAE"]) == 2

    # a value longer than SAS XPORT v5 holds: XPT refused, nothing replaced; Dataset-JSON still written
    before = {p.name: p.read_bytes() for p in (tmp_path / "xpt").iterdir()}
    records.create("dose_event", {"patient_id": pid, "effective_date": start + timedelta(days=60),
                                  "action": "escalate", "dose_mg": 5, "reason": "x" * 250}, ADMIN, today=TODAY,
                   url=db_url)
    with pytest.raises(sdtm.SdtmExportError, match=r"EX\.EXADJ \(USUBJID TOXWATCH-\d{5}, EXSEQ 4\): 250"):
        sdtm.write_sdtm(tmp_path / "xpt", fmt="xpt", url=db_url, as_of=TODAY)
    assert {p.name: p.read_bytes() for p in (tmp_path / "xpt").iterdir()} == before
    assert sdtm.write_sdtm(tmp_path / "json", fmt="json", url=db_url, as_of=TODAY)["EX"] == 4


def test_an_empty_database_gives_every_file_with_its_columns(db_url, tmp_path):
    archive = zipfile.ZipFile(io.BytesIO(sdtm.sdtm_archive(fmt="xpt", url=db_url, as_of=TODAY)))
    assert sorted(archive.namelist()) == sorted([f"{n}.xpt" for n in NAMES] + ["define.json", "define.md"])
    archive.extractall(tmp_path / "xpt")
    for name in NAMES:
        frame, meta = pyreadstat.read_xport(str(tmp_path / "xpt" / f"{name}.xpt"))
        assert len(frame) == 0 and list(frame.columns) == columns(name.upper()) and meta.table_name == name.upper()
    assert sdtm.write_sdtm(tmp_path / "json", fmt="json", url=db_url, as_of=TODAY) == {d: 0 for d in DATASETS}
    for name in NAMES:
        data = json.loads((tmp_path / "json" / f"{name}.json").read_text("utf-8"))
        assert data["records"] == 0 and data["rows"] == [] and [c["name"] for c in data["columns"]] == columns(
            name.upper())
    define = json.loads(archive.read("define.json"))
    assert all(d["records"] == 0 for d in define["datasets"])
    assert Path(tmp_path / "json" / "define.md").read_text("utf-8").count("| 0 |") >= 6


def test_a_patient_without_dose_records_is_exposed_from_the_start_and_a_death_is_serious(db_url, tmp_path):
    """An import without doses.csv: the planned dose from the treatment start, as the exposure periods count it;
    a grade 5 event recorded as not serious is serious (AESER = Y)."""
    from models.exchange import csv_import

    files = {"patients.csv": "mrn,name,birth_date,treatment_start,planned_dose_mg\nP-9,Ann,,2026-01-05,5\n",
             "adverse_events.csv": "mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes\n"
                                   "P-9,Pneumonitis,5,2026-02-01,2026-02-03,no,possible,,\n"}
    assert csv_import.import_files({k: v.encode() for k, v in files.items()}, ADMIN, today=TODAY, url=db_url).ok
    domains = sdtm.build_domains(db_url, as_of=TODAY)
    ex, dm, ae = domains["EX"], domains["DM"], domains["AE"]
    assert list(zip(ex["EXDOSE"], ex["EXSTDTC"], ex["EXSTDY"])) == [(5.0, "2026-01-05", 1)]
    assert dm["ACTARM"].tolist() == ["EVEROLIMUS + EXEMESTANE"] and dm["ARMNRS"].isna().all()
    assert ae[["AESER", "AESDTH"]].values.tolist() == [["Y", "Y"]]


def test_cli_export_refuses_a_value_too_long_for_xpt_without_a_traceback(db_url, tmp_path):
    from tests.application.test_cli import run_cli

    patient = records.register_patient({"mrn": "P-10", "name": "Ann", "treatment_start": date(2026, 1, 5)}, [],
                                       ADMIN, today=TODAY, url=db_url)
    records.create("dose_event", {"patient_id": patient["id"], "effective_date": date(2026, 2, 1), "action": "reduce",
                                  "dose_mg": 5, "reason": "y" * 300}, ADMIN, today=TODAY, url=db_url)
    result = run_cli("export-sdtm", str(tmp_path / "out"), "--as-of", "2026-06-01", url=db_url)
    assert result.returncode == 1 and result.stderr.startswith("error: ") and "EXADJ" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out" / "ex.xpt").exists()
