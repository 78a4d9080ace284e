"""cProfile of one benchmark measurement, to find where a missed target's time goes.

    python -m benchmarks.profile cohort-page --url sqlite:///benchmarks/results/toxwatch_10000.db
    python -m benchmarks.profile patient-page|cohort|naive|save|save10|import --url URL [--runs N] [--top N]

Page runs are profiled inside AppTest's script thread (cProfile only sees its own thread); the save with 10
writers is profiled in every writer thread and the profiles are merged.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import threading
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks import computation, pages, writes

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _profiled(function):
    def wrapper(*args, **kwargs):
        profile = cProfile.Profile()
        with _lock:
            _profiles.append(profile)
        profile.enable()
        try:
            return function(*args, **kwargs)
        finally:
            profile.disable()
    return wrapper


def _profile_pages(url: str, which: str, runs: int) -> None:
    """Open the page as pages.measure does, then profile `runs` reruns inside the script thread."""
    import os

    from streamlit.testing.v1 import AppTest
    from streamlit.testing.v1.local_script_runner import LocalScriptRunner

    from models import settings
    from models.auth import SignedInUser

    os.environ[settings.DATABASE_URL_ENV] = url
    pages._clear_caches()
    app = AppTest.from_file(pages.APP, default_timeout=600)
    app.session_state["user"] = SignedInUser(pages.ROLE, "Benchmark", pages.ROLE)
    app.run()
    if which == "patient-page":
        app.query_params["mrn"] = pages.busiest_patient(url)[0]
    app.switch_page(pages.COHORT_PAGE if which == "cohort-page" else pages.PATIENT_PAGE)
    for _ in range(3):
        app.run()
        pages._check(app, which)
    original = LocalScriptRunner._run_script_thread
    LocalScriptRunner._run_script_thread = _profiled(original)
    try:
        for _ in range(runs):
            app.run()
            pages._check(app, which)
    finally:
        LocalScriptRunner._run_script_thread = original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("what", choices=("cohort-page", "patient-page", "cohort", "naive", "save", "save10",
                                         "import"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (cumulative, tottime ...)")
    parser.add_argument("--out", default=None, help="also dump the merged profile here (for snakeviz etc.)")
    args = parser.parse_args(argv)
    today = date.today()
    if args.what in ("cohort-page", "patient-page"):
        _profile_pages(args.url, args.what, args.runs)
    elif args.what in ("cohort", "naive"):
        function = computation.app if args.what == "cohort" else computation.naive
        function(args.url, today)
        profiled = _profiled(function)
        for _ in range(args.runs):
            profiled(args.url, today)
    elif args.what in ("save", "save10"):
        original = writes._save
        writes._save = _profiled(original)
        try:
            result = writes.measure_saves(args.url, today)
        finally:
            writes._save = original
        if args.what == "save":  # keep only the single writer's profiles (the first 51 saves)
            del _profiles[51:]
        else:
            del _profiles[:51]
        print({k: {m: v for m, v in r.items() if m.endswith("_ms") and m != "samples_ms"}
               for k, r in result.items() if isinstance(r, dict)})
    else:
        original = writes.csv_import.import_files
        writes.csv_import.import_files = _profiled(original)
        try:
            print({k: v for k, v in writes.measure_import(args.url, today, set()).items() if k != "problems"})
        finally:
            writes.csv_import.import_files = original
    stats = None
    for profile in _profiles:
        if stats is None:
            stats = pstats.Stats(profile, stream=io.StringIO())
        else:
            stats.add(profile)
    if stats is None:
        print("nothing profiled")
        return 1
    if args.out:
        stats.dump_stats(args.out)
    stream = io.StringIO()
    stats.stream = stream
    stats.sort_stats(args.sort).print_stats(args.top)
    print(f"{len(_profiles)} profiled calls (totals over all of them)")
    print(stream.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
