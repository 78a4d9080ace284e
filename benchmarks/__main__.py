"""python -m benchmarks [--patients N] [--sqlite PATH] [--postgres-url URL | --start-postgres] [--reuse]
[--json PATH] [--compare OLD.json] [--skip STAGE ...]: see benchmarks/__init__.py."""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from datetime import date
from pathlib import Path

# `python -m benchmarks` from the project root puts it on sys.path; make it so from anywhere else too.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks import computation, databases, pages, report, writes
from models.settings import masked_url

STAGES = ("cohort", "pages", "saves", "import")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split(":")[0])
    parser.add_argument("--patients", type=int, default=10_000, help="cohort size to seed (default 10000)")
    parser.add_argument("--sqlite", metavar="PATH", default=None,
                        help="SQLite file (default: a temporary file under benchmarks/results/, removed at the "
                             "end; with --reuse benchmarks/results/toxwatch_N.db, kept)")
    parser.add_argument("--postgres-url", metavar="URL", default=None,
                        help="also measure this PostgreSQL database (empty, or the seeded cohort with --reuse)")
    parser.add_argument("--start-postgres", action="store_true",
                        help="start a temporary PostgreSQL server (tests/support/pg_server.py) for the run")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the seeded SQLite file and measure an already seeded database as it is "
                             "(the benchmark's own writes stay in it)")
    parser.add_argument("--json", metavar="PATH", default=str(databases.RESULTS_DIR / "latest.json"),
                        help="write the figures here (default benchmarks/results/latest.json)")
    parser.add_argument("--compare", metavar="OLD_JSON", default=None,
                        help="print the change of the main figures against an earlier run's JSON")
    parser.add_argument("--skip", choices=STAGES, action="append", default=[], help="leave out a stage")
    parser.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    return parser


def _stage(result: dict, key: str, function, *args) -> None:
    print(f"  {key} ...", end="", flush=True)
    started = time.perf_counter()
    try:
        result[key] = function(*args)
    except Exception as error:  # noqa: BLE001 - one failed stage must not hide the others' figures
        traceback.print_exc()
        result[key] = {"error": f"{type(error).__name__}: {error}"}
    print(f" {time.perf_counter() - started:.1f} s", flush=True)


def _measure(database: databases.Database, skip: list[str]) -> dict:
    today = date.today()
    url = database.url
    result = {"label": database.label, "url": masked_url(url), "setup": database.seeded}
    if "cohort" not in skip:
        _stage(result, "cohort", computation.measure, url, today)
    if "pages" not in skip:
        _stage(result, "pages", pages.measure, url)
    if "saves" not in skip:
        _stage(result, "saves", writes.measure_saves, url, today)
    if "import" not in skip:
        skip_mrns = set(result.get("saves", {}).get("patients", []))
        _stage(result, "import", writes.measure_import, url, today, skip_mrns)
    if "saves" not in skip or "import" not in skip:
        _stage(result, "after_writes", computation.agreement, url, today)
    return result


def _open(kind: str, args) -> databases.Database:
    started = time.perf_counter()
    print(f"[{kind}] preparing ({args.patients:,} patients) ...", flush=True)
    if kind == "sqlite":
        database = databases.sqlite_database(args.sqlite, args.patients, args.reuse)
    elif args.start_postgres:
        database = databases.temporary_postgres(args.patients)
    else:
        database = databases.postgres_database(args.postgres_url, args.patients, args.reuse)
    print(f"[{kind}] ready in {time.perf_counter() - started:.1f} s: {database.label}", flush=True)
    return database


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.start_postgres and args.postgres_url:
        print("error: give --postgres-url or --start-postgres, not both", file=sys.stderr)
        return 2
    kinds = ([] if args.no_sqlite else ["sqlite"]) + (["postgresql"] if args.start_postgres or args.postgres_url
                                                      else [])
    if not kinds:
        print("error: nothing to measure (--no-sqlite without PostgreSQL)", file=sys.stderr)
        return 2
    if args.start_postgres and args.reuse:
        print("note: --reuse does not apply to the temporary PostgreSQL server; it is seeded anew.", flush=True)
    facts = databases.machine_facts()
    facts["server_versions"] = {}
    results: dict[str, dict] = {}
    for kind in kinds:
        try:
            database = _open(kind, args)
        except databases.SetupError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        try:
            facts["server_versions"][kind] = database.seeded.get("server_version")
            results[kind] = _measure(database, args.skip)
        finally:
            database.close()
        print(flush=True)

    facts["load_end"] = databases.load_average()
    note = (None if args.patients == report.TARGET_PATIENTS else
            f"(targets are set for {report.TARGET_PATIENTS:,} patients; this run seeded {args.patients:,})")
    tables, failed = [], False
    for kind, result in results.items():
        rows = report.checks(kind, result, results.get("sqlite"))
        result["checks"] = rows
        tables.append(report.render(f"{result['label']}: {args.patients:,} patients", rows, note))
        failed |= any(row["key"].startswith("agree") and row["met"] is False for row in rows)
        failed |= any(isinstance(value, dict) and "error" in value for value in result.values())
    print(report.render_machine(facts))
    for table in tables:
        print()
        print(table)
    for kind, result in results.items():
        for key in ("cohort", "after_writes"):
            differences = result.get(key, {}).get("differences")
            if differences:
                print(f"\n!!! {kind} {key}: the naive and the app counts DISAGREE ({len(differences)}):",
                      *differences[:30], sep="\n    ")
    data = {"benchmark": "toxwatch issue 8", "format": 1, "patients": args.patients, "machine": facts,
            "targets": report.TARGETS, "databases": results}
    if args.compare:
        try:
            print()
            print(report.compare(json.loads(Path(args.compare).read_text()), data))
        except (OSError, ValueError) as error:
            print(f"cannot compare with {args.compare}: {error}", file=sys.stderr)
    report.write_json(Path(args.json), data)
    print(f"\nFigures written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
