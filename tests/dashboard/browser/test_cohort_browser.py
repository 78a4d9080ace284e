"""The "Cohort vs BOLERO-2" page in Chromium as an oncologist: the forest chart draws, the table's CSV
download holds the comparison with BOLERO-2, and the exposed-patients metric counts the demo cohort."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from tests.dashboard.browser.test_app_browser import sign_in
from tests.support.shown import as_fields
from tests.support.browser import download_by_clicking, open_from_menu, wait_for_app_idle

pytestmark = pytest.mark.browser


def open_cohort_page(page, app_url: str) -> None:
    sign_in(page, app_url, "oncologist")
    page.get_by_role("heading", level=1, name="Worklist").wait_for(timeout=60_000)
    open_from_menu(page, "Cohort vs BOLERO-2")


def metric_value(page, label: str) -> str:
    metric = page.locator("[data-testid='stMetric']").filter(
        has=page.locator("[data-testid='stMetricLabel']", has_text=label))
    metric.first.wait_for(timeout=30_000)  # a rerun may be redrawing the page
    wait_for_app_idle(page)
    assert metric.count() == 1, f"one metric labelled {label!r}"
    return metric.locator("[data-testid='stMetricValue']").inner_text().strip()


def test_oncologist_reads_the_cohort_comparison(page, app_url, tmp_path):
    open_cohort_page(page, app_url)

    # The forest chart is drawn (Vega renders into an svg or a canvas).
    forest = page.locator("[data-testid='stVegaLiteChart']").first
    forest.wait_for(state="visible", timeout=30_000)
    forest.locator("svg, canvas").first.wait_for(state="attached", timeout=30_000)
    assert forest.locator("svg, canvas").count() > 0
    assert page.locator("[data-testid='stException']").count() == 0

    assert metric_value(page, "Exposed patients") == "120"

    # st.dataframe draws a canvas grid: read the table through its CSV download.
    button = page.get_by_role("button", name="Download CSV")
    button.wait_for(timeout=30_000)
    download = download_by_clicking(page, button)
    assert download.suggested_filename.startswith("incidence_") and download.suggested_filename.endswith(".csv")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    shown = pd.read_csv(io.StringIO(saved.read_text(encoding="utf-8")))
    assert {"CTCAE term", "Band", "Cohort %", "95% CI low %", "Reference %", "Signal"} <= set(shown.columns)
    table = as_fields(shown)

    assert {"term", "band", "patients", "exposed", "pct", "ci_low_pct", "ci_high_pct", "reference_pct",
            "signal", "reference_source"} <= set(table.columns)
    mucositis = table[table["term"] == "Mucositis oral"].set_index("band")
    assert list(mucositis.index) == ["Any grade", "Grade ≥ 3"]
    assert mucositis.loc["Any grade", "reference_pct"] == 56
    assert mucositis.loc["Grade ≥ 3", "reference_pct"] == 8
    assert "Baselga" in mucositis.loc["Any grade", "reference_source"]
    assert (table["exposed"] == 120).all()
    any_grade = mucositis.loc["Any grade"]
    assert 0 < any_grade["patients"] <= 120
    assert any_grade["pct"] == pytest.approx(round(100 * any_grade["patients"] / 120, 2))
    assert any_grade["ci_low_pct"] <= any_grade["pct"] <= any_grade["ci_high_pct"]
    assert set(table["signal"]) <= {"higher", "lower", "consistent", "no reference", "not recorded"}

    # The headline counts the adjusted differences the table holds, and every term and band is in words.
    differing = int(table["signal_adjusted"].isin(["higher", "lower"]).sum())
    assert metric_value(page, "Differences after adjustment") == str(differing)
    page.get_by_text("Every term and band in words").click()
    words = page.locator("[data-testid='stText']").filter(has_text="Mucositis oral (any grade):").first
    words.wait_for(timeout=30_000)
    expected = (f"Mucositis oral (any grade): {any_grade['pct']:.0f}% of 120 vs 56% in the reference: "
                f"{any_grade['signal_adjusted']}")
    assert expected in words.inner_text()

    # The mouthwash filter adds the grade >= 2 panel without pushing the page sideways.
    page.get_by_role("button", name="Filters").click()
    page.get_by_text("Dexamethasone mouthwash from the start (within 7 days)", exact=True).click()
    wait_for_app_idle(page)
    page.keyboard.press("Escape")
    note = page.locator("[data-testid='stAlert']").filter(has_text="compared with SWISH")
    note.wait_for(timeout=30_000)
    assert "SWISH (SWISH" not in note.inner_text()
    page.locator("[data-testid='stVegaLiteChart'] svg, [data-testid='stVegaLiteChart'] canvas").first.wait_for(
        state="attached", timeout=30_000)
    wait_for_app_idle(page)
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"

    # Printed (the fallback for a tumour board until the PDF reports): no sidebar and no buttons, the page from
    # the paper's left edge, the charts kept within the page's width.
    assert page.locator("[data-testid='stSidebar']").is_visible()  # on screen, at this width
    page.emulate_media(media="print")
    wait_for_app_idle(page)
    assert not page.locator("[data-testid='stSidebar']").is_visible()
    assert not page.locator("[data-testid='stDownloadButton']").first.is_visible()
    assert page.locator("[data-testid='stMainBlockContainer']").bounding_box()["x"] <= 1
    viewport = page.viewport_size["width"]
    edges = [box["x"] + box["width"] for box in (c.bounding_box() for c in
                                                  page.locator("[data-testid='stVegaLiteChart']").all()) if box]
    assert edges and max(edges) <= viewport + 1, edges
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 2
