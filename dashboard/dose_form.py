"""Recording a dose change (pharmacists, oncologists) and verifying dose records (pharmacists)."""
from __future__ import annotations

from datetime import date

import streamlit as st

from dashboard.widgets import date_field, read_dates, saved_then_rerun, show_notice, show_problems
from dashboard.labels import code_label, show_table
from models.clinical.dosing import describe_dose_action
from models.clinical.vocabulary import DOSE_ACTIONS
from models.settings import dose_steps_mg
from models.store import queries, records

COUNTER, NOTICE = "dose_form_n", "dose_notice"


def notice() -> None:
    show_notice(NOTICE)


def dose_form(patient: dict, who: records.Actor) -> None:
    n = st.session_state.setdefault(COUNTER, 0)
    events = queries.event_records(patient["id"])
    event_options = {int(row.id): f"{row.onset_date} · {row.term} · grade {row.grade}" for row in events.itertuples()}
    with st.form(f"dose_form_{patient['id']}_{n}"):
        first, second, third = st.columns(3)
        action = first.selectbox("Action", DOSE_ACTIONS, index=1, format_func=code_label, key=f"dose_action_{n}")
        when = date_field("Effective date", f"dose_date_{n}", value=date.today(), target=second)
        dose = third.selectbox("Daily dose after the action (mg)", (0.0,) + dose_steps_mg(), key=f"dose_mg_{n}",
                               format_func=lambda mg: "0 (held or stopped)" if mg == 0 else f"{mg:g} mg",
                               help="0 for a hold or a discontinuation.")
        first, second = st.columns(2)
        event_id = first.selectbox("Because of adverse event", list(event_options), index=None,
                                   format_func=event_options.get, key=f"dose_event_{n}")
        every_other_day = second.checkbox("Every other day", key=f"dose_eod_{n}",
                                          help="Only at the lowest step, where the rule table allows it.")
        reason = st.text_input("Reason", key=f"dose_reason_{n}", max_chars=500)
        if not st.form_submit_button("Record dose change", type="primary", icon=":material/medication:"):
            return
    dates = read_dates({"effective_date": ("Effective date", when, True)})
    if dates is None:
        return
    when = dates["effective_date"]
    try:
        records.create("dose_event", {"patient_id": patient["id"], "effective_date": when, "action": action,
                                      "dose_mg": dose, "adverse_event_id": event_id,
                                      "every_other_day": every_other_day, "reason": reason}, who)
    except records.RecordError as error:
        show_problems(error)
        return
    saved_then_rerun(NOTICE, f"Recorded {code_label(action).lower()} for {patient['mrn']} on {when}.", fresh_form=COUNTER)


def verify_list(who: records.Actor) -> None:
    """Dose records no pharmacist has verified yet, each with its reason, linked event, author and date, and a
    verify action (never on one's own record: the write path refuses it)."""
    pending = queries.unverified_doses()
    st.caption(f"{len(pending)} dose changes not yet verified by a pharmacist.")
    if pending.empty:
        return
    pending["change"] = [describe_dose_action(r.action, r.dose_mg, bool(r.every_other_day))
                         for r in pending.itertuples()]
    pending["linked_event"] = [f"{r.term} grade {int(r.grade)} (onset {r.onset_date})" if isinstance(r.term, str)
                               else "" for r in pending.itertuples()]
    show_table(pending[["mrn", "effective_date", "change", "reason", "linked_event", "created_by", "created_at"]],
               labels={"change": "Dose change", "linked_event": "Linked event", "created_by": "Entered by",
                       "created_at": "Entered at"})
    options = {int(row.id): f"{row.mrn} · {row.effective_date} · {row.change}" for row in pending.itertuples()}
    versions = dict(zip(pending["id"].astype(int), pending["version"].astype(int)))
    chosen = st.selectbox("Dose change to verify", list(options), index=None, format_func=options.get,
                          key="verify_choice")
    if chosen is not None and st.button("Verify", key="verify_button", icon=":material/verified:"):
        try:
            records.verify_dose_event(chosen, versions[chosen], who)
        except records.RecordError as error:
            show_problems(error)
            return
        saved_then_rerun(NOTICE, f"Verified: {options[chosen]}.")
