"""The issue's targets, the printed table per database, the JSON file and the comparison with an old one."""
from __future__ import annotations

import json
from pathlib import Path

TARGET_PATIENTS = 10_000
PG_FACTOR = 2.0
TARGETS = {  # SQLite, at 10,000 patients (issue 8)
    "cohort_ratio_min": 30.0,
    "cohort_page_median_ms": 300.0,
    "patient_page_median_ms": 150.0,
    "save_10_writers_p95_ms": 50.0,
    "postgres_vs_sqlite_max_factor": PG_FACTOR,
    "seed_max_s": 120.0,  # on every database
}


def _get(result: dict, *path):
    for key in path:
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    return result


def _ms(value) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _n(value) -> str:
    return "—" if value is None else f"{value:,}"


def _at_most(value, limit) -> bool | None:
    return None if value is None or limit is None else value <= limit


def _pg_rule(value, sqlite_value, unit: str = "ms") -> tuple[str, bool | None]:
    if sqlite_value is None:
        return "<= 2x SQLite (no SQLite figure)", None
    limit = PG_FACTOR * sqlite_value
    shown = _ms(limit) if unit == "ms" else f"{limit:.1f} s"
    return f"<= 2x SQLite = {shown}", _at_most(value, limit)


def checks(name: str, result: dict, sqlite: dict | None) -> list[dict]:
    """The table rows of one database: measurement, result, target, met (True/False/None = no target)."""
    pg = name == "postgresql"
    rows = []

    def add(key, label, shown, target="", met=None, error_of=None):
        error = _get(result, error_of, "error") if error_of else None
        if error:
            shown, met = f"FAILED: {error[:110]}{'...' if len(error) > 110 else ''}", False
        rows.append({"key": key, "measurement": label, "result": shown, "target": target, "met": met})

    setup = result.get("setup", {})
    counts = setup.get("rows", {})
    rows_text = (f"{_n(counts.get('patients'))} patients, {_n(counts.get('adverse events'))} AEs, "
                 f"{_n(counts.get('lab results'))} labs, {_n(counts.get('dose events'))} doses; "
                 f"summary {_n(setup.get('summary_rows'))} rows")
    seeded = "reused" if setup.get("reused") else f"{setup.get('seed_s', 0):.1f} s"
    if setup.get("file_mb") is not None:
        rows_text += f"; {setup['file_mb']:,.0f} MB"
    if setup.get("vacuum_s") is not None:
        rows_text += f"; then VACUUM ANALYZE {setup['vacuum_s']:.1f} s"
    seed_met = None if setup.get("reused") else _at_most(setup.get("seed_s"), TARGETS["seed_max_s"])
    add("seed", "seed (registry profile)", f"{seeded}: {rows_text}",
        "" if setup.get("reused") else f"< {TARGETS['seed_max_s']:.0f} s", seed_met)

    cohort = result.get("cohort", {})
    naive_ms, app_ms = _get(cohort, "naive", "median_ms"), _get(cohort, "app", "median_ms")
    add("naive", "cohort, naive (all AE rows -> pandas)", f"{_ms(naive_ms)} median of 5", error_of="cohort")
    target, met = _pg_rule(app_ms, _get(sqlite, "cohort", "app", "median_ms")) if pg else ("", None)
    add("app", "cohort, app (summary GROUP BY + CIs)", f"{_ms(app_ms)} median of 5", target, met, "cohort")
    lean_ms = _get(cohort, "vectorised", "median_ms")
    add("vectorised", "cohort, lean pandas (datetime64)",
        f"{_ms(lean_ms)} median of 5; {cohort.get('vectorised_ratio', '—')}x the app" if lean_ms else "—",
        "(stricter baseline)", None, "cohort")
    ratio = cohort.get("ratio")
    if pg:
        add("ratio", "cohort, naive / app", "—" if ratio is None else f"{ratio:.1f}x", "(SQLite target)",
            None, "cohort")
    else:
        add("ratio", "cohort, naive / app", "—" if ratio is None else f"{ratio:.1f}x",
            f">= {TARGETS['cohort_ratio_min']:.0f}x", None if ratio is None else ratio >= TARGETS["cohort_ratio_min"],
            "cohort")
    agree = cohort.get("agree")
    add("agree", "cohort, counts agree (naive, lean, app)",
        "—" if agree is None else (f"yes ({_n(cohort['exposed'])} exposed, {cohort['terms']} terms, "
                                   f"{cohort['bands_compared']} term-bands)" if agree
                                   else f"NO: {len(cohort['differences'])} differences"),
        "identical", agree, "cohort")

    for key, label, limit in (("cohort_page", "cohort page rerun (AppTest)", TARGETS["cohort_page_median_ms"]),
                              ("patient_page", "patient page rerun (AppTest)", TARGETS["patient_page_median_ms"])):
        page = _get(result, "pages", key) or {}
        median = page.get("median_ms")
        shown = f"{_ms(median)} median of 7 (first {_ms(page.get('first_run_ms'))})"
        if key == "patient_page" and page:
            shown += f"; {page['mrn']}, {page['adverse_events']} AEs"
        if pg:
            target, met = _pg_rule(median, _get(sqlite, "pages", key, "median_ms"))
        else:
            target, met = f"<= {limit:.0f} ms median", _at_most(median, limit)
        add(key, label, shown, target, met, "pages")

    for key, label in (("one_writer", "save AE, 1 writer"), ("ten_writers", "save AE, 10 concurrent writers")):
        saves = _get(result, "saves", key) or {}
        p95 = saves.get("p95_ms")
        shown = (f"p50 {_ms(saves.get('p50_ms'))}, p95 {_ms(p95)}; {saves.get('errors', '—')} errors of "
                 f"{saves.get('attempted', '—')}; {saves.get('saves_per_s', '—')} saves/s")
        errors_ok = saves.get("errors") == 0 if saves else None
        if pg:
            target, met = _pg_rule(p95, _get(sqlite, "saves", key, "p95_ms"))
            target += " p95, 0 errors"
        elif key == "ten_writers":
            limit = TARGETS["save_10_writers_p95_ms"]
            target, met = f"<= {limit:.0f} ms p95, 0 errors", _at_most(p95, limit)
        else:
            target, met = "0 errors", True if saves else None
        if met is not None and errors_ok is not None:
            met = met and errors_ok
        add(key, label, shown, target, met, "saves")

    imported = result.get("import", {})
    seconds = imported.get("seconds")
    shown = (f"{seconds:.1f} s, {imported['rows_per_s']:,.0f} rows/s ({_n(imported['rows'])} rows, "
             f"{_n(imported['patients'])} patients)" if seconds is not None else "—")
    if imported and not imported.get("ok"):
        shown += f"; REFUSED: {imported.get('problem_count')} problems"
    if pg:
        target, met = _pg_rule(seconds, _get(sqlite, "import", "seconds"), unit="s")
    else:
        target, met = "all rows written", None
    if imported:
        met = bool(imported.get("ok")) if met is None else (met and bool(imported.get("ok")))
    add("import", "import 10,000 AEs (transfer)", shown, target, met, "import")

    after = result.get("after_writes", {})
    agree = after.get("agree")
    add("agree_after", "counts agree after the writes", "—" if agree is None else
        ("yes" if agree else f"NO: {len(after['differences'])} differences"), "identical", agree, "after_writes")
    return rows


def render(title: str, rows: list[dict], note: str | None = None) -> str:
    headers = ("measurement", "result", "target", "met")
    table = [(r["measurement"], r["result"], r["target"] or "",
              "" if r["met"] is None else ("met" if r["met"] else "NOT MET")) for r in rows]
    widths = [max(len(headers[i]), *(len(row[i]) for row in table)) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    out = [title, "=" * len(title),
           "  ".join(h.ljust(w) for h, w in zip(headers, widths)), line]
    out += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    if note:
        out.append(note)
    return "\n".join(out)


def render_machine(facts: dict) -> str:
    pg = "; ".join(f"{name}: {version}" for name, version in facts.get("server_versions", {}).items())
    return "\n".join([
        "Machine",
        "=======",
        (f"{facts.get('cpu_count')} CPUs ({facts.get('cpu_model')}), {facts.get('memory_gb')} GB RAM, "
         f"{facts.get('platform')}"),
        (f"Python {facts.get('python')}, SQLite {facts.get('sqlite')}, streamlit {facts.get('streamlit')}, "
         f"SQLAlchemy {facts.get('sqlalchemy')}, pandas {facts.get('pandas')}, psycopg {facts.get('psycopg', '—')}"),
        f"database servers: {pg or '—'}",
        f"load average (1/5/15 min) at start {facts.get('load_start')}, at end {facts.get('load_end')}",
        (f"git {facts.get('git_commit')}{' (uncommitted changes)' if facts.get('git_dirty') else ''}, "
         f"run at {facts.get('when_utc')} UTC"),
    ])


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


COMPARED = (("cohort, naive ms", ("cohort", "naive", "median_ms")),
            ("cohort, app ms", ("cohort", "app", "median_ms")),
            ("cohort, naive / app", ("cohort", "ratio")),
            ("cohort, lean pandas ms", ("cohort", "vectorised", "median_ms")),
            ("cohort page ms", ("pages", "cohort_page", "median_ms")),
            ("patient page ms", ("pages", "patient_page", "median_ms")),
            ("save 1 writer p95 ms", ("saves", "one_writer", "p95_ms")),
            ("save 10 writers p95 ms", ("saves", "ten_writers", "p95_ms")),
            ("import s", ("import", "seconds")))


def compare(old: dict, new: dict) -> str:
    out = [(f"Compared with {old.get('machine', {}).get('when_utc', '?')} UTC "
            f"(git {old.get('machine', {}).get('git_commit', '?')}, {old.get('patients', '?')} patients)")]
    for name, result in new.get("databases", {}).items():
        before = old.get("databases", {}).get(name)
        if before is None:
            continue
        out.append(f"  {name}:")
        for label, path in COMPARED:
            a, b = _get(before, *path), _get(result, *path)
            if a is None or b is None:
                continue
            change = f"{(b - a) / a * 100:+.0f}%" if a else ""
            out.append(f"    {label:<24} {a:>10,.1f} -> {b:>10,.1f}  {change}")
    return "\n".join(out)
