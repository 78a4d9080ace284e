"""Command line: python -m models [--database-url URL] COMMAND ..."""
from __future__ import annotations

import argparse
import sys
from datetime import date

from models.settings import database_url, masked_url


def _cmd_init(args) -> int:
    from models.store.migrate import head_revision, upgrade_to_head

    changed = upgrade_to_head(args.database_url)
    state = "upgraded to" if changed else "already at"
    print(f"Schema {state} revision {head_revision()} ({masked_url(database_url(args.database_url))}).")
    from models.store import summary
    from models.store.db import write_session

    with write_session(args.database_url) as session:
        if differing := summary.repair(session):
            print(f"The onset summary differed from the adverse events in {differing} rows (changed outside the "
                  "app); rebuilt it from the events.")
    if args.app_role:
        from models.store.app_role import AppRoleError, ensure_app_role

        try:
            report = ensure_app_role(args.database_url, args.app_role, _read_password)
        except AppRoleError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"App role {report.role} {'created' if report.created else 'checked'}: it may read, add and change "
              f"records in {report.tables} tables, and owns nothing (it cannot remove records, "
              "empty a table or change the schema). Run the app with this role in its database URL.")
    return 0


def _cmd_seed_demo(args) -> int:
    from models.demo import DatabaseNotEmptyError, seed_demo
    from models.store.migrate import upgrade_to_head

    upgrade_to_head(args.database_url)
    try:
        summary = seed_demo(args.database_url, patients=args.patients, seed=args.seed, today=args.today,
                            registry=args.profile == "registry")
    except DatabaseNotEmptyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Demo cohort loaded: {summary.patients} patients, {summary.adverse_events} adverse events, "
          f"{summary.labs} lab results, {summary.doses} dose events (seed {args.seed}).")
    return 0


def _cli_actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return "cli"


def _read_password() -> str:
    import getpass

    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat the password: ") != first:
            raise SystemExit("error: the two passwords differ; nothing was changed.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _cmd_users(args) -> int:
    from models import auth
    from models.store.migrate import upgrade_to_head

    upgrade_to_head(args.database_url)
    url = args.database_url
    try:
        if args.users_command == "add":
            summary = auth.add_user(args.username, args.role, _read_password(), actor=_cli_actor(),
                                    display_name=args.display_name, url=url)
            print(f"Added {summary.username} ({summary.role}).")
        elif args.users_command == "list":
            for user in auth.list_users(url):
                state = "active" if user.active else "disabled"
                print(f"{user.username}\t{user.role}\t{state}\t{user.display_name}")
        else:
            summary = auth.set_active(args.username, args.users_command == "enable", actor=_cli_actor(), url=url)
            print(f"{summary.username} is now {'enabled' if summary.active else 'disabled'}.")
    except auth.AccountError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _cmd_import(args) -> int:
    from models.exchange import csv_import
    from models.store import records
    from models.store.migrate import upgrade_to_head

    upgrade_to_head(args.database_url)
    actor = records.Actor(_cli_actor(), "admin")
    try:
        report = csv_import.import_folder(args.folder, actor, dry_run=args.dry_run, url=args.database_url)
    except (OSError, records.DatabaseUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not _print_import_report(report):
        return 1
    if args.dry_run:
        print("dry run: nothing written")
    return 0


def _print_import_report(report) -> bool:
    """Problems to stderr, notes and the summary to stdout (a CSV or FHIR import report); True when it is ok."""
    for problem in report.problems:
        print(problem, file=sys.stderr)
    for note in report.notes:
        print(f"note: {note}")
    print(report.summary)
    return report.ok


def _cmd_export(args) -> int:
    from models.exchange import csv_export
    from models.store.migrate import upgrade_to_head

    upgrade_to_head(args.database_url)
    try:
        counts = csv_export.export_folder(args.folder, url=args.database_url)
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    detail = ", ".join(f"{name} {n}" for name, n in counts.items())
    print(f"Exported {sum(counts.values())} rows to {args.folder} ({detail}).")
    return 0


def _cmd_export_fhir(args) -> int:
    from models.exchange import fhir_client, fhir_export
    from models.store.migrate import upgrade_to_head

    if bool(args.target) == bool(args.server):
        print("error: give a FOLDER or FILE.json to write, or --server URL to send to", file=sys.stderr)
        return 2
    upgrade_to_head(args.database_url)
    kind = "transaction" if args.transaction or args.server else "collection"
    try:
        if args.server:
            data = fhir_export.bundle(args.database_url, bundle_type=kind)
            response = fhir_client.post_transaction(args.server, data)
            print(f"Sent {len(data['entry'])} resources to {args.server} in one transaction; the server answered "
                  f"with {len(response.get('entry', []))} entries.")
            return 0
        path, counts = fhir_export.write_bundle(args.target, args.database_url, bundle_type=kind)
    except (OSError, fhir_client.FhirServerError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    detail = ", ".join(f"{kind} {n}" for kind, n in counts.items())
    print(f"Wrote a FHIR R4 {'transaction' if args.transaction else 'collection'} Bundle of "
          f"{sum(counts.values())} resources to {path} ({detail or 'no records'}).")
    return 0


def _cmd_import_fhir(args) -> int:
    from pathlib import Path

    from models.exchange import fhir_client, fhir_import, known_labs
    from models.store import records
    from models.store.migrate import upgrade_to_head

    if bool(args.bundle) == bool(args.server):
        print("error: give a Bundle file, or --server URL with --patient MRN", file=sys.stderr)
        return 2
    if bool(args.server) != bool(args.patient):
        print("error: --server and --patient MRN go together (whose labs to fetch from which server)", file=sys.stderr)
        return 2
    upgrade_to_head(args.database_url)
    actor = records.Actor(_cli_actor(), "admin")
    try:
        if args.server:
            mrn = known_labs.registered_mrn(args.patient, args.database_url)
            if mrn is None:
                print(f"error: no patient with MRN {args.patient} in ToxWatch; register the patient first",
                      file=sys.stderr)
                return 1
            args.patient = mrn
            data, source = fhir_client.fetch_patient_labs(args.server, mrn), f"{args.server} MRN {mrn}"
        else:
            data, source = Path(args.bundle).read_bytes(), Path(args.bundle).name
        report = fhir_import.import_bundle(data, actor, source=source, dry_run=args.dry_run, url=args.database_url,
                                           patient_mrn=args.patient)
    except (OSError, fhir_client.FhirServerError, records.DatabaseUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0 if _print_import_report(report) else 1


def _cmd_export_sdtm(args) -> int:
    from models.exchange import sdtm
    from models.store.migrate import upgrade_to_head

    upgrade_to_head(args.database_url)
    try:
        counts = sdtm.write_sdtm(args.folder, fmt=args.format, url=args.database_url, as_of=args.as_of or date.today())
    except (OSError, sdtm.SdtmExportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    detail = ", ".join(f"{name} {n}" for name, n in counts.items())
    print(f"Wrote SDTM {args.format.upper()} datasets and define.json/define.md to {args.folder} ({detail}).")
    return 0


def _cmd_report(args) -> int:
    import json

    from models.analysis import cohort, dose_audit
    from models.clinical import references

    as_of = args.as_of or date.today()
    if args.report in ("audit", "worklist"):
        from models.clinical import dose_rules

        if args.rules is not None and args.rules not in dose_rules.rule_sets():
            print(f"error: unknown dose rule set {args.rules!r}; choose one of {', '.join(dose_rules.rule_sets())}",
                  file=sys.stderr)
            return 2
        try:
            args.rules or dose_rules.default_rule_set()
        except ValueError as error:  # the setting names a rule set that does not exist
            print(f"error: {error}", file=sys.stderr)
            return 2
    if args.report == "worklist":
        from models.analysis import worklist

        report = worklist.report(args.database_url, as_of=as_of, rule_set=args.rules)
        print(json.dumps(report, indent=2) if args.format == "json" else worklist.report_csv(report),
              end="\n" if args.format == "json" else "")
        return 0
    if args.report == "audit":
        report = dose_audit.audit_report(args.database_url, as_of=as_of, rule_set=args.rules)
        if args.format == "json":
            print(json.dumps(report, indent=2))
        else:
            sys.stdout.write(dose_audit.audit_report_csv(report))
        return 0
    if args.report == "incidence":
        if args.reference not in references.reference_sets():
            print(f"error: unknown reference set {args.reference!r}; choose one of "
                  f"{', '.join(references.reference_sets())}", file=sys.stderr)
            return 2
        report = cohort.incidence_report(args.database_url, as_of=as_of, reference_set=args.reference)
        print(json.dumps(report, indent=2) if args.format == "json" else cohort.incidence_report_csv(report),
              end="\n" if args.format == "json" else "")
        return 0
    print(f"error: unknown report {args.report!r}", file=sys.stderr)
    return 2


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {value!r}") from None


def _positive_int(value: str) -> int:
    number = int(value) if value.isdigit() else 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1: {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m models", description="ToxWatch command line.")
    parser.add_argument("--database-url", help="database URL (default: $TOXWATCH_DATABASE_URL, "
                                               "then .streamlit/secrets.toml, then data/toxwatch.db)")
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", help="create or upgrade the schema (idempotent)")
    init.add_argument("--app-role", metavar="NAME",
                      help="PostgreSQL: create (password from a prompt or stdin) or check the role the app runs "
                           "as, and grant it only what the app needs")
    init.set_defaults(handler=_cmd_init)

    seed = commands.add_parser("seed-demo", help="fill an empty database with a synthetic demo cohort")
    seed.add_argument("--patients", type=_positive_int, default=120)
    seed.add_argument("--seed", type=int, default=7)
    seed.add_argument("--today", type=_iso_date, default=None,
                      help="the cohort's 'today' (default: the real date); fixes the output for a seed")
    seed.add_argument("--profile", choices=("clinic", "registry"), default="clinic",
                      help="clinic: BOLERO-2 rates (default); registry: load-test volume, about 50 adverse-event "
                           "records and 100 labs per patient")
    seed.set_defaults(handler=_cmd_seed_demo)

    users = commands.add_parser("users", help="manage sign-in accounts")
    users.set_defaults(handler=_cmd_users)
    user_commands = users.add_subparsers(dest="users_command", required=True)
    add = user_commands.add_parser("add", help="add an account (password from a prompt, or stdin)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=("nurse", "oncologist", "pharmacist", "admin"))
    add.add_argument("--display-name", default=None)
    user_commands.add_parser("list", help="list the accounts")

    for verb in ("disable", "enable"):
        user_commands.add_parser(verb, help=f"{verb} an account").add_argument("username")

    report = commands.add_parser("report", help="print a report as JSON or CSV")
    report.add_argument("report", choices=("incidence", "audit", "worklist"))
    report.add_argument("--reference", default="bolero2_interim_2012", help="reference rate set (incidence)")
    report.add_argument("--as-of", type=_iso_date, default=None, help="analysis date (default: today)")
    report.add_argument("--rules", default=None, metavar="RULE_SET",
                        help="dose rule set (audit, worklist): a file name of seed_data/dose_rules/ without .csv, e.g. "
                             "us-current (the default) or us-2012")
    report.add_argument("--format", choices=("json", "csv"), required=True)
    report.set_defaults(handler=_cmd_report)

    load = commands.add_parser("import", help="load patients.csv, adverse_events.csv, labs.csv, doses.csv, "
                                              "conmeds.csv from a folder, all or nothing")
    load.add_argument("folder")
    load.add_argument("--dry-run", action="store_true", help="check everything, write nothing")
    load.set_defaults(handler=_cmd_import)

    export = commands.add_parser("export", help="write the four CSV files of the active records to a folder")
    export.add_argument("folder")
    export.set_defaults(handler=_cmd_export)

    fhir_out = commands.add_parser("export-fhir", help="write a FHIR R4 Bundle of every active record (a FILE.json, "
                                                       "or a FOLDER that gets toxwatch-fhir-bundle.json)")
    fhir_out.add_argument("target", nargs="?", default=None, metavar="FOLDER|FILE")
    fhir_out.add_argument("--transaction", action="store_true",
                          help="a transaction Bundle (to POST to a FHIR server) instead of a collection")
    fhir_out.add_argument("--server", metavar="URL", help="POST the transaction Bundle to this FHIR server instead")
    fhir_out.set_defaults(handler=_cmd_export_fhir)

    fhir_in = commands.add_parser("import-fhir", help="import lab results from a FHIR Bundle file, or fetch a "
                                                      "patient's from a FHIR server; all or nothing")
    fhir_in.add_argument("bundle", nargs="?", default=None, metavar="BUNDLE.json")
    fhir_in.add_argument("--server", metavar="URL", help="a FHIR R4 server's base URL")
    fhir_in.add_argument("--patient", metavar="MRN", help="whose labs to fetch from the server")
    fhir_in.add_argument("--dry-run", action="store_true", help="check everything, write nothing")
    fhir_in.set_defaults(handler=_cmd_import_fhir)

    sdtm_out = commands.add_parser("export-sdtm", help="write CDISC SDTM DM, AE, EX, LB, CM and an ADaM-like ADAE, "
                                                       "with a define summary, to a folder")
    sdtm_out.add_argument("folder")
    sdtm_out.add_argument("--format", choices=("xpt", "json"), default="xpt",
                          help="SAS XPORT v5 (default) or CDISC Dataset-JSON v1.1")
    sdtm_out.add_argument("--as-of", type=_iso_date, default=None, help="analysis date of ADAE (default: today)")
    sdtm_out.set_defaults(handler=_cmd_export_sdtm)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
