"""Property-based tests (hypothesis) of the write path and the CSV import.

Whatever arrives (arbitrary text with control characters, huge strings, any unicode, far past and future
dates, NaN / infinity / huge numbers, values of the wrong type, unknown fields, random bytes, other
encodings, empty, header-only and oversized files), models.store.records and models.exchange answer with success
or a specific message, never a traceback, and a refusal leaves the database exactly as it was.

Runs on SQLite (a fresh migrated database per test, copied from one migrated template) and, smaller, on
PostgreSQL.
"""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import operator
import re
import shutil
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from sqlalchemy import func
from sqlmodel import select

from models.clinical import ctcae
from models.exchange import csv_files, csv_import, csv_reading
from models.settings import DOSE_STEPS_ENV
from models.store import records
from models.store.db import dispose_engine, read_session
from models.store.migrate import upgrade_to_head
from models.store.input_models import INPUT_MODELS
from models.store.records import Actor, RecordError
from models.store.tables import (AdverseEvent, AuditEntry, ConcomitantMedication, DoseEvent, FindingReview, LabResult,
                                 Patient)
from tests.conftest import require_or_skip
from tests.support.pg_server import postgres_unavailable_reason

ADMIN = Actor("ada.admin", "admin")
ROLES = ("nurse", "oncologist", "pharmacist", "admin")
START = date(2026, 1, 5)
TODAY = date(2026, 6, 1)
TABLES = (Patient, AdverseEvent, LabResult, DoseEvent, FindingReview, ConcomitantMedication, AuditEntry)
KINDS = ("patient", "adverse_event", "lab_result", "dose_event", "finding_review", "concomitant_medication")
_serial = itertools.count()


def _settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


# --- databases ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    """One migrated SQLite file; each test gets a copy (migrating per test would dominate the run time)."""
    path = tmp_path_factory.mktemp("template") / "toxwatch.db"
    url = f"sqlite:///{path}"
    upgrade_to_head(url)
    dispose_engine(url)  # closes the connections: the WAL is checkpointed into the file
    return path


@pytest.fixture
def sqlite_url(template_db, tmp_path, monkeypatch):
    monkeypatch.setenv(DOSE_STEPS_ENV, "10,5,2.5")
    path = tmp_path / "toxwatch.db"
    shutil.copyfile(template_db, path)
    url = f"sqlite:///{path}"
    yield url
    dispose_engine(url)


@pytest.fixture
def pg_url(request, monkeypatch):
    require_or_skip(postgres_unavailable_reason(), "PostgreSQL")
    monkeypatch.setenv(DOSE_STEPS_ENV, "10,5,2.5")
    server = request.getfixturevalue("postgres_server")
    name = f"p_{uuid.uuid4().hex[:12]}"
    url = server.create_database(name)
    upgrade_to_head(url)
    yield url
    dispose_engine(url)
    server.drop_database(name)


def _counts(url: str) -> dict[str, int]:
    """Rows per table, in one query (one snapshot, one round trip)."""
    statement = select(*(select(func.count()).select_from(table).scalar_subquery().label(table.__name__)
                         for table in TABLES))
    with read_session(url) as session:
        return dict(session.execute(statement).one()._mapping)


def _fixture_records(url: str) -> dict:
    """A patient and one of their adverse events, for the records the examples refer to (made once)."""
    with read_session(url) as session:
        patient_id = session.scalar(select(Patient.id).where(Patient.mrn == "FIX-1"))
        if patient_id is not None:
            event_id = session.scalar(select(func.min(AdverseEvent.id)).where(AdverseEvent.patient_id == patient_id))
            return {"patient_id": patient_id, "event_id": event_id}
    patient = records.create("patient", {"mrn": "FIX-1", "name": "Fixture Person", "birth_date": date(1960, 3, 2),
                                         "treatment_start": START}, ADMIN, today=TODAY, url=url)
    event = records.create("adverse_event", {"patient_id": patient["id"], "term": "Mucositis oral", "grade": 2,
                                             "onset_date": START + timedelta(days=10)}, ADMIN, today=TODAY, url=url)
    return {"patient_id": patient["id"], "event_id": event["id"]}


# --- strategies: values of every kind -----------------------------------------------------------------

control_text = st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zl", "Zp"]), min_size=1,
                       max_size=10)
huge_text = st.builds(operator.mul, st.text(min_size=1, max_size=3), st.integers(1_000, 300_000))
texts = st.one_of(st.text(max_size=60), control_text, huge_text, st.just(""), st.just("   \t "),
                  st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), max_size=5),
                  st.sampled_from(["Stomatitis", "mucositis oral", "Fatigue", "g/dL", "U/L", "yes", "held",
                                   "DOSE REDUCED", "possible", "start", "hold", "accepted", "justified",
                                   "hemoglobin", "AST", "on_treatment", "recovered", "lab", "x\x00y", "a\nb"]))
dates = st.one_of(st.dates(), st.dates(min_value=date(1899, 12, 1), max_value=date(2027, 1, 1)),
                  st.sampled_from([date.min, date.max, date(1900, 1, 1), START, TODAY, TODAY + timedelta(days=1)]),
                  st.datetimes(timezones=st.sampled_from([None, timezone.utc, timezone(timedelta(hours=-12))])),
                  st.from_regex(r"\A\d{4}-\d{2}-\d{2}\Z"), st.sampled_from(["2026-02-30", "0000-01-01", "today"]))
numbers = st.one_of(st.floats(), st.floats(min_value=-1, max_value=25), st.integers(),
                    st.integers(min_value=-2**80, max_value=2**80), st.sampled_from([0, -0.0, 2.5, 5, 7.5, 10,
                                                                                      20, 20.000001, 1e308, 5e-324]),
                    st.decimals(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["10", "NaN", "inf", "-1", "1e309", "1,5", " 5 ", "0x10", "١٠"]))
EDGE_IDS = (0, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, -2**63 - 1, 10**30)
ids = st.one_of(st.integers(min_value=-2**70, max_value=2**70), st.integers(min_value=-3, max_value=5),
                st.sampled_from(EDGE_IDS))
oddities = st.one_of(st.none(), st.booleans(), st.binary(max_size=20), st.lists(st.integers(), max_size=3),
                     st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.just(object()),
                     st.just(Decimal("sNaN")), st.tuples(st.integers()), st.sets(st.integers(), max_size=2))
anything = st.one_of(texts, dates, numbers, ids, oddities)


def _field_values(annotation: str) -> st.SearchStrategy:
    """Values of the field's own type first (so many records pass), then anything at all."""
    text = str(annotation)
    own = (dates if "date" in text else numbers if "float" in text else ids if "int" in text
           else st.booleans() if "bool" in text else texts)
    return st.one_of(own, own, anything)


def _valid_values(kind: str, ref: dict, *, day: int = 20, action: str = "start", term: str = "Fatigue") -> dict:
    serial = next(_serial)
    dose = 0.0 if action in ("hold", "discontinue") else 5.0
    return {
        "patient": {"mrn": f"PROP-{serial}", "name": "Some Person", "birth_date": date(1970, 1, 1),
                    "treatment_start": START, "planned_dose_mg": 10.0},
        "adverse_event": {"patient_id": ref["patient_id"], "term": term, "grade": 1,
                          "onset_date": START + timedelta(days=day)},
        "lab_result": {"patient_id": ref["patient_id"], "test": "hemoglobin", "value": 12.5, "unit": "g/dL",
                       "lln": 12.0, "uln": 16.0, "collected_on": START + timedelta(days=day)},
        "dose_event": {"patient_id": ref["patient_id"], "effective_date": START + timedelta(days=day),
                       "action": action, "dose_mg": dose},
        "finding_review": {"finding_key": f"event:{ref['event_id']}", "patient_id": ref["patient_id"],
                           "rule": "STOMATITIS-G2", "decision": "justified"},
        "concomitant_medication": {"patient_id": ref["patient_id"], "drug": f"Drug {serial}",
                                   "start_date": START + timedelta(days=day)},
    }[kind]


@st.composite
def record_values(draw, kind: str, ref: dict) -> dict:
    values = _valid_values(kind, ref, day=draw(st.integers(min_value=0, max_value=(TODAY - START).days)),
                           action=draw(st.sampled_from(["start", "hold", "resume", "reduce", "escalate",
                                                        "discontinue"])))
    fields = INPUT_MODELS[kind].model_fields
    for name in draw(st.sets(st.sampled_from(sorted(fields)), max_size=3)):
        values[name] = draw(_field_values(fields[name].annotation))
    for name in draw(st.sets(st.sampled_from(sorted(values)), max_size=1)):
        del values[name]  # a required field missing
    if draw(st.integers(0, 9)) == 0:
        values[draw(st.text(min_size=1, max_size=12))] = draw(anything)  # a field the record does not have
    return values


# --- (a) the write path ---------------------------------------------------------------------------------

def _note(text: str) -> None:
    """A line of hypothesis statistics (pytest --hypothesis-show-statistics), when inside a hypothesis test."""
    if currently_in_test_context():
        event(text)


def _assert_create_answers(url: str, kind: str, values: dict, actor: Actor, *, count: bool = True) -> bool:
    """records.create either creates one row with one audit entry, or raises a RecordError with a message and
    leaves every table as it was (checked here unless count=False: then the caller checks the totals).
    True when it created the record."""
    before = _counts(url) if count else None
    try:
        created = records.create(kind, values, actor, today=TODAY, url=url)
    except RecordError as error:
        _note(f"{kind}: {type(error).__name__}")
        assert str(error).strip(), f"{type(error).__name__} without a message for {values!r:.300}"
        assert not count or _counts(url) == before, f"a refused {kind} left a trace: {error}"
        return False
    _note(f"{kind}: created")
    assert created["id"] is not None and created["version"] == 1
    if count:
        table = records.RECORD_TABLES[kind].__name__
        assert _counts(url) == {**before, table: before[table] + 1, "AuditEntry": before["AuditEntry"] + 1}
        assert records.get(kind, created["id"], url=url)["created_by"] == actor.username
    return True


@pytest.mark.parametrize("kind", KINDS)
@_settings(120)
@given(data=st.data())
def test_create_with_arbitrary_values_succeeds_or_says_why(sqlite_url, kind, data):
    values = data.draw(record_values(kind, _fixture_records(sqlite_url)), label="values")
    role = data.draw(st.sampled_from(ROLES + ("admin",) * 4), label="role")
    _assert_create_answers(sqlite_url, kind, values, Actor(f"user.{role}", role))


@_settings(100)
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_create_with_anything_in_any_field_succeeds_or_says_why(sqlite_url, kind, data):
    """Every field arbitrary, on its own or over valid values."""
    fields = sorted(INPUT_MODELS[kind].model_fields)
    values = data.draw(st.dictionaries(st.sampled_from(fields), anything, max_size=len(fields)), label="values")
    if data.draw(st.booleans()):
        values = {**_valid_values(kind, _fixture_records(sqlite_url)), **values}
    _assert_create_answers(sqlite_url, kind, values, ADMIN)


# Values that once reached the database unchecked, and their like: each one in each field of each record.
NASTY = (2**31, 2**63, -1, 0, float("nan"), -float("inf"), 1e308, "x" * 300, "y" * 1_000_000, "nul\x00byte",
         "\u202egnp.exe", "", date.min, date.max, datetime(1, 1, 1, tzinfo=timezone.utc), b"\xff", None, [1])


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_every_nasty_value_in_every_field_is_stored_or_refused_with_a_message(backend, request):
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    ref = _fixture_records(url)
    before, expected = _counts(url), _counts(url)
    terms = [term.name for term in ctcae.terms()]
    failures, cases = [], itertools.count()
    for kind in KINDS:
        for name in sorted(INPUT_MODELS[kind].model_fields):
            for value in NASTY:
                case = next(cases)
                # The rest of the record is valid and new (no duplicate, a first dose of a new patient), so a
                # value that passes validation goes on to the database.
                if kind == "dose_event":
                    ref = {**ref, "patient_id": records.create("patient", _valid_values("patient", ref), ADMIN,
                                                               today=TODAY, url=url)["id"]}
                    expected["Patient"] += 1
                    expected["AuditEntry"] += 1
                values = {**_valid_values(kind, ref, day=case // len(terms), term=terms[case % len(terms)]),
                          name: value}
                try:
                    if _assert_create_answers(url, kind, values, ADMIN, count=False):
                        expected[records.RECORD_TABLES[kind].__name__] += 1
                        expected["AuditEntry"] += 1
                except AssertionError as error:
                    failures.append(f"{kind}.{name} = {value!r:.40}: {str(error)[:200]}")
                except Exception as error:  # noqa: BLE001 - collect all, then report them together
                    failures.append(f"{kind}.{name} = {value!r:.40}: {type(error).__name__}: {str(error)[:200]}")
    assert not failures, f"{len(failures)} writes neither succeeded nor said why:\n" + "\n".join(failures[:40])
    assert _counts(url) == expected, f"refused writes left rows behind (before: {before})"


@_settings(40)
@given(changes=st.dictionaries(st.sampled_from(sorted(INPUT_MODELS["adverse_event"].model_fields) + ["version"]),
                               anything, max_size=3), version_offset=st.sampled_from([0, 0, 0, -1, 1]))
def test_update_with_arbitrary_changes_succeeds_or_says_why(sqlite_url, changes, version_offset):
    event_id = _fixture_records(sqlite_url)["event_id"]
    current = records.get("adverse_event", event_id, url=sqlite_url)
    before = _counts(sqlite_url)
    try:
        updated = records.update("adverse_event", event_id, current["version"] + version_offset, changes, ADMIN,
                                 today=TODAY, url=sqlite_url)
    except RecordError as error:
        assert str(error).strip()
        assert _counts(sqlite_url) == before
        assert records.get("adverse_event", event_id, url=sqlite_url)["version"] == current["version"]
        return
    assert version_offset == 0
    assert updated["version"] == current["version"] + 1
    assert _counts(sqlite_url) == {**before, "AuditEntry": before["AuditEntry"] + 1}


# --- (b) the CSV import ----------------------------------------------------------------------------------

# `file:line: column: message`, one line each; file and column are plain or quoted ('...') labels.
PROBLEM = re.compile(r"(?P<file>[^\n:]+):(?P<line>\d+): (?P<column>[^\n:]+): (?P<message>[^\n]+)")
HEADERS = {name: ",".join(columns) for name, columns in csv_files.COLUMNS.items()}


def _assert_problems_well_formed(report: csv_import.ImportReport, files: dict[str, bytes]) -> None:
    labels = {csv_reading.quoted_name(name) for name in files} | {"upload"}
    for problem in report.problems:
        match = PROBLEM.fullmatch(problem)
        assert match, f"not `file:line: column: message`: {problem!r:.400}"
        assert match["file"] in labels, problem[:300]
        assert int(match["line"]) >= 1, problem[:300]
        assert match["message"].strip(), problem[:300]
        if match["file"] in csv_files.COLUMNS and match["column"] not in ("file", "record"):
            known = csv_files.COLUMNS[match["file"]]
            assert match["column"] in known or match["column"].startswith("'") or match["line"] == "1", problem[:300]


def _assert_import_answers(url: str, files: dict[str, bytes], *, dry_run: bool = False,
                           actor: Actor = ADMIN) -> csv_import.ImportReport:
    before = _counts(url)
    report = csv_import.import_files(files, actor, dry_run=dry_run, today=TODAY, url=url)
    _assert_problems_well_formed(report, files)
    _note("import: " + ("written" if report.written else "dry run ok" if report.ok else "refused"))
    after = _counts(url)
    if not report.written:
        assert after == before, f"nothing may be written: {report.problems[:5]}"
        assert report.summary
        return report
    tables = {"patients.csv": "Patient", "adverse_events.csv": "AdverseEvent", "labs.csv": "LabResult",
              "doses.csv": "DoseEvent", "conmeds.csv": "ConcomitantMedication"}
    expected = dict(before)
    for name, count in report.counts.items():
        expected[tables[name]] += count
    expected["AuditEntry"] += sum(report.counts.values()) + 1  # one per row, one for the import
    assert after == expected
    return report


file_names = st.one_of(st.sampled_from(csv_files.FILES), st.sampled_from(csv_files.FILES),
                       st.sampled_from(["patient.csv", "Doses.CSV", "notes.txt", "a:b.csv", "x\ny.csv", ""]),
                       st.text(max_size=20))


def _encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="replace")


encodings = st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be",
                             "utf-32", "mac-roman"])
csv_texts = st.one_of(
    st.text(max_size=400),
    st.builds(lambda name, body: HEADERS[name] + "\n" + body, st.sampled_from(csv_files.FILES), st.text(max_size=300)),
    st.builds(lambda name, n: HEADERS[name] + "\n" * n, st.sampled_from(csv_files.FILES), st.integers(0, 3)),
    st.builds(lambda name, cell, n: HEADERS[name] + "\n" + cell * n, st.sampled_from(csv_files.FILES),
              st.text(min_size=1, max_size=3), st.integers(1, 400_000)),                            # a long line
    st.builds(lambda name, n: HEADERS[name] + "," + ",".join(f"c{i}" for i in range(n)) + "\n",
              st.sampled_from(csv_files.FILES), st.integers(1, 20_000)),                            # many columns
    st.builds(lambda name, n: HEADERS[name] + "\n" + (",".join(["1"] * n) + "\n") * 3,
              st.sampled_from(csv_files.FILES), st.integers(0, 30)),
)
raw_files = st.one_of(
    st.binary(max_size=600),
    st.builds(_encode, csv_texts, encodings),
    st.builds(lambda data: codecs.BOM_UTF8 + data, st.binary(max_size=100)),
    st.sampled_from([b"", b"\n", b"\r\n\r\n", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b"PK\x03\x04rest",
                     b"\x00" * 50, b'"unclosed,quote\n', b"mrn\x00,name\n"]),
)


@_settings(150)
@given(files=st.dictionaries(file_names, raw_files, max_size=4), dry_run=st.booleans())
def test_import_of_arbitrary_bytes_succeeds_or_lists_problems(sqlite_url, files, dry_run):
    _assert_import_answers(sqlite_url, files, dry_run=dry_run)


# One bad cell in otherwise valid files: each must come back as a problem of that file and line.
NASTY_ROWS = (
    ("labs.csv", "N-1,hemoglobin,13,g/dL,0,16,2026-02-01"),           # LLN 0: grade_lab raised ValueError
    ("labs.csv", "N-1,ast,130,U/L,,0,2026-02-01"),                    # ULN 0
    ("labs.csv", "N-1,hemoglobin,1e400,g/dL,12,16,2026-02-01"),
    ("labs.csv", "N-1,platelets,-0.5,10^9/L,150,400,2026-02-01"),
    ("adverse_events.csv", "N-1,Fatigue,999999,2026-02-01,,,,,"),
    ("adverse_events.csv", "N-1,Fatigue,5,2026-02-01,,,,,"),
    ("adverse_events.csv", "N-1,Fatigue \x00,1,2026-02-01,,,,,"),
    ("doses.csv", "N-1,2026-01-05,start,1e-400,"),
    ("doses.csv", "N-1,9999-12-31,start,10,"),
    ("patients.csv", "N-2,Other Person,,2026-01-05,0"),
    ("patients.csv", "N-2,Other Person,,0001-01-01,10"),
    ("patients.csv", "N\x00-2,Other Person,,2026-01-05,10"),
    ("patients.csv", "N-2," + "n" * 200_000 + ",,2026-01-05,10"),   # over the csv module's field limit
)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_import_of_one_nasty_cell_names_its_file_and_line(backend, request):
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    patient = HEADERS["patients.csv"] + "\nN-1,Some Person,,2026-01-05,10\n"
    failures = []
    for name, row in NASTY_ROWS:
        files = {"patients.csv": patient, name: (patient if name == "patients.csv" else HEADERS[name] + "\n")
                 + row + "\n"}
        line = 3 if name == "patients.csv" else 2
        try:
            report = _assert_import_answers(url, {k: v.encode() for k, v in files.items()})
            if report.ok or not any(p.startswith(f"{name}:{line}: ") for p in report.problems):
                failures.append(f"{name} {row[:60]!r}: {report.problems[:3] or 'accepted'}")
        except Exception as error:  # noqa: BLE001 - collect all, then report them together
            failures.append(f"{name} {row[:60]!r}: {type(error).__name__}: {str(error)[:200]}")
    assert not failures, "\n".join(failures)


# Mostly-valid CSV files with random corruptions.

def _csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


@st.composite
def valid_tables(draw) -> dict[str, list[list[str]]]:
    prefix = f"G{next(_serial)}-"  # MRNs no earlier example used: each example stands on its own
    n = draw(st.integers(1, 3))
    mrns = [f"{prefix}{i}" for i in range(n)]
    starts = [START + timedelta(days=draw(st.integers(0, 60))) for _ in mrns]
    patients = [[mrn, draw(st.sampled_from(["Ann Example", "Zoë Ünïcode", "O'Brien, Pat"])),
                 draw(st.sampled_from(["", "1950-07-01"])), start.isoformat(), draw(st.sampled_from(["", "10", "5"]))]
                for mrn, start in zip(mrns, starts)]
    events, labs, doses, conmeds = [], [], [], []
    for mrn, start in zip(mrns, starts):
        for offset in draw(st.sets(st.integers(-10, 80), max_size=3)):  # start + 60 + 80 days < TODAY
            events.append([mrn, draw(st.sampled_from(["Stomatitis", "Fatigue", "Pneumonitis", "nausea"])),
                           str(draw(st.integers(1, 3))), (start + timedelta(days=offset)).isoformat(),
                           (start + timedelta(days=offset)).isoformat(),  # one-day episodes: none overlaps
                           draw(st.sampled_from(["", "yes", "no"])), draw(st.sampled_from(["", "possible", "Probable"])),
                           draw(st.sampled_from(["", "none", "DOSE REDUCED"])), draw(st.sampled_from(["", "sore, mouth"]))])
        for offset in draw(st.sets(st.integers(-10, 80), max_size=2)):
            labs.append([mrn, "hemoglobin", str(draw(st.sampled_from([13.1, 9.5, 7.0]))), "g/dL", "12", "16",
                         (start + timedelta(days=offset)).isoformat()])
        if draw(st.booleans()):
            doses.append([mrn, start.isoformat(), "start", "5", ""])
            doses.append([mrn, (start + timedelta(days=20)).isoformat(), "hold", "0", "mucositis"])
        for number, offset in enumerate(sorted(draw(st.sets(st.integers(-10, 80), max_size=2)))):
            conmeds.append([mrn, draw(st.sampled_from(["Fluconazole", "dexamethasone mouth rinse", "own tea"])) +
                            f" {number}" * (number > 0), draw(st.sampled_from(["", "200 mg daily"])),
                            draw(st.sampled_from(["", "oral", "Oral rinse"])), (start + timedelta(days=offset)).isoformat(),
                            "", draw(st.sampled_from(["", "candidiasis"]))])
    return {"patients.csv": patients, "adverse_events.csv": events, "labs.csv": labs, "doses.csv": doses,
            "conmeds.csv": conmeds}


corruption = st.one_of(
    st.tuples(st.just("cell"), st.integers(0, 10**6), st.integers(0, 10**6), anything.map(str)),
    st.tuples(st.just("cell"), st.integers(0, 10**6), st.integers(0, 10**6),
              st.sampled_from(["", "2026-02-30", "13/01/2026", "1,5", "NaN", "-1", "99", "maybe", "ＡＳＴ", "\x7f"])),
    st.tuples(st.just("drop_cell"), st.integers(0, 10**6), st.integers(0, 10**6)),
    st.tuples(st.just("duplicate_row"), st.integers(0, 10**6)),
    st.tuples(st.just("bytes"), st.integers(0, 10**6), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6)),
    st.tuples(st.just("header"), st.integers(0, 10**6), st.text(max_size=10)),
)


def _corrupt(name: str, rows: list[list[str]], corruptions: list[tuple]) -> bytes:
    header = list(csv_files.COLUMNS[name])
    rows = [list(r) for r in rows]
    byte_edits = []
    for what, *args in corruptions:
        if what == "cell" and rows:
            row = rows[args[0] % len(rows)]
            row[args[1] % len(row)] = args[2]
        elif what == "drop_cell" and rows:
            row = rows[args[0] % len(rows)]
            del row[args[1] % len(row)]
        elif what == "duplicate_row" and rows:
            rows.append(list(rows[args[0] % len(rows)]))
        elif what == "header":
            header[args[0] % len(header)] = args[1]
        else:
            byte_edits.append((what, args))
    data = _csv([header] + rows).encode("utf-8")
    for what, args in byte_edits:
        if what == "bytes":
            at = args[0] % (len(data) + 1)
            data = data[:at] + args[1] + data[at:]
        elif what == "truncate":
            data = data[:args[0] % (len(data) + 1)]
    return data


@_settings(60)
@given(tables=valid_tables(), corruptions=st.dictionaries(st.sampled_from(csv_files.FILES),
                                                          st.lists(corruption, max_size=3), max_size=4),
       leave_out=st.sets(st.sampled_from(csv_files.FILES), max_size=2), dry_run=st.sampled_from([False, False, True]),
       role=st.sampled_from(("admin",) * 5 + ROLES))
def test_import_of_corrupted_valid_files_is_all_or_nothing(sqlite_url, tables, corruptions, leave_out, dry_run,
                                                           role):
    files = {name: _corrupt(name, rows, corruptions.get(name, [])) for name, rows in tables.items()
             if name not in leave_out}
    report = _assert_import_answers(sqlite_url, files, dry_run=dry_run, actor=Actor(f"u.{role}", role))
    if not corruptions and not leave_out and role == "admin":
        assert report.ok, report.problems[:5]  # the uncorrupted files are valid


def _just_under_the_limit(name: str, row: bytes) -> bytes:
    header = HEADERS[name].encode() + b"\n"
    return header + row * ((csv_reading.MAX_FILE_BYTES - len(header)) // len(row))


def test_import_of_files_over_the_size_limit_is_refused(sqlite_url):
    """Over 50 MB (a cheap repeated buffer), and just under it with more rows than one import takes."""
    limit = csv_reading.MAX_FILE_BYTES
    report = _assert_import_answers(sqlite_url, {"patients.csv": b"x" * (limit + 1), "doses.csv": b""})
    assert report.problems[0].startswith("patients.csv:1: file: The file is 50.0 MB, over the 50 MB limit"), \
        report.problems
    under = _just_under_the_limit("adverse_events.csv", b"HUGE-1,Fatigue,1,2026-01-05,,,,,\r\n")
    assert len(under) <= limit
    report = _assert_import_answers(sqlite_url, {"adverse_events.csv": under})
    assert report.problems == [("adverse_events.csv:100002: file: More than 100,000 rows; split the file and "
                                "import the parts one after the other.")]


# --- the same, smaller, on PostgreSQL --------------------------------------------------------------------

@pytest.mark.postgres
@_settings(25)
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_create_and_import_on_postgresql_succeed_or_say_why(pg_url, kind, data):
    ref = _fixture_records(pg_url)
    _assert_create_answers(pg_url, kind, data.draw(record_values(kind, ref)), ADMIN)
    tables = data.draw(valid_tables())
    corruptions = data.draw(st.dictionaries(st.sampled_from(csv_files.FILES), st.lists(corruption, max_size=2),
                                            max_size=2))
    files = {name: _corrupt(name, rows, corruptions.get(name, [])) for name, rows in tables.items()}
    if data.draw(st.integers(0, 4)) == 0:
        files[data.draw(st.sampled_from(csv_files.FILES))] = data.draw(raw_files)
    _assert_import_answers(pg_url, files)
