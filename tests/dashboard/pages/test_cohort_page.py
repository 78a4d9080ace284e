"""The "Cohort vs BOLERO-2" page as an oncologist sees it (streamlit.testing AppTest): metrics, the forest
chart, the table, time to first event, the mouthwash filter with SWISH, the small-cohort warning and an
empty database."""
from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pyarrow as pa
import pytest

from streamlit.testing.v1 import AppTest

from models import settings
from models.analysis import cohort
from models.clinical import medications
from models.store import queries
from tests.conftest import DEMO_TODAY
from tests.dashboard.pages.test_pages import APP, open_app, signed_in_account
from tests.support.shown import shown_table

PAGE = "app_pages/cohort.py"


def widget(elements, label: str):
    matches = [e for e in elements if e.label == label]
    assert len(matches) == 1, f"{label!r}: {[e.label for e in elements]}"
    return matches[0]


def metrics(app) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def charts(app) -> list[tuple[dict, pd.DataFrame]]:
    """(Vega-Lite spec, its first dataset) of each chart on the page."""
    out = []
    for element in app.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        datasets = element.proto.datasets
        data = pa.ipc.open_stream(datasets[0].data.data).read_all().to_pandas() if datasets else pd.DataFrame()
        out.append((spec, data))
    return out


def tables(app) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(incidence table, exposure-adjusted rates table)."""
    return shown_table(app, "Band"), shown_table(app, "First events per 100 patient-months")


@pytest.fixture
def demo_page(monkeypatch, demo_sqlite_url):
    """The page on the demo cohort, as an oncologist, analysed on the cohort's own 'today'."""
    app = open_app(monkeypatch, demo_sqlite_url, PAGE, role="oncologist")
    widget(app.date_input, "Analysis date").set_value(DEMO_TODAY).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def independent_median_follow_up(url: str) -> float:
    """Days of follow-up per patient (start to the analysis date, or 30 days after the last dose day: the day
    before the discontinuation, or before the holds that led into it; the demo cohort has no deaths and no
    restarts), then the median: written here without models.analysis or models.clinical.exposure."""
    patients = queries.patients(url)
    doses = queries.dose_events(url)
    assert queries.adverse_events(url)["death_date"].isna().all()
    days = []
    for row in patients.itertuples():
        records = doses[(doses["patient_id"] == row.id) & (doses["effective_date"] <= DEMO_TODAY)] \
            .sort_values(["effective_date", "id"])
        actions, dates = list(records["action"]), list(records["effective_date"])
        end = DEMO_TODAY
        if "discontinue" in actions:
            at = actions.index("discontinue")
            assert all(action in ("hold", "discontinue") for action in actions[at:]), "no restart in the demo"
            first_off = at
            while first_off > 0 and actions[first_off - 1] == "hold":
                first_off -= 1
            end = min(end, dates[first_off] - timedelta(days=1) + timedelta(days=30))
        days.append((end - row.treatment_start).days)
    return float(pd.Series(days).median())


def test_renders_the_demo_cohort(demo_page, demo_sqlite_url):
    app = demo_page
    assert [t.value for t in app.title] == ["Cohort vs BOLERO-2"]
    values = metrics(app)
    assert values["Exposed patients"] == "120"
    assert values["Median follow-up"] == f"{independent_median_follow_up(demo_sqlite_url) / 7:.1f} weeks"
    assert not app.warning, "120 patients: no small-cohort warning"

    table, rates = tables(app)
    report = cohort.incidence_report(demo_sqlite_url, as_of=DEMO_TODAY)
    assert len(table) == 2 * len(report["rows"]) == 22
    assert list(dict.fromkeys(table["term"])) == [row["term"] for row in report["rows"]]
    assert set(table["band"]) == {"Any grade", "Grade ≥ 3"}
    assert (table["exposed"] == 120).all()
    mucositis = table[(table["term"] == "Mucositis oral") & (table["band"] == "Any grade")].iloc[0]
    assert mucositis["reference_pct"] == "56"  # the figure as published (a range would read "2-6")
    assert mucositis["patients"] == report["rows"][0]["any_grade"]["patients"] > 0
    differing = int(table["signal_adjusted"].isin(["higher", "lower"]).sum())  # the headline is adjusted
    assert values["Differences after adjustment"] == str(differing)
    assert set(table["p_value"]) and not any("nan" in str(p) for p in table["p_value"])
    assert widget(app.download_button, "Download CSV")


def test_forest_chart_shows_each_term_and_band(demo_page):
    forest = [(spec, data) for spec, data in charts(demo_page) if "facet" in spec]
    assert len(forest) == 1, "one forest chart"
    spec, data = forest[0]
    assert spec["facet"]["column"]["field"] == "band"
    assert [layer["mark"]["type"] for layer in spec["spec"]["layer"]] == ["rule", "point", "tick"]
    table, _ = tables(demo_page)
    assert len(data) == len(table)
    assert set(zip(data["term"], data["band"])) == set(zip(table["term"], table["band"]))
    row = data[(data["term"] == "Mucositis oral") & (data["band"] == "Any grade")].iloc[0]
    assert row["ci_low_pct"] <= row["pct"] <= row["ci_high_pct"] and row["reference_pct"] == 56
    # ordered by the size of the difference from the reference (any grade), largest first
    any_grade = data[data["band"] == "Any grade"].set_index("term")
    differences = (any_grade["pct"] - any_grade["reference_pct"]).abs().dropna()
    order = spec["spec"]["encoding"]["y"]["sort"] if "encoding" in spec["spec"] else \
        spec["spec"]["layer"][0]["encoding"]["y"]["sort"]
    assert order[:len(differences)] == list(differences.sort_values(ascending=False).index)
    tooltip_titles = [t["title"] for t in spec["spec"]["layer"][0]["encoding"]["tooltip"]]
    assert "p (unadjusted)" in tooltip_titles and "Signal after adjustment" in tooltip_titles


def test_time_to_first_event_section(demo_page):
    app = demo_page
    assert "Time to first event" in [s.value for s in app.subheader]
    term = app.selectbox(key="km_term")
    table, rates = tables(app)
    with_events = sorted(set(table.loc[(table["band"] == "Any grade") & (table["patients"] > 0), "term"]))
    assert term.options == with_events, "every term with an event is offered"
    assert term.value == "Mucositis oral"
    km = [(spec, data) for spec, data in charts(app) if "layer" in spec and "facet" not in spec]
    assert len(km) == 1
    assert km[0][0]["layer"][1]["encoding"]["y"]["title"] == \
        "Patients with a first Mucositis oral event, any grade (%)"
    tooltips = [t["title"] for t in km[0][0]["layer"][1]["encoding"]["tooltip"]]
    assert tooltips == ["Day", "Cumulative incidence %", "95% CI low %", "95% CI high %", "At risk that day"]
    at_risk = shown_table(app, "Week 0")
    assert at_risk.iloc[0]["Week 0"] == 120

    assert list(rates["term"]) == with_events
    assert list(rates.columns) == ["term", "first_events", "patient_months", "per_100_patient_months", "ci_low",
                                   "ci_high"]
    # No deaths in the demo cohort and every counted event lies within observation: the number of first
    # events equals the number of patients with the term in the incidence table.
    any_grade = table[table["band"] == "Any grade"].set_index("term")["patients"]
    for row in rates.itertuples():
        assert row.first_events == any_grade[row.term], row.term
        assert row.ci_low <= row.per_100_patient_months <= row.ci_high
        assert row.per_100_patient_months == pytest.approx(100 * row.first_events / row.patient_months, rel=0.01)

    term.set_value("Pneumonitis").run()
    assert not app.exception
    km = [(spec, data) for spec, data in charts(app) if "layer" in spec and "facet" not in spec]
    assert km[0][0]["layer"][1]["encoding"]["y"]["title"] == \
        "Patients with a first Pneumonitis event, any grade (%)"
    # the last step of the curve: Pneumonitis's cumulative incidence is at least its crude incidence, and the
    # y axis is scaled to the curve (pneumonitis at a few percent is not a flat line on a 0-100 axis)
    curve = km[0][1]
    crude = any_grade["Pneumonitis"] / 120 * 100
    assert curve["pct"].max() >= crude - 1e-9
    top = km[0][0]["layer"][1]["encoding"]["y"]["scale"]["domain"][1]
    assert curve["high"].max() <= top < 50


def test_mouthwash_filter_compares_stomatitis_grade_2_plus_with_swish(demo_page, demo_sqlite_url):
    app = demo_page
    assert not any("SWISH" in i.value for i in app.info)
    widget(app.radio, "Stomatitis prophylaxis").set_value("Dexamethasone mouthwash from the start (within 7 days)").run()
    assert not app.exception, [e.value for e in app.exception]
    # from the medication records: a mouthwash started within 7 days of the everolimus start
    patients = queries.patients(demo_sqlite_url)
    on_mouthwash = int(medications.mouthwash_from_start(patients, queries.medications(demo_sqlite_url)).sum())
    assert 0 < on_mouthwash < 120
    assert metrics(app)["Exposed patients"] == str(on_mouthwash)
    notes = [i.value for i in app.info if "SWISH" in i.value]
    assert len(notes) == 1 and "dexamethasone mouthwash" in notes[0] and "Lancet Oncol 2017" in notes[0]
    assert any("cohort: dexamethasone mouthwash from the start" in c.value for c in app.caption)

    table, _ = tables(app)
    g2 = table[(table["term"] == "Mucositis oral") & (table["band"] == "Grade ≥ 2")]
    assert len(g2) == 1
    assert g2.iloc[0]["reference_pct"] == "2.4"
    assert g2.iloc[0]["reference_source"].startswith("SWISH (Rugo et al., Lancet Oncol 2017")
    # SWISH counts the first 8 weeks: patients followed that long, or with the event earlier
    assert g2.iloc[0]["Counted over"] == "56 days"
    assert 0 < g2.iloc[0]["exposed"] <= on_mouthwash
    assert list(table[table["term"] == "Mucositis oral"]["band"]) == ["Any grade", "Grade ≥ 2", "Grade ≥ 3"]
    assert set(table[table["term"] != "Mucositis oral"]["band"]) == {"Any grade", "Grade ≥ 3"}

    widget(app.radio, "Stomatitis prophylaxis").set_value("No dexamethasone mouthwash recorded from the start").run()
    table, _ = tables(app)
    assert "Grade ≥ 2" not in set(table["band"])
    assert not any("SWISH" in i.value for i in app.info)


def test_a_small_selection_shows_the_warning(demo_page, demo_sqlite_url):
    app = demo_page
    expected = cohort.apply_filter(queries.patients(demo_sqlite_url), queries.dose_events(demo_sqlite_url),
                                   cohort.CohortFilter(starting_dose_mg=5.0))
    assert 0 < len(expected) < 20
    widget(app.selectbox, "Starting dose").set_value("5 mg").run()
    assert not app.exception, [e.value for e in app.exception]
    assert metrics(app)["Exposed patients"] == str(len(expected))
    warnings = [w.value for w in app.warning]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"Only {len(expected)} patients are exposed")
    table, _ = tables(app)
    assert (table["exposed"] == len(expected)).all()


def test_an_empty_database_has_nothing_to_compare_yet(monkeypatch, db_url):
    app = open_app(monkeypatch, db_url, PAGE, role="oncologist")
    assert not app.exception
    assert [t.value for t in app.title] == ["Cohort vs BOLERO-2"]
    assert any("nothing to compare yet" in i.value for i in app.info)
    assert not app.metric and not app.dataframe and not app.get("vega_lite_chart")


def test_the_cached_comparison_follows_every_write(monkeypatch, db_url):
    """The page caches its analysis; a save anywhere must show up on the next rerun."""
    from datetime import date, timedelta

    from models.store import records

    nurse = records.Actor("nurse", "nurse")
    start = date.today() - timedelta(days=40)
    patient = records.create("patient", {"mrn": "C-1", "name": "Cache Test", "treatment_start": start}, nurse,
                             url=db_url)
    monkeypatch.setenv(settings.DATABASE_URL_ENV, db_url)
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["user"] = signed_in_account(db_url, "oncologist")
    app.run()
    app.switch_page("app_pages/cohort.py").run()

    def stomatitis_patients() -> int:
        table = shown_table(app, "Band")
        return int(table[(table["term"] == "Mucositis oral") & (table["band"] == "Any grade")]["patients"].iloc[0])

    assert stomatitis_patients() == 0
    event = records.create("adverse_event", {"patient_id": patient["id"], "term": "Stomatitis", "grade": 1,
                                             "onset_date": start + timedelta(days=10)}, nurse, url=db_url)
    app.run()
    assert stomatitis_patients() == 1
    records.mark_entered_in_error("adverse_event", event["id"], 1, "wrong patient", nurse, url=db_url)
    app.run()
    assert stomatitis_patients() == 0


def test_the_page_says_who_is_left_out_of_the_rates_and_why(demo_page, demo_sqlite_url):
    """Issue 17.10: on an analysis date that is some patient's treatment start, that patient adds nothing to any
    rate (no day of follow-up), nor do patients who start later; the caption counts both."""
    app = demo_page
    starts = queries.patients(demo_sqlite_url)["treatment_start"]
    day = sorted(starts)[len(starts) // 2]
    widget(app.date_input, "Analysis date").set_value(day).run()
    assert not app.exception, [e.value for e in app.exception]
    today, later = int((starts == day).sum()), int((starts > day).sum())
    assert today >= 1 and later >= 1
    assert metrics(app)["Exposed patients"] == str(int((starts < day).sum()))
    caption = next(c.value for c in app.caption if c.value.startswith("Not in any rate: "))
    assert f"{today} patient{'s' if today > 1 else ''}: started on the analysis date (no day of follow-up yet)" \
        in caption
    assert f"{later} patients: treatment start after the analysis date" in caption
