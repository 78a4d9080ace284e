"""Helpers for the Playwright browser tests (sync API).

    with streamlit_server(pg.url("toxwatch")) as base_url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page()
        page.goto(base_url)
        wait_for_app_idle(page)

Debian's Chromium is used (no `playwright install`). As root it needs --no-sandbox, and this machine has
no network, so Chromium's background traffic (component updates, sync, ...) is switched off.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_PATH = os.environ.get("TOXWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # Chromium's sandbox refuses to run as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",  # no internet here: avoid refused connections and DNS lookups
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
APP_IDLE_SELECTOR = "[data-testid='stApp'][data-test-script-state='notRunning']"
MAIN_ELEMENT_SELECTOR = "[data-testid='stMainBlockContainer'] [data-testid='stElementContainer']"
STREAMLIT_START_TIMEOUT_S = 60


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chromium_unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM_PATH).is_file():
        return f"Chromium not found at {CHROMIUM_PATH} (install the Debian package 'chromium')"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the playwright package is not importable: {exc}"
    return None


def launch_chromium(playwright, **kwargs):
    """Launch Debian's headless Chromium through a sync ``Playwright`` object; returns the Browser."""
    reason = chromium_unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    args = [*CHROMIUM_ARGS, *kwargs.pop("args", [])]
    kwargs.setdefault("timeout", 60_000)
    return playwright.chromium.launch(executable_path=CHROMIUM_PATH, headless=True, args=args, **kwargs)


def _health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except (urllib.error.URLError, OSError):
        return False


def _stop_process_group(proc: subprocess.Popen, grace_s: float = 10) -> None:
    """Terminate the server we started (it runs in its own process group) and wait for it."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace_s)


@contextlib.contextmanager
def streamlit_server(database_url: str, *, env: dict | None = None, app: str = "dashboard/app.py",
                     timeout_s: float = STREAMLIT_START_TIMEOUT_S) -> Iterator[str]:
    """Run the Streamlit app against ``database_url`` and yield its base URL (http://127.0.0.1:PORT).

    Raises RuntimeError with the server's output when it exits or is not healthy within ``timeout_s``.
    ``env`` adds to (and overrides) this process's environment.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable, "-m", "streamlit", "run", app,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        # no file watcher: files written by other tests must not trigger reruns mid-test
        "--server.fileWatcherType", "none",
    ]
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["TOXWATCH_DATABASE_URL"] = database_url
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    # the output goes to a file, not a pipe: a pipe nobody reads would block a chatty server
    with tempfile.TemporaryFile(mode="w+b") as output:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=full_env, stdin=subprocess.DEVNULL,
                                stdout=output, stderr=subprocess.STDOUT, start_new_session=True)

        def server_output() -> str:
            output.flush()
            output.seek(0)
            return output.read().decode(errors="replace")

        try:
            deadline = time.monotonic() + timeout_s
            while not _health_ok(f"{base_url}/_stcore/health"):
                if proc.poll() is not None:
                    raise RuntimeError(f"Streamlit exited with code {proc.returncode} before it was healthy"
                                       f"\n$ {' '.join(cmd)}\n--- server output ---\n{server_output()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Streamlit was not healthy at {base_url} within {timeout_s} s"
                                       f"\n$ {' '.join(cmd)}\n--- server output ---\n{server_output()}")
                time.sleep(0.2)
            yield base_url
        finally:
            _stop_process_group(proc)


def wait_for_app_idle(page, timeout_ms: int = 30_000) -> None:
    """Wait until the Streamlit script has finished running and the main block shows something.

    After a click, Streamlit may not have flipped to 'running' yet when this is called; wait for the
    effect you expect (a text, a widget) as well, rather than relying on this alone.
    """
    page.wait_for_selector(APP_IDLE_SELECTOR, timeout=timeout_ms)
    page.wait_for_selector(MAIN_ELEMENT_SELECTOR, state="attached", timeout=timeout_ms)
    page.wait_for_selector(APP_IDLE_SELECTOR, timeout=timeout_ms)


def download_by_clicking(page, button, timeout_ms: int = 20_000):
    """Click a download button and return the Download. A deferred download (the file built on click) can
    lose a click that lands while the page is still settling (seen once in CI under load): as a person
    would, click once more if nothing came."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect

    wait_for_app_idle(page)
    expect(button).to_be_enabled(timeout=60_000)  # disabled for a moment while the page settles (seen under load)
    for attempt in range(2):
        try:
            with page.expect_download(timeout=timeout_ms) as download_info:
                button.click()
            return download_info.value
        except PlaywrightTimeoutError:
            if attempt:
                raise
            wait_for_app_idle(page)
    raise AssertionError("unreachable")


def open_from_menu(page, title: str, timeout_ms: int = 60_000) -> None:
    """Click a page in the sidebar menu and wait until its title shows and the run has ended."""
    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    page.get_by_role("heading", level=1, name=title).wait_for(timeout=timeout_ms)
    wait_for_app_idle(page, timeout_ms=timeout_ms)
