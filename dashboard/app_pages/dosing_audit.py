"""Dosing audit: holds, reductions and stops checked against the label's rules; dose intensity."""
from __future__ import annotations

from datetime import date

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.access import actor, require_page
from dashboard.cached import dosing_audit
from dashboard.dose_form import dose_form, notice, verify_list
from dashboard.medication_form import interaction_classes_table
from dashboard.labels import code_label, download_for_people, field_label, show_table
from dashboard.widgets import patient_picker, plain, saved_then_rerun, show_notice, show_problems
from models.analysis import dose_audit
from models.clinical import dose_rules, medications
from models.store import queries, records


def _review_text(review) -> str:
    comment = review["comment"] if isinstance(review["comment"], str) else ""  # a missing one is NaN here
    return f"{code_label(review['decision'])} by {review['created_by']}: {comment}".strip()


user = require_page("dosing_audit")
st.title("Dosing audit")
notice()
show_notice("review_notice")

first, second, third, fourth = st.columns([1.2, 1, 0.8, 2])
sets = list(dose_rules.rule_sets())
rule_set = first.selectbox("Rule set", sets, index=sets.index(dose_rules.default_rule_set()), key="audit_rule_set",
                           help="us-current: the current US label (the default); us-2012: the label at BOLERO-2's "
                                "approval, for audits of past periods. A clinic's protocol is a copy of a file in "
                                "seed_data/dose_rules/ under its own name.")
as_of = second.date_input("Analysis date", value=date.today(), max_value=date.today(), format="YYYY-MM-DD")
grace = third.number_input("Grace period (days)", min_value=0, max_value=14, value=dose_audit.DEFAULT_GRACE_DAYS,
                           help="Days allowed between an event's onset and the dose action it calls for.")
shown_statuses = fourth.multiselect("Show", ["deviation", "open", "compliant"], default=["deviation", "open"],
                                    format_func=code_label)
rules = dose_rules.rules(rule_set)
unconfirmed = sum(rule.status not in ("confirmed", "checked") for rule in rules)
st.caption(plain(f"Audited on the rule set {dose_rules.describe_rule_set(rule_set)}: {len(rules)} rules, "
                 f"{unconfirmed} still to be checked against the label text (see the rule table below)."))

result = dosing_audit(as_of=as_of, grace_days=int(grace), rule_set=rule_set)
intensity, holds, uncovered = result.intensity, result.holds, result.uncovered
reviews = queries.finding_reviews().set_index("finding_key")
FINDING_COLUMNS = ["key", "patient_id", "mrn", "term", "grade", "onset_date", "rule", "rule_status", "expected",
                   "actual", "status", "more_than_required", "rule_set"]
table = pd.DataFrame([f.__dict__ for f in result.findings], columns=FINDING_COLUMNS)
information = pd.DataFrame([f.__dict__ for f in result.information], columns=FINDING_COLUMNS)
# An interaction finding is about a medication record: its "term" is the drug, its date the medication's start.
INTERACTION_LABELS = {"term": "Drug", "onset_date": "Medication start", "expected": "Expected (label)"}


table["review"] = table["key"].map(lambda key: _review_text(reviews.loc[key]) if key in reviews.index else "")
metrics = st.columns(4)
deviations = table[table["status"] == "deviation"]
interacting = table["key"].str.startswith("medication:")
metrics[0].metric("Deviations", len(deviations),
                  help=f"Dose rules {int((~interacting[deviations.index]).sum())}, interactions with "
                       f"concomitant medications {int(interacting[deviations.index].sum())} (their own table below).")
metrics[1].metric("Not yet reviewed", int((deviations["review"] == "").sum()))
opened = table["status"] == "open"
metrics[2].metric("Open", int(opened.sum()),
                  help=f"Dose rules {int((opened & ~interacting).sum())} (within the grace period, or held and not "
                       f"yet recovered); interactions {int((opened & interacting).sum())} (for your review).")
rdi = intensity["relative_dose_intensity_pct"].dropna()
metrics[3].metric("Median relative dose intensity", f"{rdi.median():.0f}%" if not rdi.empty else "—")

st.subheader("Findings")
search = st.text_input("Filter by MRN, term or rule", key="finding_search")
view = table[table["status"].isin(shown_statuses)]
if search.strip():
    needle = search.strip().lower()
    view = view[view[["mrn", "term", "rule"]].apply(lambda r: needle in " ".join(r).lower(), axis=1)]
is_interaction = view["key"].str.startswith("medication:")
dose_rule_view = view[~is_interaction].drop(columns=["key", "patient_id"])
show_table(dose_rule_view)
download_for_people("Download findings CSV", dose_rule_view, file_name=f"dosing_findings_{as_of}.csv")

st.subheader("Interactions with concomitant medications")
classes = medications.interaction_classes()
st.caption(plain("From the patients' medication records: strong CYP3A4/P-gp inhibitors and live vaccines are to be "
                 "avoided, a moderate inhibitor means 2.5 mg daily and the dose before it about 3 days after it "
                 "stops, strong inducers and grapefruit are left for your review. Rules and their status: "
                 "interaction classes below (" + str(sum(c.rule is not None for c in classes.values())) +
                 " rules; Admin > Reference data has the catalogue). Free-text medicines are not checked."))
NOT_INTERACTION = ["key", "patient_id", "grade", "more_than_required", "rule_set"]  # no grade, no dose rule set
interaction_view = view[is_interaction].drop(columns=NOT_INTERACTION)
if interaction_view.empty:
    st.caption("No interaction finding with these filters.")
else:
    show_table(interaction_view, labels=INTERACTION_LABELS)
    download_for_people("Download interaction findings CSV", interaction_view, labels=INTERACTION_LABELS,
                        file_name=f"interaction_findings_{as_of}.csv")
st.markdown("**For information**")
if information.empty:
    st.caption("No ACE inhibitor taken with everolimus and no corticosteroid for pneumonitis without PJP "
               "prophylaxis.")
else:
    told = information.drop(columns=[*NOT_INTERACTION, "status"])
    show_table(told, labels=INTERACTION_LABELS)
    download_for_people("Download information CSV", told, labels=INTERACTION_LABELS,
                        file_name=f"interaction_information_{as_of}.csv")
with st.expander("Interaction classes", icon=":material/medication:"):
    interaction_classes_table()

reviewable = table[table["status"] != "compliant"]
if not reviewable.empty:
    with st.expander("Review a finding", icon=":material/rate_review:", expanded=True):
        options = {row.key: f"{row.mrn} · {row.term} · {row.onset_date} · {row.rule} · {code_label(row.status)}"
                   for row in reviewable.itertuples()}
        key = st.selectbox("Finding", list(options), index=None, format_func=options.get, key="review_choice",
                           placeholder="Choose the finding to review (patient, term or drug, date, rule)")
        if key is not None:
            finding = reviewable[reviewable["key"] == key].iloc[0]
            st.text(f"Expected: {finding['expected']}\nRecorded: {finding['actual']}")
            previous = reviews.loc[key] if key in reviews.index else None
            if previous is not None:
                st.caption(plain(f"Current review: {_review_text(previous)}"))
            with st.form(f"review_{key}"):
                decision = st.radio("Decision", ["accepted", "justified"], horizontal=True, format_func=code_label,
                                    captions=["a real deviation, with what was done about it",
                                              "clinically justified (say why)"])
                comment = st.text_area("Comment", max_chars=2000)
                if st.form_submit_button("Save review", type="primary"):
                    values = {"finding_key": key, "patient_id": int(finding["patient_id"]), "rule": finding["rule"],
                              "decision": decision, "comment": comment}
                    try:
                        if previous is None:
                            records.create("finding_review", values, actor(user))
                        else:
                            records.update("finding_review", int(previous["id"]), int(previous["version"]),
                                           {"decision": decision, "comment": comment}, actor(user))
                    except records.RecordError as error:
                        show_problems(error)
                    else:
                        saved_then_rerun("review_notice", f"Review saved for {options[key]}.")

st.subheader("Events no rule covers")
if uncovered.empty:
    st.caption("Every treatment-emergent event falls under a rule of this set.")
else:
    st.caption(plain(f"{len(uncovered)} treatment-emergent events of terms no rule of {rule_set} names (the "
                     "current label has none for anemia): they are never deviations; check them yourself."))
    show_table(uncovered.drop(columns=["patient_id"]))

with st.expander(plain(f"Rules of {rule_set}"), icon=":material/rule:"):  # a file name may hold _ or *
    show_table(pd.DataFrame(dose_rules.rule_table(rule_set)))

st.subheader("Open holds")
if holds.empty:
    st.caption("No patient is held today.")
else:
    show_table(holds)

st.subheader("Relative dose intensity")
chart = alt.Chart(intensity.dropna(subset=["relative_dose_intensity_pct"])).mark_bar(color="#1f6f78").encode(
    x=alt.X("relative_dose_intensity_pct:Q", bin=alt.Bin(step=10), title="Relative dose intensity (%)"),
    y=alt.Y("count():Q", title="Patients"), tooltip=[alt.Tooltip("count():Q", title="Patients")])
st.altair_chart(chart.properties(height=220), width="stretch")
show_table(intensity.drop(columns=["patient_id"]).sort_values("relative_dose_intensity_pct"),
           column_settings={"relative_dose_intensity_pct": st.column_config.ProgressColumn(
               field_label("relative_dose_intensity_pct"), min_value=0, max_value=100, format="%.0f%%")})
st.caption("RDI = mg taken / (planned mg/day × days from start to the earlier of discontinuation and the "
           "analysis date); every-other-day dosing counts half.")
download_for_people("Download dose intensity CSV", intensity.drop(columns=["patient_id"]),
                    file_name=f"dose_intensity_{as_of}.csv")

if user.role in records.WRITE_ROLES["dose_event"]:
    with st.expander("Record a dose change", icon=":material/medication:"):
        patient = patient_picker("dose_patient")
        if patient is not None:
            dose_form(patient, actor(user))
if user.role in records.VERIFY_ROLES:
    with st.expander("Verify dose changes", icon=":material/verified:"):
        verify_list(actor(user))
