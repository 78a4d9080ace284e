"""Altair chart builders: DataFrame in, Chart out (no Streamlit here, so they are testable alone)."""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

from dashboard.labels import cell_text, field_label
from models.clinical.dosing import describe_dose_action
from models.clinical.vocabulary import LAB_TEST_LABELS, LAB_TESTS

# One grade palette for the whole app: pale for grade 1, deep red for grade 4, black for death.
GRADE_COLORS = {1: "#f6d55c", 2: "#f29e4c", 3: "#d9534f", 4: "#8b1e3f", 5: "#222222"}


def tip(field: str, kind: str, **options) -> alt.Tooltip:
    """A tooltip line titled with the field's label (dashboard/labels.py), unless `title` says otherwise."""
    return alt.Tooltip(f"{field}:{kind}", **{"title": field_label(field), **options})


def grade_scale() -> alt.Scale:
    return alt.Scale(domain=list(GRADE_COLORS), range=list(GRADE_COLORS.values()))


BAND_ORDER = ["Any grade", "Grade ≥ 2", "Grade ≥ 3"]


def incidence_vs_reference(rows: pd.DataFrame) -> alt.FacetChart:
    """Forest-style chart: the cohort's incidence with its 95% CI per term, the reference as a tick, one panel
    per band; terms ordered by the size of their difference from the reference (any grade), largest first.

    `rows` has term, band, pct, ci_low_pct, ci_high_pct, reference_pct, reference_source, patients, exposed
    and, where known, p_value, p_adjusted, signal, signal_adjusted (models.analysis.incidence.long_frame)."""
    from models.analysis.incidence import format_p

    frame = rows.assign(**{column: rows[column] if column in rows else None
                           for column in ("p_value", "p_adjusted", "signal", "signal_adjusted")})
    frame = frame.assign(p_shown=[format_p(p, s) for p, s in zip(frame["p_value"], frame["signal"])],
                         p_adjusted_shown=[format_p(p, s) for p, s in zip(frame["p_adjusted"], frame["signal"])],
                         difference=(frame["pct"] - frame["reference_pct"]).abs())
    any_grade = frame[frame["band"] == "Any grade"].set_index("term")["difference"]
    order = list(any_grade.sort_values(ascending=False, na_position="last").index)
    order += [t for t in dict.fromkeys(frame["term"]) if t not in order]
    bands = [b for b in BAND_ORDER if b in set(frame["band"])]
    base = alt.Chart(frame).encode(
        y=alt.Y("term:N", title=None, sort=order, axis=alt.Axis(labelLimit=260)),
        tooltip=[tip("term", "N"), tip("band", "N"), tip("patients", "Q"), tip("exposed", "Q"),
                 tip("pct", "Q", format=".1f"), tip("ci_low_pct", "Q", format=".1f"),
                 tip("ci_high_pct", "Q", format=".1f"), tip("reference_pct", "Q", format=".1f"),
                 tip("p_shown", "N", title=field_label("p_value")),
                 tip("p_adjusted_shown", "N", title=field_label("p_adjusted")),
                 tip("signal_adjusted", "N"), tip("reference_source", "N")],
    )
    interval = base.mark_rule(strokeWidth=2, color="#1f6f78").encode(
        x=alt.X("ci_low_pct:Q", title="Patients with the event (%), 95% CI", scale=alt.Scale(zero=True)),
        x2="ci_high_pct:Q")
    estimate = base.mark_point(filled=True, size=70, color="#1f6f78").encode(x="pct:Q")
    reference = base.mark_tick(color="#d9534f", thickness=3, size=18).encode(x="reference_pct:Q")
    # Each band gets its own x scale: grade >= 3 rates are small and would vanish on a 0-100 axis. The panels
    # share about 720 px, so a third band (grade >= 2) narrows them instead of pushing the page sideways.
    return alt.layer(interval, estimate, reference).properties(
        height=alt.Step(26), width=int(720 / max(len(bands), 1))).facet(
        column=alt.Column("band:N", title=None, sort=bands)).resolve_scale(x="independent")


# --- one patient's course: charts share the x axis "day on treatment" ---------------------------------
CHART_WIDTH = 760  # stacked charts need one fixed width so their day axes line up

def day_axis(domain: tuple[int, int]) -> alt.X:
    return alt.X("start_day:Q", title="Day on treatment", scale=alt.Scale(domain=list(domain), nice=False))


def event_timeline(events: pd.DataFrame, domain: tuple[int, int], terms: list[str]) -> alt.LayerChart:
    """Swimmer chart: a lane per CTCAE term, a bar per record from onset to resolution (open: to today)."""
    frame = events.assign(onset=events["onset_date"].astype(str),
                          resolved=events["resolved_date"].map(lambda d: "open" if d is None or pd.isna(d)
                                                                else str(d)),
                          kind=events["serious"].map({True: "serious", False: ""}))
    lanes = alt.Y("term:N", title=None, sort=terms, scale=alt.Scale(domain=terms))
    tooltip = [tip("term", "N"), tip("grade", "O"), tip("onset", "N", title=field_label("onset_date")),
               tip("resolved", "N", title=field_label("resolved_date")), tip("start_day", "Q", title="Day"),
               tip("kind", "N", title=field_label("serious"))]
    bars = alt.Chart(frame).mark_bar(height=14, cornerRadius=2).encode(
        x=day_axis(domain), x2="end_day:Q", y=lanes,
        color=alt.Color("grade:O", title=field_label("ctcae_grade"), scale=grade_scale(), legend=alt.Legend(orient="top")),
        tooltip=tooltip)
    serious = alt.Chart(frame[frame["serious"].astype(bool)]).mark_point(
        shape="diamond", filled=True, size=90, color="#111111", yOffset=-9).encode(
        x=day_axis(domain), y=lanes, tooltip=tooltip)
    return alt.layer(bars, serious).properties(height=alt.Step(22), width=CHART_WIDTH, title="Adverse events")


def dose_steps(doses: pd.DataFrame, domain: tuple[int, int], planned_mg: float) -> alt.LayerChart:
    """The daily dose as a step line; holds shaded; reductions, escalations and stops labelled."""
    points = pd.concat([doses[["start_day", "dose_mg", "start_date"]],
                        doses.tail(1).assign(start_day=doses.tail(1)["end_day"],
                                             start_date=doses.tail(1)["end_date"])])
    points = points.assign(date=points["start_date"].astype(str))
    top = max(planned_mg, float(doses["dose_mg"].max() if not doses.empty else 0)) * 1.25 or 12.5
    y = alt.Y("dose_mg:Q", title=field_label("dose_mg"), scale=alt.Scale(domain=[0, top]))
    line = alt.Chart(points).mark_line(interpolate="step-after", strokeWidth=2.5, color="#1f6f78").encode(
        x=day_axis(domain), y=y, tooltip=[alt.Tooltip("date:N", title="From"),
                                          tip("dose_mg", "Q")])
    held = doses[doses["held"]]
    held = held.assign(top=top, start=held["start_date"].astype(str), end=held["end_date"].astype(str))
    shade = alt.Chart(held).mark_rect(color="#9aa5ad", opacity=0.35).encode(
        x=day_axis(domain), x2="end_day:Q", y=alt.value(0), y2=alt.value(120),
        tooltip=[alt.Tooltip("start:N", title="Held from"), alt.Tooltip("end:N", title="Held to")])
    changes = doses[doses["action"].isin(["reduce", "escalate", "discontinue"])]
    changes = changes.assign(text=[describe_dose_action(a, d).lower() for a, d in zip(changes["action"], changes["dose_mg"])],
                             date=changes["start_date"].astype(str))
    labels = alt.Chart(changes).mark_text(align="left", dx=4, dy=-10, fontSize=11, color="#1e2a32").encode(
        x=day_axis(domain), y=y, text="text:N", tooltip=[alt.Tooltip("date:N", title="Date"),
                                                       alt.Tooltip("text:N", title="Change")])
    return alt.layer(shade, line, labels).properties(height=120, width=CHART_WIDTH,
                                                     title="Everolimus daily dose (holds shaded)")


# What a medication bar's colour says: an interaction rule of the dosing audit looks at it, none does, or it is
# free text (no class, so nothing checks it).
MEDICATION_KINDS = {"With an interaction rule": "#6f4e9c", "No interaction rule": "#1f6f78",
                    "Free text (not in the catalogue)": "#9aa5ad"}


def medication_bars(meds: pd.DataFrame, domain: tuple[int, int], drugs: list[str]) -> alt.Chart:
    """A lane per drug, a bar per record from start to stop (not stopped: to today), clipped to the day axis
    (a medicine taken for years before the first dose starts at the axis' edge; the tooltip has its dates)."""
    kinds = list(MEDICATION_KINDS)
    text = {field: [cell_text(field, v) for v in meds[field]] for field in ("drug", "dose", "route", "indication",
                                                                            "classes", "start_date")}
    frame = meds[["start_day", "end_day"]].assign(
        **text, stop=[cell_text("stop_date", v) if not o else "ongoing" for v, o in zip(meds["stop_date"], meds["open"])],
        kind=[kinds[0] if rule else kinds[1] if listed else kinds[2]
              for rule, listed in zip(meds["interaction"], meds["in_catalogue"])])
    tooltip = [tip("drug", "N"), tip("dose", "N"), tip("route", "N"), tip("start_date", "N"),
               tip("stop", "N", title=field_label("stop_date")), tip("indication", "N"), tip("classes", "N")]
    return alt.Chart(frame).mark_bar(height=12, cornerRadius=2, clip=True).encode(
        x=day_axis(domain), x2="end_day:Q", y=alt.Y("drug:N", title=None, sort=drugs, scale=alt.Scale(domain=drugs)),
        color=alt.Color("kind:N", title=field_label("classes"), scale=alt.Scale(domain=kinds, range=list(
            MEDICATION_KINDS.values())), legend=alt.Legend(orient="top")),
        tooltip=tooltip).properties(height=alt.Step(22), width=CHART_WIDTH, title="Medications")


def lab_trend(points: pd.DataFrame, bands: list[tuple[int, float, float | None]], domain: tuple[int, int],
              title: str, unit: str) -> alt.LayerChart:
    """One lab's values over time with the CTCAE grade bands drawn behind them."""
    values = points["plotted"].astype(float)
    # Show the values and the first abnormal band clearly; worse bands are clipped at the top.
    grade_1_top = next((high for grade, _low, high in bands if grade == 1 and high is not None), None)
    highest = max(values.max() * 1.2 if not values.empty else 0, (grade_1_top or 0) * 1.15,
                  max((low for _, low, _ in bands), default=0) if grade_1_top is None else 0) or 1.0
    band_rows = pd.DataFrame([{"grade": g, "low": min(low, highest),
                               "high": min(high if high is not None else highest, highest)}
                              for g, low, high in bands], columns=["grade", "low", "high"])
    y_scale = alt.Scale(domain=[0, highest], nice=False)
    shade = alt.Chart(band_rows).mark_rect(opacity=0.22, clip=True).encode(
        y=alt.Y("low:Q", scale=y_scale, title=unit), y2="high:Q",
        color=alt.Color("grade:O", scale=grade_scale(), legend=None),
        tooltip=[alt.Tooltip("grade:O", title="CTCAE grade band")])
    frame = points.assign(date=points["collected_on"].astype(str),
                          graded=points["grade"].map(lambda g: "not graded" if pd.isna(g) else f"grade {int(g)}"))
    line = alt.Chart(frame).mark_line(point=True, color="#1e2a32").encode(
        x=alt.X("day:Q", title="Day on treatment", scale=alt.Scale(domain=list(domain), nice=False)),
        y=alt.Y("plotted:Q", scale=y_scale, title=unit),
        tooltip=[tip("date", "N", title=field_label("collected_on")), tip("value", "Q"), tip("unit", "N"),
                 tip("graded", "N", title=field_label("ctcae_grade"))])
    return alt.layer(shade, line).properties(height=110, width=CHART_WIDTH, title=title)


def stacked(charts: list) -> alt.VConcatChart:
    """Charts one above the other with their day axes aligned (same width kept for every y axis)."""
    return alt.vconcat(*charts, spacing=18).resolve_scale(color="independent").configure_axisY(
        minExtent=190, maxExtent=190, labelLimit=180).configure_title(anchor="start", fontSize=13)


def cumulative_incidence(curve: pd.DataFrame, landmarks: pd.DataFrame, title: str,
                         max_weeks: float, at_risk_at_end: int = 0) -> alt.LayerChart:
    """Cumulative incidence of the first event by weeks on treatment (Aalen-Johansen, death competing), 95% CI
    shaded, the published landmarks as labelled rules. The y axis is scaled to the curve's upper CI, the x axis
    to the longest follow-up. `landmarks` has weeks, short and text columns; `at_risk_at_end`: the patients still
    at risk at the axis' end, for the last point's tooltip."""
    extended = pd.concat([curve, curve.tail(1).assign(day=max_weeks * 7, at_risk=at_risk_at_end)], ignore_index=True)
    frame = extended.assign(weeks=extended["day"] / 7, pct=100 * extended["cumulative_incidence"],
                            low=100 * extended["ci_low"], high=100 * extended["ci_high"])
    top = max(5.0, float(frame["high"].max()) * 1.15)
    top = min(100.0, float(math.ceil(top / 5) * 5))
    y_scale = alt.Scale(domain=[0, top], nice=False)
    x = alt.X("weeks:Q", title="Weeks on treatment", scale=alt.Scale(domain=[0, max_weeks], nice=False))
    y = alt.Y("pct:Q", title=title, scale=y_scale)
    band = alt.Chart(frame).mark_area(interpolate="step-after", opacity=0.2, color="#1f6f78").encode(
        x=x, y=alt.Y("low:Q", scale=y_scale), y2="high:Q", tooltip=alt.value(None))
    line = alt.Chart(frame).mark_line(interpolate="step-after", color="#1f6f78", strokeWidth=2.5).encode(
        x=x, y=y, tooltip=[alt.Tooltip("day:Q", title="Day", format="d"),
                           alt.Tooltip("pct:Q", title="Cumulative incidence %", format=".1f"),
                           alt.Tooltip("low:Q", title="95% CI low %", format=".1f"),
                           alt.Tooltip("high:Q", title="95% CI high %", format=".1f"),
                           alt.Tooltip("at_risk:Q", title="At risk that day", format="d")])
    layers = [band, line]
    if not landmarks.empty:
        rules = alt.Chart(landmarks).mark_rule(color="#d9534f", strokeDash=[4, 3]).encode(
            x=alt.X("weeks:Q"), tooltip=[alt.Tooltip("text:N", title="Published landmark")])
        staggered = landmarks.assign(height=[top * (0.95 - 0.07 * i) for i in range(len(landmarks))])
        labels = alt.Chart(staggered).mark_text(align="left", dx=4, color="#d9534f", fontSize=11).encode(
            x="weeks:Q", y=alt.Y("height:Q", scale=y_scale), text="short:N",
            tooltip=[alt.Tooltip("text:N", title="Published landmark")])
        layers += [rules, labels]
    return alt.layer(*layers).properties(height=300)


def patient_course_chart(course) -> alt.VConcatChart | None:
    """The patient view's stacked charts (events, dose, medications, each lab) on one day axis; None if nothing
    is recorded. Medications do not widen the axis: only what they share of it is drawn. `course` is a
    models.analysis.patient_view.PatientCourse."""
    from models.analysis import patient_view
    from models.clinical import ctcae

    first_day = min([0] + list(course.labs["day"]) + list(course.events["start_day"]))
    # to today (follow-up runs on after a stop), or to the last thing recorded if that is later
    today = patient_view.day_on_treatment(course.patient["treatment_start"], course.as_of)
    last_day = max([today] + list(course.labs["day"]) + list(course.events["end_day"]))
    domain = (int(first_day), int(max(last_day, 0) + 1))
    parts = []
    terms = [t for t in ctcae.ordered_terms() if t in set(course.events["term"])]
    if terms:
        parts.append(event_timeline(course.events, domain, terms))
    if not course.doses.empty:
        parts.append(dose_steps(course.doses, domain, course.patient["planned_dose_mg"]))
    meds = course.medications[(course.medications["end_day"] > domain[0])
                              & (course.medications["start_day"] < domain[1])]
    if not meds.empty:
        drugs = list(dict.fromkeys(meds.sort_values(["start_day", "drug"])["drug"]))
        parts.append(medication_bars(meds, domain, drugs))
    for test in LAB_TESTS:
        points = course.labs[course.labs["test"] == test]
        if points.empty:
            continue
        relative = test in patient_view.RELATIVE_TO_ULN
        unit = "x ULN" if relative else points["unit"].iloc[-1]
        last = points.iloc[-1]
        bands = ctcae.grade_bands(test, None if relative else unit,
                                  lln=None if pd.isna(last["lln"]) else last["lln"],
                                  uln=1.0 if relative else (None if pd.isna(last["uln"]) else last["uln"]))
        parts.append(lab_trend(points, bands, domain, f"{LAB_TEST_LABELS[test]} ({unit})", unit))
    return stacked(parts) if parts else None
