"""Cohort vs BOLERO-2: the clinic's toxicity incidence against published reference rates."""
from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from dashboard.access import require_page
from dashboard.cached import cohort_analysis
from dashboard.charts import cumulative_incidence, incidence_vs_reference
from dashboard.labels import download_for_people, reference_set_title, show_table
from models.analysis import cohort, time_to_event
from models.analysis.incidence import format_p
from models.clinical import medications, references

user = require_page("cohort")
st.title("Cohort vs BOLERO-2")

AGE_BANDS = {"All ages": (None, None), "Under 50": (None, 49), "50-64": (50, 64), "65-74": (65, 74),
             "75 and over": (75, None)}
DOSES = {"Any starting dose": None, "10 mg": 10.0, "7.5 mg": 7.5, "5 mg": 5.0, "2.5 mg": 2.5}
PROPHYLAXIS = {"Everyone": None,
               "Dexamethasone mouthwash from the start (within " + str(medications.mouthwash_window_days()) + " days)":
               True,
               "No dexamethasone mouthwash recorded from the start": False}
TIME_BANDS = {"Any grade": (1, "any"), "Grade ≥ 2": (2, "grade_2_plus"), "Grade ≥ 3": (3, "grade_3_plus")}

first, second, third = st.columns([2, 1, 1])
sets = references.reference_sets()
reference_set = first.selectbox("Reference set", sets, index=sets.index(references.DEFAULT_REFERENCE_SET),
                                format_func=reference_set_title,
                                help="Published rates to compare against; every figure's source is in the table.")
as_of = second.date_input("Analysis date", value=date.today(), max_value=date.today(), format="YYYY-MM-DD")
with third.popover("Filters", icon=":material/filter_list:", width="stretch"):
    window = st.date_input("Treatment start between", value=(), format="YYYY-MM-DD", max_value=date.today())
    age = st.selectbox("Age at treatment start", list(AGE_BANDS))
    dose = st.selectbox("Starting dose", list(DOSES))
    prophylaxis = st.radio("Stomatitis prophylaxis", list(PROPHYLAXIS),
                           help="From the patients' medication records: a dexamethasone mouthwash started no later "
                                "than " + str(medications.mouthwash_window_days()) + " days after the everolimus "
                                "start (a clinic policy, in the reference data). The second choice includes patients "
                                "whose mouthwash was given but not recorded.")
start_from = window[0] if len(window) >= 1 else None
start_to = window[1] if len(window) == 2 else None
chosen = cohort.CohortFilter(start_from, start_to, *AGE_BANDS[age], DOSES[dose], PROPHYLAXIS[prophylaxis])
st.caption(f"{references.citation(reference_set)} · cohort: {chosen.describe()}")

analysis = cohort_analysis(as_of=as_of, reference_set=reference_set, chosen=chosen)
left_out = "; ".join(f"{count} {'patient' if count == 1 else 'patients'}: {reason}"
                     for reason, count in analysis.left_out.items())
if analysis.exposed == 0:
    st.info("No patient in this selection has a day of follow-up on everolimus by the analysis date, so there is "
            "nothing to compare yet." + (" Not counted: " + left_out + "." if left_out else ""))
    st.stop()

metrics = st.columns(3)
metrics[0].metric("Exposed patients", analysis.exposed,
                  help="Treatment start on or before the analysis date, with at least one day of follow-up.")
follow_up = analysis.median_follow_up_days
metrics[1].metric("Median follow-up", "—" if follow_up is None else f"{follow_up / 7:.1f} weeks",
                  help="Treatment start to the analysis date, death, or 30 days after the last dose day of the "
                       "final exposure period.")
tested = int(analysis.table["p_value"].notna().sum())
unadjusted = int(analysis.table["signal"].isin(["higher", "lower"]).sum())
metrics[2].metric("Differences after adjustment", int(analysis.table["signal_adjusted"].isin(["higher", "lower"]).sum()),
                  help="p < 0.05 after Holm's adjustment over the " + str(tested) + " comparisons with a p-value "
                       "(Fisher's exact test against the trial's counts where its arm size is known); "
                       + str(unadjusted) + " before adjustment, which are exploratory.")
if left_out:
    st.caption("Not in any rate: " + left_out + ".")
if analysis.exposed < 20:
    st.warning("Only " + str(analysis.exposed) + (" patient is" if analysis.exposed == 1 else " patients are")
               + " exposed: the confidence intervals are wide and a difference from the reference is hard to show.",
               icon=":material/warning:")
st.info("BOLERO-2's rates come from months of exposure. A cohort with shorter follow-up will show lower "
        "incidence for later toxicities (pneumonitis) even with the same risk: read the time-to-event view "
        "below alongside.", icon=":material/schedule:")
for note in analysis.notes:
    st.info(note, icon=":material/science:")

frame = analysis.table
st.altair_chart(incidence_vs_reference(frame))
st.caption("Dot: the cohort's incidence (treatment-emergent, worst grade per patient); line: exact 95% "
           "Clopper-Pearson interval; red tick: the reference rate. Terms with the largest difference from the "
           "reference come first. Hover for counts, p-values and sources.")

flagged = frame[frame["signal_adjusted"].isin(["higher", "lower"])]
exploratory = frame[frame["signal"].isin(["higher", "lower"]) & ~frame["signal_adjusted"].isin(["higher", "lower"])]
st.markdown("**Reading**")
if flagged.empty:
    st.text("No comparison differs from its reference after adjustment for the " + str(tested)
            + " comparisons made.")
else:
    st.text("\n".join(f"• {text}" for text in flagged["reading"]))
if not exploratory.empty:
    st.caption("Exploratory (p < 0.05 only before adjustment for multiple comparisons):")
    st.text("\n".join(f"• {text}" for text in exploratory["reading"]))
with st.expander("Every term and band in words"):
    st.text("\n".join(f"• {text}" for text in frame["reading"]))

shown = frame.drop(columns=["reading", "caveats", "reference_pct"]).assign(
    p_value=[format_p(p, signal) for p, signal in zip(frame["p_value"], frame["signal"])],
    p_adjusted=[format_p(p, signal) for p, signal in zip(frame["p_adjusted"], frame["signal"])],
    reference_text=frame["reference_text"].fillna("—"),
    window_days=frame["window_days"].map(lambda d: "whole follow-up" if pd.isna(d) else f"{int(d)} days"))
show_table(shown, labels={"reference_text": "Reference %", "window_days": "Counted over"})
download_for_people("Download CSV", frame, file_name=f"incidence_{as_of}.csv")

st.subheader("Time to first event")
terms = analysis.terms_with_events()
if not terms:
    st.info("No treatment-emergent event in this selection yet.")
    st.stop()
pick, grade_pick = st.columns([2, 1])
term = pick.selectbox("CTCAE term", terms, key="km_term",
                      index=terms.index("Mucositis oral") if "Mucositis oral" in terms else 0)
band = grade_pick.radio("Grade", list(TIME_BANDS), horizontal=True, key="km_band")
min_grade, landmark_band = TIME_BANDS[band]
times = analysis.event_times(term, min_grade)
curve = time_to_event.aalen_johansen(times)
landmarks = pd.DataFrame([
    {"weeks": lm.value / 7 if lm.unit == "days" else lm.value,
     "short": f"{lm.landmark.replace('>=', '≥ ')} ({lm.value:g} {lm.unit})",
     "text": f"{lm.landmark.replace('>=', '≥ ')}: {lm.value:g} {lm.unit}"
             + (f", {lm.pct_of_events:g}% of first episodes" if lm.pct_of_events else "") + f" — {lm.source}"}
    for lm in references.landmarks(term) if lm.value is not None and lm.grade_band == landmark_band],
    columns=["weeks", "short", "text"])
longest = float(times["days"].max()) / 7 if not times.empty else 0.0
max_weeks = max(8.0, longest, float(landmarks["weeks"].max()) if not landmarks.empty else 0.0)
title = f"Patients with a first {term} event, {band.lower()} (%)"
st.altair_chart(cumulative_incidence(curve, landmarks, title, max_weeks,
                                     int((times["days"] >= max_weeks * 7).sum())), width="stretch")
st.caption("Cumulative incidence of the first treatment-emergent event (Aalen-Johansen, with death as a "
           "competing event), followed to the analysis date, death or 30 days after the last dose; shaded: 95% "
           "CI. Dashed red lines: published landmarks for this grade band (hover for their sources).")
step = 4 if max_weeks <= 52 else 12
marks = list(range(0, int(max_weeks) + 1, step))
at_risk = time_to_event.numbers_at_risk(times, [7 * week for week in marks])
st.markdown("**Numbers at risk**")
st.dataframe(pd.DataFrame([at_risk["at_risk"].tolist(), at_risk["events"].tolist(), at_risk["competing"].tolist()],
                          index=["At risk", "First events so far", "Deaths without the event so far"],
                          columns=[f"Week {week}" for week in marks]), width="stretch")
st.markdown("**Exposure-adjusted rates** (first events per 100 patient-months at risk)")
show_table(analysis.exposure_rates)
