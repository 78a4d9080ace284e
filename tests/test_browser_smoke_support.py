"""The browser helpers work on this machine: Debian's Chromium launches with our flags and loads a local
page, and streamlit_server/wait_for_app_idle run a tiny Streamlit script."""

import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

from tests.conftest import require_or_skip
from tests.support.browser import (
    chromium_unavailable_reason,
    free_port,
    streamlit_server,
    wait_for_app_idle,
)

pytestmark = pytest.mark.browser


def _require_chromium() -> None:
    require_or_skip(chromium_unavailable_reason(), "Chromium")


def _wait_until_served(url: str, proc: subprocess.Popen, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"http.server exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not served within {timeout_s} s")
        time.sleep(0.1)


def test_chromium_loads_a_local_page(tmp_path, browser):
    _require_chromium()

    (tmp_path / "index.html").write_text(
        "<!doctype html><html><head><title>ToxWatch smoke</title></head>"
        "<body><h1 id='greeting'>hello</h1></body></html>", encoding="utf-8")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/index.html"
        _wait_until_served(url, server)
        page = browser.new_page()
        try:
            page.goto(url, timeout=30_000)
            assert page.title() == "ToxWatch smoke"
            assert page.text_content("#greeting") == "hello"
        finally:
            page.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_streamlit_server_and_idle_wait(tmp_path, browser):
    _require_chromium()

    script = tmp_path / "tiny_app.py"
    script.write_text(textwrap.dedent("""
        import os
        import streamlit as st

        st.title("Tiny")
        st.write("db=" + os.environ["TOXWATCH_DATABASE_URL"])
        if st.button("Press"):
            st.write("pressed")
    """), encoding="utf-8")
    with streamlit_server("sqlite:///tiny.db", app=str(script)) as base_url:
        page = browser.new_page()
        try:
            page.goto(base_url, timeout=30_000)
            wait_for_app_idle(page)
            page.get_by_text("db=sqlite:///tiny.db").wait_for(timeout=10_000)
            page.get_by_role("button", name="Press").click()
            page.get_by_text("pressed").wait_for(timeout=10_000)
            wait_for_app_idle(page)
        finally:
            page.close()
