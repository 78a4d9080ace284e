"""dashboard.charts: the Altair specs of the patient view and the cohort forest chart (no Streamlit, no DB).

The frames below have the columns models.analysis.patient_view.patient_course() returns (events, doses, labs), with
figures chosen by hand: treatment start = day 1, the analysis date = day 100, so an open record runs to 101.
"""
from __future__ import annotations

from datetime import date, timedelta

import altair as alt
import pandas as pd
import pytest

from dashboard import charts
from dashboard.charts import GRADE_COLORS
from models.clinical import ctcae

START = date(2026, 1, 1)
DOMAIN = (-11, 101)  # a baseline record on day -11 ... today (day 100) + 1

EVENT_COLUMNS = ["id", "term", "grade", "onset_date", "resolved_date", "start_day", "end_day", "open", "serious",
                 "baseline", "source"]
DOSE_COLUMNS = ["start_day", "end_day", "start_date", "end_date", "dose_mg", "action", "every_other_day", "held"]
LAB_COLUMNS = ["test", "label", "collected_on", "day", "value", "unit", "plotted", "plotted_unit", "lln", "uln",
               "grade", "baseline"]
PALETTE_DOMAIN = [1, 2, 3, 4, 5]
PALETTE_RANGE = ["#f6d55c", "#f29e4c", "#d9534f", "#8b1e3f", "#222222"]


def on_day(day: int) -> date:
    return START + timedelta(days=day - 1)


def events_frame() -> pd.DataFrame:
    rows = [  # id, term, grade, onset day, resolved day (None = open), serious, baseline
        (1, "Fatigue", 2, -11, 10, False, True),
        (2, "Mucositis oral", 1, 15, 24, False, False),
        (3, "Mucositis oral", 2, 25, 45, False, False),
        (4, "Pneumonitis", 3, 39, 64, True, False),
        (5, "Fatigue", 1, 79, None, False, False),
    ]
    return pd.DataFrame([{
        "id": i, "term": term, "grade": grade, "onset_date": on_day(onset),
        "resolved_date": None if resolved is None else on_day(resolved), "start_day": onset,
        "end_day": (resolved if resolved is not None else 100) + 1, "open": resolved is None, "serious": serious,
        "baseline": baseline, "source": "reported"} for i, term, grade, onset, resolved, serious, baseline in rows],
        columns=EVENT_COLUMNS)


def doses_frame() -> pd.DataFrame:
    rows = [(1, 41, 10.0, "start"), (41, 51, 0.0, "hold"), (51, 71, 5.0, "reduce"), (71, 81, 10.0, "escalate"),
            (81, 101, 0.0, "discontinue")]
    return pd.DataFrame([{
        "start_day": s, "end_day": e, "start_date": on_day(s), "end_date": on_day(e - 1), "dose_mg": mg,
        "action": action, "every_other_day": False, "held": action == "hold"} for s, e, mg, action in rows],
        columns=DOSE_COLUMNS)


def ast_points() -> pd.DataFrame:
    rows = [(-3, 30.0, True, 0), (39, 130.0, False, 2)]  # baseline 0.75 x ULN; 3.25 x ULN = grade 2
    return pd.DataFrame([{
        "test": "ast", "label": "AST", "collected_on": on_day(day), "day": day, "value": value, "unit": "U/L",
        "plotted": value / 40.0, "plotted_unit": "x ULN", "lln": None, "uln": 40.0, "grade": grade,
        "baseline": baseline} for day, value, baseline, grade in rows], columns=LAB_COLUMNS)


def hemoglobin_points() -> pd.DataFrame:
    rows = [(-3, 13.0, 0), (74, 9.5, 2), (90, 11.0, None)]  # the last one could not be graded
    return pd.DataFrame([{
        "test": "hemoglobin", "label": "Hemoglobin", "collected_on": on_day(day), "day": day, "value": value,
        "unit": "g/dL", "plotted": value, "plotted_unit": "g/dL", "lln": 12.0, "uln": 16.0, "grade": grade,
        "baseline": day < 1} for day, value, grade in rows], columns=LAB_COLUMNS)


def layer_data(spec: dict, layer: dict) -> list[dict]:
    """The rows a layer draws (Altair stores them once in spec['datasets'])."""
    return spec["datasets"][layer["data"]["name"]]


def marks(layers: list[dict]) -> list[str]:
    return [layer["mark"]["type"] for layer in layers]


def assert_grade_palette(color: dict) -> None:
    assert color["field"] == "grade" and color["type"] == "ordinal"
    assert color["scale"]["domain"] == PALETTE_DOMAIN == list(GRADE_COLORS)
    assert color["scale"]["range"] == PALETTE_RANGE == list(GRADE_COLORS.values())


def assert_day_axis(x: dict, domain: tuple[int, int], field: str = "start_day") -> None:
    assert x["field"] == field and x["type"] == "quantitative" and x["title"] == "Day on treatment"
    assert x["scale"] == {"domain": list(domain), "nice": False}


# --- the grade palette ------------------------------------------------------------------------------------

def test_grade_palette_is_one_colour_per_ctcae_grade_deepening_with_severity():
    assert list(GRADE_COLORS) == PALETTE_DOMAIN
    assert len(set(GRADE_COLORS.values())) == 5, "each grade has its own colour"
    scale = charts.grade_scale().to_dict()
    assert scale == {"domain": PALETTE_DOMAIN, "range": PALETTE_RANGE}


# --- swimmer chart ----------------------------------------------------------------------------------------

def test_event_timeline_draws_a_bar_per_record_from_start_to_end_day_in_the_grade_palette():
    events = events_frame()
    terms = ["Mucositis oral", "Pneumonitis", "Fatigue"]
    spec = charts.event_timeline(events, DOMAIN, terms).to_dict()

    assert marks(spec["layer"]) == ["bar", "point"]
    bars = spec["layer"][0]
    assert_day_axis(bars["encoding"]["x"], DOMAIN)
    assert bars["encoding"]["x2"] == {"field": "end_day"}
    assert bars["encoding"]["y"]["field"] == "term"
    assert bars["encoding"]["y"]["sort"] == terms and bars["encoding"]["y"]["scale"]["domain"] == terms
    assert_grade_palette(bars["encoding"]["color"])
    drawn = {row["id"]: row for row in layer_data(spec, bars)}
    assert {i: (r["term"], r["start_day"], r["end_day"], r["grade"]) for i, r in drawn.items()} == {
        1: ("Fatigue", -11, 11, 2), 2: ("Mucositis oral", 15, 25, 1), 3: ("Mucositis oral", 25, 46, 2),
        4: ("Pneumonitis", 39, 65, 3), 5: ("Fatigue", 79, 101, 1)}
    assert drawn[5]["resolved"] == "open" and drawn[3]["resolved"] == "2026-02-14"
    assert drawn[4]["kind"] == "serious" and drawn[2]["kind"] == ""
    assert spec["title"] == "Adverse events" and spec["width"] == charts.CHART_WIDTH


def test_event_timeline_marks_only_serious_events_with_a_diamond_on_the_same_axes():
    spec = charts.event_timeline(events_frame(), DOMAIN, ["Mucositis oral", "Pneumonitis", "Fatigue"]).to_dict()
    diamonds = spec["layer"][1]
    assert diamonds["mark"]["shape"] == "diamond" and diamonds["mark"]["filled"] is True
    assert_day_axis(diamonds["encoding"]["x"], DOMAIN)
    assert diamonds["encoding"]["y"] == spec["layer"][0]["encoding"]["y"]
    assert [(r["id"], r["start_day"]) for r in layer_data(spec, diamonds)] == [(4, 39)]


def test_event_timeline_without_serious_events_has_an_empty_diamond_layer():
    events = events_frame().assign(serious=False)
    spec = charts.event_timeline(events, DOMAIN, ["Mucositis oral", "Pneumonitis", "Fatigue"]).to_dict()
    assert len(layer_data(spec, spec["layer"][0])) == 5
    assert layer_data(spec, spec["layer"][1]) == []


# --- dose chart -------------------------------------------------------------------------------------------

def test_dose_steps_is_a_step_after_line_through_every_segment_start_and_the_last_end():
    spec = charts.dose_steps(doses_frame(), DOMAIN, planned_mg=10.0).to_dict()
    assert marks(spec["layer"]) == ["rect", "line", "text"]
    line = spec["layer"][1]
    assert line["mark"]["interpolate"] == "step-after"
    assert_day_axis(line["encoding"]["x"], DOMAIN)
    assert line["encoding"]["y"]["field"] == "dose_mg"
    assert line["encoding"]["y"]["scale"]["domain"] == [0, 12.5]  # 10 mg planned x 1.25 headroom
    # each segment's start, then the end of the last one, so the last step is drawn to "today + 1"
    assert [(r["start_day"], r["dose_mg"]) for r in layer_data(spec, line)] == [
        (1, 10.0), (41, 0.0), (51, 5.0), (71, 10.0), (81, 0.0), (101, 0.0)]


def test_dose_steps_shades_holds_only_over_their_days():
    spec = charts.dose_steps(doses_frame(), DOMAIN, planned_mg=10.0).to_dict()
    shade = spec["layer"][0]
    assert shade["mark"]["type"] == "rect"
    assert_day_axis(shade["encoding"]["x"], DOMAIN)
    assert shade["encoding"]["x2"] == {"field": "end_day"}
    assert [(r["start_day"], r["end_day"], r["start"], r["end"]) for r in layer_data(spec, shade)] == [
        (41, 51, "2026-02-10", "2026-02-19")]


def test_dose_steps_labels_reductions_escalations_and_stops_at_their_dose():
    spec = charts.dose_steps(doses_frame(), DOMAIN, planned_mg=10.0).to_dict()
    labels = spec["layer"][2]
    assert labels["mark"]["type"] == "text" and labels["encoding"]["text"]["field"] == "text"
    assert_day_axis(labels["encoding"]["x"], DOMAIN)
    assert [(r["start_day"], r["dose_mg"], r["text"]) for r in layer_data(spec, labels)] == [
        (51, 5.0, "reduced to 5 mg"), (71, 10.0, "escalated to 10 mg"), (81, 0.0, "discontinued")]


def test_dose_steps_headroom_follows_a_dose_above_the_planned_one():
    doses = doses_frame().iloc[:1].assign(dose_mg=15.0, end_day=101, end_date=on_day(100))
    spec = charts.dose_steps(doses, DOMAIN, planned_mg=10.0).to_dict()
    assert spec["layer"][1]["encoding"]["y"]["scale"]["domain"] == [0, 18.75]
    assert layer_data(spec, spec["layer"][0]) == [] and layer_data(spec, spec["layer"][2]) == []


# --- lab trend --------------------------------------------------------------------------------------------

def test_grade_bands_for_the_lab_charts():
    # AST/ALT drawn as multiples of ULN (uln=1): >ULN-3, >3-5, >5-20, >20 x ULN
    assert ctcae.grade_bands("ast", None, uln=1.0) == [(1, 1.0, 3.0), (2, 3.0, 5.0), (3, 5.0, 20.0), (4, 20.0, None)]
    # hemoglobin: <LLN-10, <10-8, <8 g/dL; without an LLN the grade 1 band cannot be drawn
    assert ctcae.grade_bands("hemoglobin", "g/dL", lln=12.0) == [(1, 10.0, 12.0), (2, 8.0, 10.0), (3, 0.0, 8.0)]
    assert ctcae.grade_bands("hemoglobin", "g/dL") == [(2, 8.0, 10.0), (3, 0.0, 8.0)]
    assert ctcae.grade_bands("platelets", "10^9/L", lln=150.0)[0] == (1, 75.0, 150.0)


def test_lab_trend_draws_grade_bands_behind_a_line_with_points():
    bands = ctcae.grade_bands("ast", None, uln=1.0)
    spec = charts.lab_trend(ast_points(), bands, DOMAIN, "AST (x ULN)", "x ULN").to_dict()
    assert marks(spec["layer"]) == ["rect", "line"]
    shade, line = spec["layer"]
    assert_grade_palette(shade["encoding"]["color"])
    assert shade["encoding"]["y"]["field"] == "low" and shade["encoding"]["y2"] == {"field": "high"}
    # highest = max(3.25 x 1.2, grade 1 top 3 x 1.15) = 3.9: worse bands are clipped to it
    highest = 3.25 * 1.2
    assert shade["encoding"]["y"]["scale"] == {"domain": [0, pytest.approx(highest)], "nice": False}
    assert [(r["grade"], r["low"], r["high"]) for r in layer_data(spec, shade)] == [
        (1, 1.0, 3.0), (2, 3.0, pytest.approx(highest)), (3, pytest.approx(highest), pytest.approx(highest)),
        (4, pytest.approx(highest), pytest.approx(highest))]

    assert line["mark"]["type"] == "line" and line["mark"]["point"] is True
    assert_day_axis(line["encoding"]["x"], DOMAIN, field="day")
    assert line["encoding"]["y"]["field"] == "plotted" and line["encoding"]["y"]["title"] == "x ULN"
    assert line["encoding"]["y"]["scale"] == shade["encoding"]["y"]["scale"], "bands and values share one y scale"
    assert [(r["day"], r["plotted"], r["graded"]) for r in layer_data(spec, line)] == [
        (-3, 0.75, "grade 0"), (39, 3.25, "grade 2")]
    assert spec["title"] == "AST (x ULN)"


def test_lab_trend_keeps_the_first_abnormal_band_visible_when_values_are_normal():
    bands = ctcae.grade_bands("hemoglobin", "g/dL", lln=12.0)
    spec = charts.lab_trend(hemoglobin_points(), bands, DOMAIN, "Hemoglobin (g/dL)", "g/dL").to_dict()
    shade, line = spec["layer"]
    top = max(13.0 * 1.2, 12.0 * 1.15)  # 15.6: the largest value with headroom
    assert shade["encoding"]["y"]["scale"]["domain"] == [0, pytest.approx(top)]
    assert sorted((r["grade"], r["low"], r["high"]) for r in layer_data(spec, shade)) == [
        (1, 10.0, 12.0), (2, 8.0, 10.0), (3, 0.0, 8.0)]
    assert [r["graded"] for r in layer_data(spec, line)] == ["grade 0", "grade 2", "not graded"]


# --- the stacked patient chart ----------------------------------------------------------------------------

def x_encodings(chart_spec: dict) -> list[dict]:
    return [layer["encoding"]["x"] for layer in chart_spec["layer"] if "x" in layer.get("encoding", {})]


def test_stacked_puts_every_chart_on_the_same_day_axis():
    domain = (-3, 101)
    parts = [charts.event_timeline(events_frame(), domain, ["Mucositis oral", "Pneumonitis", "Fatigue"]),
             charts.dose_steps(doses_frame(), domain, 10.0),
             charts.lab_trend(ast_points(), ctcae.grade_bands("ast", None, uln=1.0), domain, "AST", "x ULN"),
             charts.lab_trend(hemoglobin_points(), ctcae.grade_bands("hemoglobin", "g/dL", lln=12.0), domain,
                              "Hemoglobin", "g/dL")]
    stacked = charts.stacked(parts)
    assert isinstance(stacked, alt.VConcatChart)
    spec = stacked.to_dict()
    assert [c.get("title") for c in spec["vconcat"]] == ["Adverse events", "Everolimus daily dose (holds shaded)",
                                                          "AST", "Hemoglobin"]
    domains = [x["scale"]["domain"] for chart in spec["vconcat"] for x in x_encodings(chart)]
    assert len(domains) == 2 + 3 + 1 + 1  # bars+diamonds, shade+line+labels, one line per lab
    assert all(d == [-3, 101] for d in domains)
    assert all(x["scale"]["nice"] is False for chart in spec["vconcat"] for x in x_encodings(chart))
    assert {chart["width"] for chart in spec["vconcat"]} == {charts.CHART_WIDTH}, "same width: axes line up"
    # the y axes get one fixed width, else the plot areas (and their day axes) would start at different x
    assert spec["config"]["axisY"]["minExtent"] == spec["config"]["axisY"]["maxExtent"]
    assert spec["resolve"]["scale"]["color"] == "independent"


# --- cohort forest chart ----------------------------------------------------------------------------------

def test_incidence_vs_reference_has_ci_rule_estimate_point_and_reference_tick():
    rows = pd.DataFrame([
        {"term": "Mucositis oral", "band": "Any grade", "pct": 50.0, "ci_low_pct": 40.8, "ci_high_pct": 59.2,
         "reference_pct": 56.0, "reference_source": "BOLERO-2", "patients": 60, "exposed": 120},
        {"term": "Mucositis oral", "band": "Grade ≥ 3", "pct": 5.0, "ci_low_pct": 1.9, "ci_high_pct": 10.6,
         "reference_pct": 8.0, "reference_source": "BOLERO-2", "patients": 6, "exposed": 120},
    ])
    spec = charts.incidence_vs_reference(rows).to_dict()
    assert spec["facet"]["column"]["field"] == "band"
    order = spec["facet"]["column"]["sort"]
    assert order[0] == "Any grade" and order.index("Any grade") < order.index("Grade ≥ 3")
    layers = spec["spec"]["layer"]
    assert marks(layers) == ["rule", "point", "tick"]
    rule, point, tick = layers
    assert rule["encoding"]["x"]["field"] == "ci_low_pct" and rule["encoding"]["x2"] == {"field": "ci_high_pct"}
    assert point["encoding"]["x"]["field"] == "pct" and point["mark"]["filled"] is True
    assert tick["encoding"]["x"]["field"] == "reference_pct"
    assert all(layer["encoding"]["y"]["field"] == "term" for layer in layers)
    assert len(spec["datasets"][spec["data"]["name"]]) == 2
