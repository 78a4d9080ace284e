"""The command line as scripts call it: python -m models ..."""
from __future__ import annotations

import subprocess
import sys

from sqlalchemy import inspect

from models.settings import PROJECT_ROOT
from models.store.db import get_engine


def run_cli(*args: str, url: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "models"] + (["--database-url", url] if url else []) + list(args)
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


def test_init_twice_creates_then_changes_nothing(empty_url):
    first = run_cli("init", url=empty_url)
    assert first.returncode == 0, first.stderr
    assert "upgraded to revision" in first.stdout
    tables = sorted(inspect(get_engine(empty_url)).get_table_names())
    second = run_cli("init", url=empty_url)
    assert second.returncode == 0, second.stderr
    assert "already at revision" in second.stdout
    assert sorted(inspect(get_engine(empty_url)).get_table_names()) == tables


def test_seed_demo_fills_once_then_refuses(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    first = run_cli("seed-demo", "--patients", "12", "--seed", "3", "--today", "2026-11-01", url=url)
    assert first.returncode == 0, first.stderr
    assert "12 patients" in first.stdout
    second = run_cli("seed-demo", "--patients", "12", url=url)
    assert second.returncode == 1
    assert "already holds 12 patients" in second.stderr


def test_bad_arguments_get_a_clear_message(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = run_cli("seed-demo", "--patients", "0", url=url)
    assert result.returncode == 2 and "at least 1" in result.stderr
    result = run_cli("seed-demo", "--today", "25/11/2026", url=url)
    assert result.returncode == 2 and "YYYY-MM-DD" in result.stderr
