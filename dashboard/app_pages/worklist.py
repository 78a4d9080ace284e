"""Worklist: who needs attention today, most urgent first, each row saying why and opening its patient."""
from __future__ import annotations

import hashlib
from datetime import date

import pandas as pd
import streamlit as st

from dashboard.access import actor, require_page
from dashboard.cached import worklist_alerts
from dashboard.labels import show_table
from dashboard.widgets import date_field, plain, read_dates, saved_then_rerun, show_notice, show_problems
from models.analysis import worklist
from models.clinical import alerts as alert_data
from models.clinical import dose_rules
from models.settings import database_url
from models.store import protocols, queries, records

NOTICE, CHOSEN = "worklist_notice", "worklist_alert"

user = require_page("worklist")
st.title("Worklist")
show_notice(NOTICE)
today = date.today()
every = worklist_alerts(today)
open_alerts = [a for a in every if not a.acknowledged]
on_watch = {tier: len({a.patient_id for a in open_alerts if a.tier == tier}) for tier in alert_data.TIERS}
st.caption(plain(str(today) + " · alerts for patients on treatment or within 30 days of their last dose · dose "
                 "rule set " + dose_rules.describe_rule_set() + " · monitoring protocol: "
                 + protocols.in_force(database_url()).describe() + " · "
                 + "; ".join(alert_data.TIER_LABELS[tier] + ": " + str(count) + (" patient" if count == 1 else
                                                                                   " patients")
                             for tier, count in on_watch.items())))

first, second, third = st.columns([2, 1, 1])
tiers = first.multiselect("Show", list(alert_data.TIERS), default=list(alert_data.TIERS),
                          format_func=alert_data.TIER_LABELS.get, key="worklist_tiers")
only_new = second.toggle("New since my last review", key="worklist_new",
                         help="Alerts whose record was entered after your last acknowledgement or snooze (an "
                              "overdue test or a missed visit: from the day after it).")
with_reviewed = third.toggle("Show acknowledged", key="worklist_reviewed")
shown = worklist.new_since(every, queries.last_alert_review_at(database_url(), username=user.username)) \
    if only_new else [a for a in every if with_reviewed or not a.acknowledged]
shown = [a for a in shown if a.tier in tiers]
if not shown:
    st.info("Nothing needs attention with these choices." if every else
            "No alert for any patient on treatment today.", icon=":material/task_alt:")
    st.stop()

table = pd.DataFrame([{"mrn": a.mrn, "name": a.name, "tier": alert_data.TIER_LABELS[a.tier], "reason": a.reason,
                       "since": a.since, "review": (f"{a.review} ({a.reviewed_by})" if a.acknowledged else "")}
                      for a in shown])
by_key = {f"{a.patient_id}|{a.rule}|{a.subject}": a for a in shown}
keys = list(by_key)
# The table's key follows the rows it shows: a selection never carries over to another list (another filter, or
# the list after a save), where the same row number would be another patient's alert.
table_key = "worklist_" + hashlib.sha1(repr(keys).encode()).hexdigest()


def _choose_row() -> None:
    rows = st.session_state[table_key].selection.rows
    if rows:
        st.session_state[CHOSEN] = keys[rows[0]]


show_table(table, labels={"tier": "Urgency", "reason": "Why", "since": "Since", "review": "Reviewed"},
           column_settings={"reason": st.column_config.TextColumn(width="large")},
           on_select=_choose_row, selection_mode="single-row", key=table_key)
if st.session_state.get(CHOSEN) not in by_key:
    st.session_state.pop(CHOSEN, None)  # the alert is gone (reviewed, resolved, filtered out): nothing carries over
chosen = st.selectbox("Alert", keys, index=None, key=CHOSEN, placeholder="Select a row above, or choose an alert here",
                      format_func=lambda k: f"{by_key[k].mrn} · {by_key[k].name} — {by_key[k].reason}",
                      help="Opens its patient, or acknowledges or snoozes it. An acknowledged alert comes back when "
                           "its cause worsens (a higher grade, a new result).")
if chosen is None:
    st.stop()
alert = by_key[chosen]
st.markdown("**" + plain(f"{alert.mrn} · {alert.name}") + "**")
st.text(alert.reason)
rule = alert_data.rules()[alert.rule]
st.caption(plain(f"{alert_data.TIER_LABELS[alert.tier]} · rule: {rule.description} · source: {rule.source} "
                 f"({rule.status})"))
if st.button("Open patient", icon=":material/person:", key=f"open_{alert.mrn}_{alert.rule}"):
    st.session_state["worklist_record"] = (alert.mrn, alert.record_type, alert.record_id, alert.reason)
    st.switch_page("app_pages/patient_detail.py", query_params={"mrn": alert.mrn})

key = f"{alert.patient_id}_{alert.rule}_{alert.subject}"  # the form belongs to this alert only
with st.form(f"review_{key}", clear_on_submit=False):
    decision = st.radio("Decision", ["acknowledged", "snoozed"], horizontal=True, key=f"decision_{key}",
                        format_func={"acknowledged": "Acknowledge", "snoozed": "Snooze"}.get)
    comment = st.text_input("Comment (a reason is needed to snooze)", key=f"comment_{key}")
    until = date_field("Snooze until", f"until_{key}", help="Needed to snooze: the alert returns on that day.")
    sent = st.form_submit_button("Save review for " + plain(alert.mrn), type="primary")
if sent:
    dates = read_dates({"snooze_until": ("Snooze until", until, False)})
    if dates is not None:
        values = {"patient_id": alert.patient_id, "rule": alert.rule, "subject": alert.subject,
                  "record_type": alert.record_type, "record_id": alert.record_id, "severity": alert.severity,
                  "decision": decision, "comment": comment or None, "snooze_until": dates["snooze_until"]}
        try:
            records.create("alert_review", values, actor(user))
        except records.RecordError as error:
            show_problems(error)
        else:
            verb = "Acknowledged" if decision == "acknowledged" else f"Snoozed until {dates['snooze_until']}"
            saved_then_rerun(NOTICE, f"{verb} for {alert.mrn} ({alert.name}): {alert.reason}",
                             clear=(f"comment_{key}", f"until_{key}", table_key, CHOSEN))
