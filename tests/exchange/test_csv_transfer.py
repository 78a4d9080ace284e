"""CSV import and export (models.exchange) on SQLite and PostgreSQL: all or nothing, every problem reported
as `file:line: column: message`, hostile files refused with a clear message, and export -> import -> export
gives the same files."""
from __future__ import annotations

import csv
import json
import re
from datetime import date, timezone
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from models.analysis import incidence
from models.exchange import csv_export, csv_files, csv_import, csv_reading
from models.store import queries, records
from models.store.db import dispose_engine, read_session
from models.store.migrate import upgrade_to_head
from models.store.records import Actor
from models.store.tables import AdverseEvent, AuditEntry, ConcomitantMedication, DoseEvent, LabResult, Patient
from tests.conftest import DEMO_TODAY
from tests.application.test_cli import run_cli

ADMIN = Actor("ada.admin", "admin")
NURSE = Actor("nina.nurse", "nurse")
TODAY = date(2026, 6, 1)
TABLES = {"patient": Patient, "adverse_event": AdverseEvent, "lab_result": LabResult, "dose_event": DoseEvent}
PROBLEM_FORMAT = re.compile(r"[^:\n]+:\d+: [^:\n]+: [^\n]+")

PATIENTS = """mrn,name,birth_date,treatment_start,planned_dose_mg
P-001,Ann Example,1960-03-02,2026-01-05,10
P-002,Bob Example,,2026-02-01,
"""
EVENTS = """mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes
P-001,Stomatitis,2,2026-01-20,2026-02-01,no,Probable,DOSE REDUCED,"sore, mouth"
P-001,Fatigue,1,2025-12-20,,No,,,present before the first dose
P-002,Pneumonitis,3,2026-03-01,,YES,possible,drug interrupted,
"""
LABS = """mrn,test,value,unit,lln,uln,collected_on
P-001,hemoglobin,13.1,g/dL,12,16,2026-01-02
P-002,AST,130,U/L,,40,2026-03-01
"""
DOSES = """mrn,date,action,dose_mg,reason
P-001,2026-01-05,start,10,
P-002,2026-02-01,start,10,
P-002,2026-03-02,hold,0,Pneumonitis grade 3
"""
VALID = {"patients.csv": PATIENTS, "adverse_events.csv": EVENTS, "labs.csv": LABS, "doses.csv": DOSES}
VALID_COUNTS = {"patients.csv": 2, "adverse_events.csv": 3, "labs.csv": 2, "doses.csv": 3}


# --- helpers ------------------------------------------------------------------------------------------

def _folder(path: Path, files: dict[str, str | bytes]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (path / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _encoded(files: dict[str, str | bytes]) -> dict[str, bytes]:
    return {name: c if isinstance(c, bytes) else c.encode("utf-8") for name, c in files.items()}


def _state(url: str) -> dict[str, int]:
    """Row counts of every clinical table and of the audit trail."""
    with read_session(url) as session:
        counts = {kind: session.scalar(select(func.count()).select_from(table)) for kind, table in TABLES.items()}
    return {**counts, "audit": queries.audit_count(url)}


def _rows(url: str, table, *columns: str) -> list[tuple]:
    with read_session(url) as session:
        return [tuple(getattr(row, c) for c in columns) for row in session.exec(select(table).order_by(table.id))]


def _import(url: str, files: dict[str, str | bytes], actor: Actor = ADMIN, **kwargs) -> csv_import.ImportReport:
    return csv_import.import_files(_encoded(files), actor, today=kwargs.pop("today", TODAY), url=url, **kwargs)


def _refused(url: str, files: dict[str, str | bytes], **kwargs) -> list[str]:
    """Import files that must be refused; check that nothing was written; return the problems."""
    before = _state(url)
    report = _import(url, files, **kwargs)
    assert not report.ok and not report.written
    assert report.summary.startswith("Nothing imported:")
    assert all(PROBLEM_FORMAT.fullmatch(p) for p in report.problems), report.problems
    assert _state(url) == before
    return report.problems


# --- valid imports ------------------------------------------------------------------------------------

def test_valid_folder_imports_every_row_with_one_audit_entry_each(db_url, tmp_path):
    report = csv_import.import_folder(_folder(tmp_path / "in", VALID), ADMIN, today=TODAY, url=db_url)

    assert report.ok and report.written and report.problems == []
    assert report.counts == VALID_COUNTS
    assert report.summary == ("Imported 10 rows (patients.csv 2, adverse_events.csv 3, labs.csv 2, "
                              "doses.csv 3).")
    assert _state(db_url) == {"patient": 2, "adverse_event": 3, "lab_result": 2, "dose_event": 3, "audit": 11}
    with read_session(db_url) as session:
        audits = session.exec(select(AuditEntry).order_by(AuditEntry.id)).all()
        creates = [(a.username, a.record_type, a.record_id) for a in audits if a.action == "create"]
        summary = [json.loads(a.detail) for a in audits if a.action == "import"]
    for kind, table in TABLES.items():  # exactly one "create" entry per imported row, by the importer
        ids = [row_id for (row_id,) in _rows(db_url, table, "id")]
        assert sorted(r for u, k, r in creates if k == kind and u == ADMIN.username) == ids
    assert len(creates) == 10
    assert summary == [{"source": str(tmp_path / "in"), "rows": VALID_COUNTS}]

    # Synonyms, CDISC values and case are mapped to the stored vocabulary; empty = missing / default.
    assert _rows(db_url, AdverseEvent, "term", "serious", "attribution", "action_taken", "notes") == [
        ("Mucositis oral", False, "probable", "reduced", "sore, mouth"),
        ("Fatigue", False, None, None, "present before the first dose"),
        ("Pneumonitis", True, "possible", "held", None)]
    assert _rows(db_url, Patient, "mrn", "birth_date", "planned_dose_mg") == [
        ("P-001", date(1960, 3, 2), 10.0), ("P-002", None, 10.0)]
    assert _rows(db_url, LabResult, "test", "baseline", "ctcae_term") == [
        ("hemoglobin", True, "Anemia"), ("ast", False, "Aspartate aminotransferase increased")]
    assert _rows(db_url, DoseEvent, "action", "dose_mg", "reason") == [
        ("start", 10.0, None), ("start", 10.0, None), ("hold", 0.0, "Pneumonitis grade 3")]


def test_an_event_already_stored_or_repeated_in_the_file_is_reported_on_its_line(db_url):
    """The import reads each patient's events once: it must still see the stored ones, the ones of earlier
    rows, and forget a row that was undone (a cell it could not read)."""
    patient = records.create("patient", {"mrn": "D-1", "name": "Dee", "treatment_start": date(2026, 1, 5)}, ADMIN,
                             today=TODAY, url=db_url)
    records.create("adverse_event", {"patient_id": patient["id"], "term": "Fatigue", "grade": 1,
                                     "onset_date": date(2026, 2, 1)}, ADMIN, today=TODAY, url=db_url)
    events = ("mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes\n"
              "D-1,Fatigue,2,2026-02-01,,no,,,\n"         # stored already
              "D-1,Stomatitis,1,2026-02-03,,no,,,\n"
              "D-1,Stomatitis,2,2026-02-03,,no,,,\n"      # repeats line 3
              "D-1,Pneumonitis,2,2026-02-05,,maybe,,,\n"  # a cell that cannot be read: written, checked, undone
              "D-1,Pneumonitis,2,2026-02-05,,no,,,\n")    # so this is not a repeat
    assert _refused(db_url, {"adverse_events.csv": events}) == [
        "adverse_events.csv:2: term: Fatigue with onset 2026-02-01 is already recorded for this patient.",
        "adverse_events.csv:4: term: Mucositis oral with onset 2026-02-03 is already recorded for this patient.",
        "adverse_events.csv:5: serious: Must be yes or no (got 'maybe')."]

    fixed = events.replace("maybe", "no").splitlines()
    report = _import(db_url, {"adverse_events.csv": "\n".join(fixed[:1] + fixed[2:3] + fixed[5:]) + "\n"})
    assert report.ok, report.problems
    assert _rows(db_url, AdverseEvent, "term", "grade") == [("Fatigue", 1), ("Mucositis oral", 1),
                                                            ("Pneumonitis", 2)]
    assert _state(db_url)["audit"] == 2 + 2 + 1  # two creates before, two rows and the import entry


def test_dry_run_checks_everything_and_writes_nothing(db_url):
    report = _import(db_url, VALID, dry_run=True)

    assert report.ok and report.dry_run and not report.written
    assert report.counts == VALID_COUNTS
    assert report.summary == ("Dry run: 10 rows would be imported (patients.csv 2, adverse_events.csv 3, "
                              "labs.csv 2, doses.csv 3); nothing written.")
    assert _state(db_url) == {"patient": 0, "adverse_event": 0, "lab_result": 0, "dose_event": 0, "audit": 0}
    assert _import(db_url, VALID).counts == VALID_COUNTS  # and the real import still works afterwards


def test_events_refer_to_patients_already_in_the_database(db_url):
    _import(db_url, {"patients.csv": PATIENTS})
    report = _import(db_url, {"adverse_events.csv": EVENTS, "doses.csv": DOSES})
    assert report.ok and report.counts == {"adverse_events.csv": 3, "doses.csv": 3}


def test_pre_treatment_onset_is_stored_as_baseline_and_never_counts(db_url):
    events = EVENTS.splitlines()[0] + "\n" + "\n".join([
        "P-001,Fatigue,2,2025-12-20,,no,,,",          # before the treatment start 2026-01-05
        "P-001,Mucositis oral,2,2026-01-05,,no,,,",    # on the first dose day: treatment-emergent
        "P-002,Fatigue,1,2026-01-31,2026-02-05,no,,,",  # the day before P-002's start
    ]) + "\n"
    report = _import(db_url, {"patients.csv": PATIENTS, "adverse_events.csv": events})

    assert report.ok
    assert _rows(db_url, AdverseEvent, "term", "onset_date", "baseline") == [
        ("Fatigue", date(2025, 12, 20), True), ("Mucositis oral", date(2026, 1, 5), False),
        ("Fatigue", date(2026, 1, 31), True)]
    assert [n for n in report.notes if "pre-existing" in n] == [
        f"adverse_events.csv:{line}: onset {onset} is before the treatment start: pre-existing (baseline), not "
        "treatment-emergent." for line, onset in ((2, "2025-12-20"), (4, "2026-01-31"))]
    n, rows = incidence.cohort_incidence(db_url, as_of=TODAY)
    counted = {row["term"]: row["any_grade"].patients for row in rows}
    assert n == 2
    assert counted["Mucositis oral"] == 1
    assert counted.get("Fatigue", 0) == 0


def test_cdisc_and_own_action_values_are_accepted_in_any_case(db_url):
    values = ["DOSE NOT CHANGED", "Drug Interrupted", "dose reduced", "DRUG WITHDRAWN", "None", "HELD", ""]
    lines = [f"P-001,Fatigue,1,2026-02-{day:02d},2026-02-{day:02d},Y,unrelated,{value},"  # one-day episodes
             for day, value in enumerate(values, start=1)]
    report = _import(db_url, {"patients.csv": PATIENTS,
                              "adverse_events.csv": EVENTS.splitlines()[0] + "\n" + "\n".join(lines) + "\n"})

    assert report.ok, report.problems
    assert _rows(db_url, AdverseEvent, "action_taken", "serious") == [
        ("none", True), ("held", True), ("reduced", True), ("discontinued", True), ("none", True),
        ("held", True), (None, True)]


# --- all or nothing: every problem, nothing written ----------------------------------------------------

BAD_PATIENTS = """mrn,name,birth_date,treatment_start,planned_dose_mg
P-001,Ann Example,1960-03-02,2026-01-05,10
P-BAD,Bad Dates,02/03/1960,2026-13-01,ten
P-OLD,Already There,,2026-01-05,10
P-001,Twice,,2026-01-05,10
P-FUT,Future,,2026-07-01,10
"""
BAD_EVENTS = """mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes
P-001,Mucositis oral,2,2026-01-20,not-a-date,no,,,
P-001,Mucositis oral,2,2026-01-20,,no,,,
P-NONE,Fatigue,1,2026-02-01,,no,,,
P-BAD,Fatigue,1,2026-02-01,,no,,,
P-001,Fatigue,1,2026-02-01,,maybe,sure,stopped,
P-001,Pneumonitis,9,2026-02-01,,no,,,
P-001,Fatigue,1,2026-02-10,2026-02-01,no,,,
P-001,Fatigue,2
"""
BAD_LABS = """mrn,test,value,unit,lln,uln,collected_on
P-001,hemoglobin,"12,5",g/dL,12,16,2026-01-02
P-001,glucose,100,mg/dL,,,2026-01-02
P-001,hemoglobin,-1,g/dL,12,16,2026-01-02
P-001,platelets,150,10^9/L,400,150,2026-01-02
P-001,hemoglobin,13,furlongs,12,16,2026-01-02
"""
BAD_DOSES = """mrn,date,action,dose_mg,reason
P-001,2026-01-05,start,10,
P-001,2026-03-01,hold,10,
P-001,2026-03-08,resume,,
P-001,2026-03-08,pause,0,
P-001,2026-03-09,reduce,25,
"""


def test_every_problem_in_every_file_is_reported_and_nothing_written(db_url, tmp_path):
    records.create("patient", {"mrn": "P-OLD", "name": "Old Patient", "treatment_start": date(2025, 1, 1)},
                   ADMIN, today=TODAY, url=db_url)
    before = _state(db_url)
    folder = _folder(tmp_path / "bad", {"patients.csv": BAD_PATIENTS, "adverse_events.csv": BAD_EVENTS,
                                        "labs.csv": BAD_LABS, "doses.csv": BAD_DOSES})
    report = csv_import.import_folder(folder, ADMIN, today=TODAY, url=db_url)

    assert not report.ok and _state(db_url) == before
    where = [tuple(p.split(": ", 2)[:2]) for p in report.problems]
    assert where == [
        ("patients.csv:3", "birth_date"), ("patients.csv:3", "treatment_start"),
        ("patients.csv:3", "planned_dose_mg"), ("patients.csv:4", "mrn"), ("patients.csv:5", "mrn"),
        ("patients.csv:6", "treatment_start"),
        # line 2 (bad resolved_date) was undone, so line 3, the same event, is no duplicate
        ("adverse_events.csv:2", "resolved_date"), ("adverse_events.csv:4", "mrn"), ("adverse_events.csv:5", "mrn"),
        ("adverse_events.csv:6", "serious"), ("adverse_events.csv:6", "attribution"),
        ("adverse_events.csv:6", "action_taken"), ("adverse_events.csv:7", "grade"),
        ("adverse_events.csv:8", "resolved_date"), ("adverse_events.csv:9", "record"),
        ("labs.csv:2", "value"), ("labs.csv:3", "test"), ("labs.csv:4", "value"), ("labs.csv:5", "lln"),
        ("labs.csv:6", "unit"),
        ("doses.csv:3", "dose_mg"), ("doses.csv:4", "dose_mg"), ("doses.csv:5", "action"), ("doses.csv:6", "dose_mg"),
    ]
    for expected in [
        "patients.csv:3: birth_date: Not a date in YYYY-MM-DD form: '02/03/1960'.",
        "patients.csv:3: treatment_start: No such date: '2026-13-01'.",
        "patients.csv:3: planned_dose_mg: Not a number: 'ten'.",
        "patients.csv:4: mrn: MRN P-OLD is already registered.",
        "patients.csv:5: mrn: MRN P-001 is already in patients.csv (line 2).",
        "patients.csv:6: treatment_start: Treatment start 2026-07-01 is in the future (today is 2026-06-01).",
        "adverse_events.csv:4: mrn: No patient with MRN 'P-NONE' in the database; patients.csv does not list it "
        "either.",
        "adverse_events.csv:5: mrn: The patient P-BAD was refused (patients.csv line 3).",
        "adverse_events.csv:6: serious: Must be yes or no (got 'maybe').",
        "adverse_events.csv:7: grade: Grade 9 is not defined for Pneumonitis in CTCAE v5 (defined grades: 1, 2, 3, "
        "4, 5).",
        "adverse_events.csv:8: resolved_date: Resolution date 2026-02-01 is before the onset date 2026-02-10.",
        "adverse_events.csv:9: record: 3 cells, but the header has 9 columns.",
        "labs.csv:2: value: Not a number: '12,5' (use a point as the decimal separator).",
        "labs.csv:5: lln: The lower limit of normal (400) must be below the upper (150).",
        "doses.csv:3: dose_mg: A hold has a daily dose of 0 mg.",
        "doses.csv:4: dose_mg: Required; the cell is empty.",
    ]:
        assert expected in report.problems
    assert report.summary == ("Nothing imported: 24 problems in patients.csv, adverse_events.csv, labs.csv, "
                              "doses.csv.")


def test_a_role_that_may_not_write_a_file_is_refused(db_url):
    problems = _refused(db_url, {"patients.csv": PATIENTS, "doses.csv": DOSES}, actor=NURSE)
    assert problems == ["doses.csv:1: file: A nurse cannot import dose event records."]


def test_multi_line_cells_keep_the_physical_line_numbers(db_url):
    events = EVENTS.splitlines()[0] + "\n" + \
        'P-001,Fatigue,1,2026-02-01,2026-02-01,no,,,"first line\nsecond line, with comma\nthird ""quoted"""\n' + \
        "P-001,Fatigue,1,2026-02-02,,perhaps,,,\n"
    problems = _refused(db_url, {"patients.csv": PATIENTS, "adverse_events.csv": events})
    assert problems == ["adverse_events.csv:5: serious: Must be yes or no (got 'perhaps')."]
    assert _import(db_url, {"patients.csv": PATIENTS,
                            "adverse_events.csv": events.replace("P-001,Fatigue,1,2026-02-02,,perhaps,,,\n", "")}).ok
    assert _rows(db_url, AdverseEvent, "notes") == [('first line\nsecond line, with comma\nthird "quoted"',)]


# --- hostile files ------------------------------------------------------------------------------------

HEADER = "mrn,name,birth_date,treatment_start,planned_dose_mg"


@pytest.mark.parametrize("content, expected", [
    pytest.param(f"{HEADER}\nP-1,Jos\xe9,,2026-01-05,10\n".encode("latin-1"),
                 ["patients.csv:2: file: Not UTF-8 text (byte 0xE9 on line 2); save the file as CSV UTF-8. "
                  "Nothing in the file was read."], id="latin-1"),
    pytest.param(f"{HEADER}\nP-1,José,,2026-01-05,10\n".encode("utf-16"),
                 ["patients.csv:1: file: UTF-16 text, not UTF-8; save the file as CSV UTF-8."], id="utf-16"),
    pytest.param(b"PK\x03\x04\x14\x00\x06\x00binary workbook",
                 ["patients.csv:1: file: An Excel workbook or other zip file, not CSV text; save it as CSV UTF-8."],
                 id="xlsx"),
    pytest.param(b"", [f"patients.csv:1: file: The file is empty; it needs at least the header row: {HEADER}."],
                 id="empty"),
    pytest.param(b"\n\n", [f"patients.csv:1: file: The file is empty; it needs at least the header row: {HEADER}."],
                 id="blank-lines"),
    pytest.param(b"mrn,name,treatment_start\nP-1,Ann,2026-01-05\n",
                 [f"patients.csv:1: birth_date: Missing column; the header must name {HEADER}.",
                  f"patients.csv:1: planned_dose_mg: Missing column; the header must name {HEADER}."],
                 id="missing-columns"),
    pytest.param(f"{HEADER},colour\nP-1,Ann,,2026-01-05,10,red\n".encode(),
                 [f"patients.csv:1: colour: Unknown column; patients.csv has the columns {HEADER}, and may have "
                  "status,notes."],
                 id="extra-column"),
    pytest.param(f"{HEADER},dexamethasone_prophylaxis\nP-1,Ann,,2026-01-05,10,maybe\n".encode(),
                 ["patients.csv:2: dexamethasone_prophylaxis: Must be yes or no (got 'maybe')."],
                 id="legacy-column-bad-value"),
    pytest.param(f"{HEADER},MRN\nP-1,Ann,,2026-01-05,10,P-1\n".encode(),
                 ["patients.csv:1: mrn: The column appears twice in the header (cells 1 and 6)."],
                 id="duplicate-column"),
    pytest.param(f"{HEADER},\nP-1,Ann,,2026-01-05,10,\n".encode(),
                 ["patients.csv:1: record: Header cell 6 is empty; every column needs a name."], id="unnamed-column"),
    pytest.param(f"{HEADER}\nP-1,Ann,,2026-01-05,10,extra\nP-2,Bob,,2026-01-05\n".encode(),
                 ["patients.csv:2: record: 6 cells, but the header has 5 columns.",
                  "patients.csv:3: record: 4 cells, but the header has 5 columns."], id="cell-counts"),
    pytest.param(f'{HEADER}\nP-1,"Ann,,2026-01-05,10\nP-2,Bob,,2026-01-05,10\n'.encode(),
                 ["patients.csv:2: record: 2 cells, but the header has 5 columns; a quote that is never closed may "
                  "have joined lines 2-3."], id="unclosed-quote"),
    pytest.param(f"{HEADER}\nP-1,Ann,2026-1-5,5.1.2026,1e400\n".encode(),
                 ["patients.csv:2: birth_date: Not a date in YYYY-MM-DD form: '2026-1-5'.",
                  "patients.csv:2: treatment_start: Not a date in YYYY-MM-DD form: '5.1.2026'.",
                  "patients.csv:2: planned_dose_mg: Not a number: '1e400'."], id="bad-dates-and-numbers"),
    pytest.param(f"{HEADER}\nP 1,Ann\x07,,2026-01-05,nan\n".encode(),
                 ["patients.csv:2: mrn: MRN must not contain spaces.",
                  "patients.csv:2: name: Name contains control characters.",
                  "patients.csv:2: planned_dose_mg: Not a number: 'nan'."], id="bad-text"),
])
def test_hostile_files_are_refused_with_a_clear_message(db_url, content, expected):
    assert _refused(db_url, {"patients.csv": content}) == expected


def test_header_only_files_are_fine(db_url):
    report = _import(db_url, {name: ",".join(columns) + "\n" for name, columns in csv_files.COLUMNS.items()})
    assert report.ok and report.counts == dict.fromkeys(csv_files.FILES, 0)
    assert report.summary.startswith("Imported 0 rows")
    assert _state(db_url)["audit"] == 1  # only the "import" entry


def test_bom_crlf_header_case_and_blank_lines_are_accepted(db_url):
    content = ("\ufeffMRN, Name ,birth_date,treatment_start,planned_dose_mg\r\n\r\n"
               "P-1,José Núñez,,2026-01-05,7.5\r\n,,,,\r\n")
    report = _import(db_url, {"patients.csv": content.encode("utf-8")})
    assert report.ok, report.problems
    assert _rows(db_url, Patient, "mrn", "name", "planned_dose_mg") == [("P-1", "José Núñez", 7.5)]


def test_grade_5_needs_the_date_of_death_in_resolved_date(db_url):
    events = EVENTS.splitlines()[0] + "\nP-001,Pneumonitis,5,2026-03-01,,yes,possible,drug withdrawn,\n"
    assert _refused(db_url, {"patients.csv": PATIENTS, "adverse_events.csv": events}) == [
        "adverse_events.csv:2: resolved_date: Grade 5 (death): give the date of death as resolved_date."]
    report = _import(db_url, {"patients.csv": PATIENTS,
                              "adverse_events.csv": events.replace("2026-03-01,,", "2026-03-01,2026-03-04,")})
    assert report.ok
    assert _rows(db_url, AdverseEvent, "grade", "resolved_date", "death_date", "outcome") == [
        (5, date(2026, 3, 4), date(2026, 3, 4), "fatal")]


def test_too_big_files_are_refused_before_reading(db_url, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reading, "MAX_FILE_BYTES", 1024 * 1024)
    big = (f"{HEADER}\n" + "P-1,Ann,,2026-01-05,10\n" * 60_000).encode()
    expected = ["patients.csv:1: file: The file is 1.3 MB, over the 1 MB limit; split it and import the parts one "
                "after the other."]
    assert _refused(db_url, {"patients.csv": big}) == expected
    report = csv_import.import_folder(_folder(tmp_path / "big", {"patients.csv": big}), ADMIN, url=db_url)
    assert report.problems == expected and _state(db_url)["patient"] == 0


def test_files_with_too_many_rows_and_odd_upload_names_are_refused(db_url, monkeypatch):
    monkeypatch.setattr(csv_reading, "MAX_ROWS", 3)
    rows = "".join(f"P-{i},Name {i},,2026-01-05,10\n" for i in range(4))
    assert _refused(db_url, {"patients.csv": f"{HEADER}\n{rows}"}) == [
        "patients.csv:5: file: More than 3 rows; split the file and import the parts one after the other."]
    assert _refused(db_url, {"patients.csv": PATIENTS, "x: 1\n.csv": "mrn\n"}) == [
        "'x? 1?.csv':1: file: Not one of the files import reads: patients.csv, adverse_events.csv, labs.csv, "
        "doses.csv, conmeds.csv; rename it or leave it out."]


def test_folder_other_files_unknown_csv_and_empty_folders(db_url, tmp_path):
    folder = _folder(tmp_path / "mixed", {"patients.csv": PATIENTS, "README.txt": "hello",
                                          "._patients.csv": b"\x00\x05\x16\x07"})
    report = csv_import.import_folder(folder, ADMIN, today=TODAY, url=db_url)
    assert report.ok and report.counts == {"patients.csv": 2}
    assert report.notes == ["ignored ._patients.csv (not one of the CSV files import reads)",
                            "ignored README.txt (not one of the CSV files import reads)"]

    _folder(folder, {"adverse_event.csv": EVENTS})  # misnamed: it would be skipped silently otherwise
    before = _state(db_url)
    report = csv_import.import_folder(folder, ADMIN, today=TODAY, url=db_url)
    assert "adverse_event.csv:1: file: Not one of the files import reads (did you mean adverse_events.csv?): " \
           "patients.csv, adverse_events.csv, labs.csv, doses.csv, conmeds.csv; rename it or leave it out." in report.problems
    assert _state(db_url) == before

    empty = _folder(tmp_path / "empty", {"notes.md": "nothing"})
    report = csv_import.import_folder(empty, ADMIN, url=db_url)
    assert report.problems == [f"{empty}:1: file: none of patients.csv, adverse_events.csv, labs.csv, doses.csv, conmeds.csv "
                               "is in this folder."]
    assert csv_import.import_files({}, ADMIN, url=db_url).problems == [
        "upload:1: file: no files; upload any of patients.csv, adverse_events.csv, labs.csv, doses.csv, conmeds.csv."]
    with pytest.raises(FileNotFoundError):
        csv_import.import_folder(tmp_path / "missing", ADMIN, url=db_url)


# --- export and round trip ----------------------------------------------------------------------------

def _fresh_sqlite(tmp_path: Path, name: str) -> str:
    url = f"sqlite:///{tmp_path / name}"
    upgrade_to_head(url)
    return url


TRICKY = {
    "patients.csv": """mrn,name,birth_date,treatment_start,planned_dose_mg
Z-9,"Zoë ""Zed"" O'Neil, Jr.",1950-12-31,2026-01-05,7.50
A-1,Ann,,2026-02-01,
""",
    "adverse_events.csv": """mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes
Z-9,Stomatitis,2,2026-01-20,,YES,Probable,DOSE REDUCED,"line one
line two, with comma"
Z-9,Fatigue,1,2025-12-01,2025-12-20,n,,,baseline
A-1,Pneumonitis,5,2026-03-01,2026-03-09,yes,definite,DRUG WITHDRAWN,
A-1,Anemia,2,2026-02-10,,no,,,
""",
    "labs.csv": """mrn,test,value,unit,lln,uln,collected_on
Z-9,hemoglobin,0.1,g/dL,12,16,2026-01-03
Z-9,ALT,1e-07,,,40,2026-01-21
A-1,platelets,151.25,10^9/L,150,400,2026-02-02
""",
    "doses.csv": """mrn,date,action,dose_mg,reason
Z-9,2026-01-05,start,7.5,
Z-9,2026-01-21,hold,,"Stomatitis, grade 2"
A-1,2026-02-01,start,10,
A-1,2026-03-05,discontinue,0,Pneumonitis
""",
    # a synonym in another case and a route with a space are stored as the catalogue and vocabulary name them;
    # free text (here a formula) is kept as typed
    "conmeds.csv": """mrn,drug,dose,route,start_date,stop_date,indication
Z-9,dexamethasone oral solution,10 mL 4 times daily,Oral rinse,2026-01-05,,Stomatitis prophylaxis
Z-9,"=HYPERLINK(""x"") herbal tea",,,2026-01-10,,
A-1,fluconazole,200 mg daily,oral,2026-02-20,2026-02-27,oral candidiasis
""",
}
TRICKY_EXPORT = {
    "patients.csv": """mrn,name,birth_date,treatment_start,planned_dose_mg,status,notes
A-1,Ann,,2026-02-01,10,on_treatment,
Z-9,"Zoë ""Zed"" O'Neil, Jr.",1950-12-31,2026-01-05,7.5,on_treatment,
""",
    "adverse_events.csv": """mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes,\
death_date,outcome,source,baseline,previous_onset_date,previous_grade
A-1,Anemia,2,2026-02-10,,no,,,,,,reported,no,,
A-1,Pneumonitis,5,2026-03-01,2026-03-09,yes,definite,discontinued,,2026-03-09,fatal,reported,no,,
Z-9,Fatigue,1,2025-12-01,2025-12-20,no,,,baseline,,,reported,yes,,
Z-9,Mucositis oral,2,2026-01-20,,yes,probable,reduced,"line one
line two, with comma",,,reported,no,,
""",
    "labs.csv": """mrn,test,value,unit,lln,uln,collected_on
A-1,platelets,151.25,10^9/L,150,400,2026-02-02
Z-9,hemoglobin,0.1,g/dL,12,16,2026-01-03
Z-9,alt,1e-07,,,40,2026-01-21
""",
    "doses.csv": """mrn,date,action,dose_mg,reason,every_other_day,event_term,event_onset_date,event_grade,verified_by,\
verified_at
A-1,2026-02-01,start,10,,no,,,,,
A-1,2026-03-05,discontinue,0,Pneumonitis,no,,,,,
Z-9,2026-01-05,start,7.5,,no,,,,,
Z-9,2026-01-21,hold,0,"Stomatitis, grade 2",no,,,,,
""",
    "conmeds.csv": """mrn,drug,dose,route,start_date,stop_date,indication,notes,event_term,event_onset_date,event_grade
A-1,Fluconazole,200 mg daily,oral,2026-02-20,2026-02-27,oral candidiasis,,,,
Z-9,Dexamethasone mouthwash,10 mL 4 times daily,oral_rinse,2026-01-05,,Stomatitis prophylaxis,,,,
Z-9,"'=HYPERLINK(""x"") herbal tea",,,2026-01-10,,,,,,
""",
}


def test_export_writes_the_import_format_and_round_trips(db_url, tmp_path):
    assert _import(db_url, TRICKY).ok
    exported = csv_export.export_files(db_url)
    assert exported == TRICKY_EXPORT

    target = _fresh_sqlite(tmp_path, "target.db")
    report = _import(target, exported)
    assert report.ok, report.problems
    assert csv_export.export_files(target) == exported
    clinical = ("term", "grade", "onset_date", "resolved_date", "death_date", "serious", "attribution",
                "action_taken", "outcome", "baseline", "notes")
    assert sorted(_rows(target, AdverseEvent, *clinical)) == sorted(_rows(db_url, AdverseEvent, *clinical))
    dispose_engine(target)


def test_export_leaves_out_records_entered_in_error(db_url, tmp_path):
    assert _import(db_url, TRICKY).ok
    with read_session(db_url) as session:
        anemia = session.exec(select(AdverseEvent).where(AdverseEvent.term == "Anemia")).one()
    records.mark_entered_in_error("adverse_event", anemia.id, anemia.version, "wrong patient", ADMIN, url=db_url)

    counts = csv_export.export_folder(tmp_path / "out", url=db_url)
    assert counts == {"patients.csv": 2, "adverse_events.csv": 3, "labs.csv": 3, "doses.csv": 4, "conmeds.csv": 3}
    written = {name: (tmp_path / "out" / name).read_text(encoding="utf-8") for name in csv_files.FILES}
    assert "Anemia" not in written["adverse_events.csv"]
    assert written == csv_export.export_files(db_url)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(csv_files.FILES)


# Every optional column in use: statuses, prophylaxis, notes (one a formula), a grade change chain handing over
# on one day, a date of death apart from the resolution date, a lab-sourced event, a dose hold and an
# every-other-day resume linked to their event, a discontinuation linked to another, a carried verification.
WHOLE = {
    "patients.csv": """mrn,name,birth_date,treatment_start,planned_dose_mg,status,notes
W-1,Willow Test,1960-05-05,2026-02-01,10,held,=SUM(A1) is not a formula
W-2,Wren Test,,2026-03-15,10,discontinued,
""",
    "adverse_events.csv": """mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes,\
death_date,outcome,source,baseline,previous_onset_date,previous_grade
W-1,Platelet count decreased,3,2026-03-01,2026-03-10,no,probable,held,,,recovering,lab,no,,
W-1,Platelet count decreased,1,2026-03-10,,no,probable,reduced,,,not_recovered,lab,no,2026-03-01,3
W-1,Fatigue,1,2026-01-20,,no,,,before the first dose,,,reported,yes,,
W-2,Pneumonitis,3,2026-04-01,2026-04-04,yes,probable,discontinued,,,recovering,reported,no,,
W-2,Pneumonitis,5,2026-04-05,2026-04-06,yes,probable,discontinued,,2026-04-07,fatal,reported,no,2026-04-01,3
""",
    "labs.csv": """mrn,test,value,unit,lln,uln,collected_on
W-1,platelets,40,10^9/L,150,400,2026-03-01
""",
    "doses.csv": """mrn,date,action,dose_mg,reason,every_other_day,event_term,event_onset_date,event_grade,verified_by,\
verified_at
W-1,2026-02-01,start,10,,no,,,,,
W-1,2026-03-01,hold,0,Platelets 40,no,Platelet count decreased,2026-03-01,3,Phil.Pharm,2026-03-02T09:15:00+00:00
W-1,2026-03-11,resume,2.5,Platelets recovered,yes,Platelet count decreased,2026-03-01,3,,
W-2,2026-03-15,start,10,,no,,,,,
W-2,2026-04-02,discontinue,0,Pneumonitis grade 3,no,Pneumonitis,2026-04-01,3,,
""",
    "conmeds.csv": """mrn,drug,dose,route,start_date,stop_date,indication,notes,event_term,event_onset_date,event_grade
W-1,dexamethasone MOUTH RINSE,10 mL 4 times daily,oral rinse,2026-02-01,2026-03-28,Stomatitis prophylaxis,,,,
W-2,Prednisone,50 mg daily,oral,2026-04-01,2026-04-06,Pneumonitis,,Pneumonitis,2026-04-01,3
W-2,Trimethoprim-sulfamethoxazole,,oral,2026-04-02,2026-04-06,PJP prophylaxis,,,,
""",
}
_KEYED_FIELDS = {  # every field a clinician entered, by table; links as the linked record's key
    Patient: ("name", "birth_date", "treatment_start", "planned_dose_mg", "status", "notes"),
    AdverseEvent: ("term", "meddra_code", "grade", "onset_date", "resolved_date", "death_date", "serious",
                   "attribution", "action_taken", "outcome", "source", "baseline", "notes"),
    LabResult: ("test", "value", "unit", "lln", "uln", "collected_on", "baseline", "ctcae_term", "ctcae_grade"),
    DoseEvent: ("effective_date", "action", "dose_mg", "every_other_day", "reason", "verified_by", "verified_at"),
    ConcomitantMedication: ("drug", "in_catalogue", "dose", "route", "start_date", "stop_date", "indication", "notes"),
}


def add_verifier(url: str, role: str = "pharmacist") -> None:
    from models import auth

    auth.add_user("phil.pharm", role, "a long enough passphrase 42", actor="setup", url=url)


def _records_by_key(url: str) -> dict[str, list[tuple]]:
    """Every active record as its patient's MRN and its fields, links as (term, onset, grade): comparable
    between two databases whose ids differ."""
    with read_session(url) as session:
        mrns = dict(session.exec(select(Patient.id, Patient.mrn)).all())
        events = {e.id: (e.term, e.onset_date, e.grade) for e in session.exec(select(AdverseEvent)).all()}
        result = {}
        for table, fields in _KEYED_FIELDS.items():
            rows = session.exec(select(table).where(table.record_status == "active")).all()
            result[table.__name__] = sorted(
                (mrns[row.id if table is Patient else row.patient_id],
                 *(_utc(getattr(row, f)) if f == "verified_at" else getattr(row, f) for f in fields),
                 events.get(getattr(row, "previous_event_id", None) or getattr(row, "adverse_event_id", None)))
                for row in rows)
    return result


def _utc(moment):
    return None if moment is None else moment.replace(tzinfo=None) if moment.tzinfo is None else \
        moment.astimezone(timezone.utc).replace(tzinfo=None)


def _reports(url: str) -> dict:
    from models.analysis import cohort, dose_audit, roster

    as_of = DEMO_TODAY
    frame = roster.roster(url, as_of=as_of).drop(columns=["id"]).sort_values("mrn").reset_index(drop=True)
    return {"incidence": cohort.incidence_report(url, as_of=as_of), "audit": dose_audit.audit_report(url, as_of=as_of),
            "roster": frame.to_dict("records")}


@pytest.mark.timeout(600)
def test_export_import_export_is_byte_identical_and_every_report_agrees(db_url, tmp_path):
    """Issue 15.13: every field a clinician entered survives export -> import (statuses, prophylaxis, notes,
    outcomes, sources, baseline marks, dates of death, grade-change links, dose-to-event links,
    every-other-day, verification), the second export is byte-identical, and the incidence, audit (with dose
    intensity) and roster reports are the same on the imported database (SQLite and PostgreSQL)."""
    from models.demo import seed_demo

    source = _fresh_sqlite(tmp_path, "source.db")
    seed_demo(source, patients=25, seed=3, today=DEMO_TODAY)
    add_verifier(source)
    whole = _import(source, WHOLE, today=DEMO_TODAY)
    assert whole.ok, whole.problems
    exported = csv_export.export_files(source)
    assert exported["patients.csv"].count(",held,") >= 1
    assert "phil.pharm,2026-03-02T09:15:00+00:00" in exported["doses.csv"]  # the account's own spelling

    add_verifier(db_url)  # accounts come before the records that name them
    report = _import(db_url, exported, today=DEMO_TODAY)
    assert report.ok, report.problems[:5]
    assert csv_export.export_files(db_url) == exported
    imported, original = _records_by_key(db_url), _records_by_key(source)
    assert imported == original
    links = sum(1 for row in original["AdverseEvent"] if row[-1]) + sum(1 for row in original["DoseEvent"] if row[-1])
    assert links > 20, "the demo cohort's grade changes and dose actions are linked to their events"
    assert _reports(db_url) == _reports(source)
    dispose_engine(source)


def test_links_and_verifications_that_cannot_be_carried_are_refused_on_their_line(db_url):
    files = {name: WHOLE[name] for name in ("patients.csv", "adverse_events.csv", "doses.csv")}
    files["doses.csv"] = WHOLE["doses.csv"].replace("Pneumonitis,2026-04-01,3", "Pneumonitis,2026-04-01,2") \
        .replace("Platelets recovered,yes,Platelet count decreased,2026-03-01,3,,",
                 "Platelets recovered,yes,Platelet count decreased,2026-03-01,,,") \
        .replace(",Phil.Pharm,2026-03-02T09:15:00+00:00", ",,")  # verifications: below
    assert _refused(db_url, files) == [
        "doses.csv:4: action: Every-other-day dosing is allowed only at the lowest step (2.5 mg) and linked to an "
        "adverse event whose rule allows it (STOM-2, STOM-3, PNEU-3, META-3, THRO-3, NEUT-4, FEBN-3, OTHR-2, OTHR-3).",
        # (the link it had is refused)
        "doses.csv:4: event_grade: A link needs event_term, event_onset_date, event_grade; event_grade is empty.",
        "doses.csv:6: event_onset_date: No Pneumonitis grade 2 with onset 2026-04-01 for this patient earlier in "
        "adverse_events.csv or in the database.",
    ]
    nurse_files = {"patients.csv": WHOLE["patients.csv"], "doses.csv": WHOLE["doses.csv"]}
    assert _refused(db_url, nurse_files, actor=Actor("nurse", "nurse"))[:1] == [
        "doses.csv:1: file: A nurse cannot import dose event records."]
    assert _import(db_url, {name: WHOLE[name] for name in ("patients.csv", "adverse_events.csv")}).ok
    hold_only = WHOLE["doses.csv"].split("W-1,2026-03-11")[0]
    assert _refused(db_url, {"doses.csv": hold_only}) == [  # no such account in this database
        "doses.csv:3: verified_by: 'Phil.Pharm' is no active pharmacist or admin account here; create the account "
        "first, or leave verified_by and verified_at empty."]
    add_verifier(db_url)
    assert _refused(db_url, {"doses.csv": hold_only}, actor=Actor("PHIL.pharm", "pharmacist")) == [
        "doses.csv:3: verified_by: A dose record is verified by someone other than the one who records it; "
        "phil.pharm imports this file."]
    future = hold_only.replace("2026-03-02T09:15:00+00:00", "2099-01-01T00:00:00+00:00")
    assert _refused(db_url, {"doses.csv": future}) == [
        "doses.csv:3: verified_at: The verification time 2099-01-01T00:00:00+00:00 is before the dose's date or in "
        "the future."]
    assert _import(db_url, {"patients.csv": WHOLE["patients.csv"].replace("W-", "V-")}).ok
    one_sided = "mrn,date,action,dose_mg,reason,verified_at\nV-1,2026-02-01,start,10,,2026-02-01T08:00:00+00:00\n"
    assert _refused(db_url, {"doses.csv": one_sided}) == [
        "doses.csv:2: verified_by: A verification needs both verified_by and verified_at."]


@pytest.mark.timeout(600)
def test_demo_cohort_round_trips_through_csv(db_url, tmp_path):
    from models.demo import seed_demo

    source = _fresh_sqlite(tmp_path, "demo.db")
    seed_demo(source, patients=25, seed=3, today=DEMO_TODAY)
    exported = csv_export.export_files(source)
    report = _import(db_url, exported, today=DEMO_TODAY)

    assert report.ok, report.problems[:5]
    assert report.counts == {name: text.count("\n") - 1 for name, text in exported.items()}
    assert report.counts["labs.csv"] > 100 and report.counts["adverse_events.csv"] > 20
    assert csv_export.export_files(db_url) == exported
    dispose_engine(source)


# --- command line (SQLite) ----------------------------------------------------------------------------

def test_cli_import_exit_codes_and_output(tmp_path):
    url = _fresh_sqlite(tmp_path, "cli.db")
    good = _folder(tmp_path / "good", {"patients.csv": PATIENTS, "doses.csv": DOSES})
    bad = _folder(tmp_path / "bad", {"patients.csv": BAD_PATIENTS.replace("P-OLD,Already There,,2026-01-05,10\n", "")
                                      .replace("2026-07-01", "2999-01-01")})

    refused = run_cli("import", str(bad), url=url)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "patients.csv:3: birth_date: Not a date in YYYY-MM-DD form: '02/03/1960'.",
        "patients.csv:3: treatment_start: No such date: '2026-13-01'.",
        "patients.csv:3: planned_dose_mg: Not a number: 'ten'.",
        "patients.csv:4: mrn: MRN P-001 is already in patients.csv (line 2).",
        f"patients.csv:5: treatment_start: Treatment start 2999-01-01 is in the future (today is {date.today()})."]
    assert refused.stdout.splitlines()[-1] == "Nothing imported: 5 problems in patients.csv."
    assert _state(url)["patient"] == 0

    dry = run_cli("import", str(good), "--dry-run", url=url)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[-1] == "dry run: nothing written"
    assert _state(url)["patient"] == 0 and _state(url)["audit"] == 0

    done = run_cli("import", str(good), url=url)
    assert done.returncode == 0, done.stderr
    assert "Imported 5 rows (patients.csv 2, doses.csv 3)." in done.stdout
    with read_session(url) as session:
        users = set(session.exec(select(AuditEntry.username)).all())
    assert len(users) == 1 and users.pop().startswith("cli")

    again = run_cli("import", str(good), url=url)  # the same patients again: refused, nothing added
    assert again.returncode == 1 and "patients.csv:2: mrn: MRN P-001 is already registered." in again.stderr
    assert _state(url)["patient"] == 2

    missing = run_cli("import", str(tmp_path / "nowhere"), url=url)
    assert missing.returncode == 1 and missing.stderr.startswith("error: No such folder")


def test_cli_export_writes_the_four_files(tmp_path):
    url = _fresh_sqlite(tmp_path, "cli.db")
    assert run_cli("import", str(_folder(tmp_path / "in", VALID)), url=url).returncode == 0

    result = run_cli("export", str(tmp_path / "out"), url=url)
    assert result.returncode == 0, result.stderr
    assert "Exported 10 rows" in result.stdout
    for name, text in csv_export.export_files(url).items():
        assert (tmp_path / "out" / name).read_text(encoding="utf-8") == text


def test_a_row_the_database_refuses_does_not_stop_the_checking(db_url, monkeypatch):
    """On PostgreSQL a failed statement aborts the transaction: each row's SAVEPOINT keeps the import going."""
    from sqlalchemy import text

    real_create = records.create

    def create(kind, values, actor, **kwargs):
        if values.get("name") == "Boom":  # a statement the database refuses, in the middle of a row
            kwargs["session"].execute(text("INSERT INTO patient (mrn) VALUES (NULL)"))
        return real_create(kind, values, actor, **kwargs)

    monkeypatch.setattr(records, "create", create)
    patients = PATIENTS + "P-003,Boom,,2026-01-05,10\nP-004,Dee,,2026-01-05,zero\nP-005,Eve,,2026-01-05,10\n"
    report = _import(db_url, {"patients.csv": patients, "doses.csv": DOSES + "P-005,2026-01-05,start,10,\n"},
                     dry_run=True)

    assert [p.split(": ", 2)[:2] for p in report.problems] == [["patients.csv:4", "record"],
                                                               ["patients.csv:5", "planned_dose_mg"]]
    assert report.problems[0].startswith("patients.csv:4: record: The database refused the row: ")
    assert report.counts == {"patients.csv": 3, "doses.csv": 4}  # the rows after the refused one went in
    assert _state(db_url)["patient"] == 0


def test_an_event_the_database_refuses_is_reported_on_its_line(db_url, monkeypatch):
    """On PostgreSQL an import holds its rows' INSERTs back and sends many at once, so the database refuses a
    bad row only later: the import is then checked again row by row, and the report names that row."""
    real_derive = records._derive

    def derive(kind, clean):  # a value the checks before the database let through (they cannot, really)
        real_derive(kind, clean)
        if clean.get("notes") == "boom":
            clean["grade"] = 0

    monkeypatch.setattr(records, "_derive", derive)
    _import(db_url, {"patients.csv": PATIENTS})
    before = _state(db_url)
    events = ("mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes\n"
              "P-001,Fatigue,1,2026-02-01,,no,,,\n"
              "P-001,Stomatitis,2,2026-02-03,,no,,,boom\n"
              "P-002,Nausea,1,2026-02-04,,no,,,\n"
              "P-002,Sneezing,1,2026-02-05,,no,,,\n")
    report = _import(db_url, {"adverse_events.csv": events})
    assert [p.split(": ", 2)[:2] for p in report.problems] == [["adverse_events.csv:3", "record"],
                                                               ["adverse_events.csv:5", "term"]]
    assert report.problems[0].startswith("adverse_events.csv:3: record: The database refused the record: ")
    assert "grade_range" in report.problems[0]
    assert report.counts == {"adverse_events.csv": 2} and not report.written
    assert _state(db_url) == before

    only_refused = _import(db_url, {"adverse_events.csv": events.rsplit("P-002,Sneezing", 1)[0]}, dry_run=True)
    assert [p.split(": ", 2)[:2] for p in only_refused.problems] == [["adverse_events.csv:3", "record"]]
    assert _state(db_url) == before

    # The row after the refused one has a cell that cannot be read (its own SAVEPOINT): the refusal must
    # still be reported on line 3, and the unreadable cell on line 4, without a traceback.
    unreadable_next = events.replace("P-002,Nausea,1,2026-02-04,,no", "P-002,Nausea,1,2026-02-04,,maybe")
    report = _import(db_url, {"adverse_events.csv": unreadable_next})
    assert [p.split(": ", 2)[:2] for p in report.problems] == [["adverse_events.csv:3", "record"],
                                                               ["adverse_events.csv:4", "serious"],
                                                               ["adverse_events.csv:5", "term"]]
    assert _state(db_url) == before


# --- spreadsheet formulas --------------------------------------------------------------------------------

HOSTILE = ["=HYPERLINK(\"http://example.invalid\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR",
           "'=already quoted", "plain text", "'plain with apostrophe"]


def test_spreadsheet_cells_round_trip_exactly():
    from models.csv_cells import from_spreadsheet, spreadsheet_safe

    for text in HOSTILE + ["", "'", "''", "a=b"]:
        written = spreadsheet_safe(text)
        assert not written[:1] in ("=", "+", "-", "@", "\t", "\r"), (text, written)
        assert from_spreadsheet(written) == text
    assert spreadsheet_safe(-2.5) == -2.5  # numbers are never changed


def test_export_neutralises_formulas_and_the_import_reads_back_exactly_what_was_stored(db_url, tmp_path):
    """A note, a name or an MRN a user typed never runs as a formula in Excel, and a re-import stores the
    very text that was typed."""
    records.create("patient", {"mrn": "-X1", "name": "@SUM(1+1)", "treatment_start": date(2026, 1, 5)}, ADMIN,
                   url=db_url, today=TODAY)
    pid = queries.patient_id_for_mrn("-X1", db_url)
    for offset, note in enumerate(HOSTILE):
        day = date(2026, 1, 10 + offset)  # one-day episodes: one Fatigue record per day
        records.create("adverse_event", {"patient_id": pid, "term": "Fatigue", "grade": 1, "notes": note,
                                         "onset_date": day, "resolved_date": day}, ADMIN, url=db_url, today=TODAY)
    exported = csv_export.export_files(db_url)
    for line in exported["adverse_events.csv"].splitlines()[1:] + exported["patients.csv"].splitlines()[1:]:
        for cell in next(csv.reader([line])):
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), line
    target = _fresh_sqlite(tmp_path, "again.db")
    upgrade_to_head(target)
    assert _import(target, exported).ok
    again = queries.adverse_events(target)
    stored = sorted(queries.event_records(pid, db_url)["notes"])  # as the write path stored them (trimmed)
    assert stored[0].startswith(("'", "+", "-", "=", "@"))
    assert sorted(queries.event_records(queries.patient_id_for_mrn("-X1", target), target)["notes"]) == stored
    assert list(queries.patients(target)["name"]) == ["@SUM(1+1)"] and len(again) == len(HOSTILE)
    assert csv_export.export_files(target) == exported
    dispose_engine(target)
