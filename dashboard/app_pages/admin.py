"""Admin: accounts, the audit trail, the reference data with its sources and status, and the database."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from dashboard.access import actor, require_page
from dashboard.import_upload import import_upload
from dashboard.medication_form import REFERENCE_LABELS, interaction_classes_table
from dashboard.labels import code_label, download_for_people, reference_set_title, show_table, values_text
from dashboard.protocol_editor import monitoring_protocol_editor
from dashboard.standards_exchange import exchange_codes_tables, standards_exchange
from dashboard.widgets import plain, saved_then_rerun, show_notice
from models import auth
from models.clinical import ctcae, dose_rules, medications, references
from models.clinical.vocabulary import ROLES
from models.exchange import csv_export, csv_files
from models.settings import database_choice, masked_url
from models.store import queries
from models.store import sign_in_throttle as throttle
from models.store.migrate import current_revision, head_revision

CHANGE_FORM_COUNTER = "change_user_form_n"
THROTTLE_RULE = (f"After {throttle.FREE_FAILURES['account']} failures in a row for one username (or "
                 f"{throttle.FREE_FAILURES['client']} from one computer) each further failure waits twice as long, "
                 f"from {throttle.FIRST_WAIT.seconds} seconds to at most {throttle.LONGEST_WAIT.seconds // 60} "
                 "minutes; a success or an hour without failures ends it.")

user = require_page("admin")
st.title("Admin")

users_tab, trail_tab, import_tab, reference_tab, database_tab = st.tabs(
    ["Users", "Audit trail", "Import / export", "Reference data", "Database"])


def done(message: str, *clear_keys: str) -> None:
    saved_then_rerun("admin_notice", message, clear=clear_keys)


def _change_user_form(account, admin: str) -> None:
    """The form of one account: its fields start at that account's values and belong to it alone (keyed by
    the username and a counter bumped after each apply), and only what the admin changed is applied."""
    name = account.username
    with st.form(f"change_user_{name}_{st.session_state.get(CHANGE_FORM_COUNTER, 0)}"):
        role = st.selectbox("Role", ROLES, index=ROLES.index(account.role), format_func=code_label)
        state = st.radio("Account", ("enabled", "disabled"), index=0 if account.active else 1, horizontal=True,
                         format_func=code_label)
        password = st.text_input("New password (leave empty to keep)", type="password")
        if not st.form_submit_button(plain(f"Apply changes to {name}")):  # a_b_ would read as emphasis
            return
    changes = []
    try:
        if role != account.role:
            auth.set_role(name, role, actor=admin)
            changes.append(f"role {code_label(role).lower()}")
        if (state == "enabled") != account.active:
            auth.set_active(name, state == "enabled", actor=admin)
            changes.append(state)
        if password:
            auth.reset_password(name, password, actor=admin)
            changes.append("password reset")
    except auth.AccountError as error:
        st.error(plain(f"{error} Applied before the error: {', '.join(changes) or 'nothing'}."))
        return
    saved_then_rerun("admin_notice", f"{name}: {', '.join(changes)}." if changes else f"{name}: nothing changed.",
                     fresh_form=CHANGE_FORM_COUNTER)


def _sign_in_throttles(admin: str) -> None:
    """Usernames and computers with failed sign-ins that still count; an admin can clear one."""
    st.markdown("**Failed sign-ins**")
    throttles = auth.sign_in_throttles()
    if not throttles:
        st.caption("No username or computer has failed sign-ins that still count.")
        return
    show_table(pd.DataFrame([{"throttled": "Username" if t.kind == "account" else "Computer (address)",
                              "name": t.name, "failures": t.failures, "locked_until": t.blocked_until}
                             for t in throttles]),
               labels={"throttled": "Kind", "name": "Username or address", "failures": "Failures in a row"})
    st.caption(THROTTLE_RULE)
    with st.form("unlock_sign_in"):
        key = st.selectbox("Clear the failed sign-ins of", [t.key for t in throttles], index=None,
                           format_func=lambda k: next(f"{'username' if t.kind == 'account' else 'computer'} "
                                                      f"{t.name}" for t in throttles if t.key == k),
                           placeholder="Choose a username or computer")
        if st.form_submit_button("Clear failed sign-ins") and key is not None:
            auth.unlock(key, actor=admin)
            kind, _, name = key.partition(":")
            done(f"Cleared the failed sign-ins of {'username' if kind == 'account' else 'computer'} {name}.")


with users_tab:
    show_notice("admin_notice")
    accounts = auth.list_users()
    show_table(pd.DataFrame([a.__dict__ for a in accounts],
                            columns=["username", "display_name", "role", "active", "locked_until", "created_at"]),
               labels={"created_at": "Created (UTC)"})
    add, change = st.columns(2)
    with add.form("add_user", clear_on_submit=False):
        st.markdown("**Add a user**")
        new_name = st.text_input("Username", key="new_username")
        new_display = st.text_input("Display name", key="new_display_name")
        new_role = st.selectbox("Role", ROLES, format_func=code_label, key="new_role")
        new_password = st.text_input("Initial password", type="password", key="new_password",
                                     help=f"At least {auth.MIN_PASSWORD_LENGTH} characters and not easy to guess (a phrase of unrelated words).")
        if st.form_submit_button("Add user", type="primary"):
            try:
                auth.add_user(new_name, new_role, new_password, actor=user.username, display_name=new_display)
            except auth.AccountError as error:
                st.error(plain(error))
            else:
                done(f"Added {new_name.strip()} as {new_role}.", "new_username", "new_display_name",
                     "new_password")
    with change:
        st.markdown("**Change a user**")
        target = st.selectbox("User", [a.username for a in accounts], index=None, key="target_user",
                              placeholder="Choose the account to change")
        if target is not None:
            _change_user_form(next(a for a in accounts if a.username == target), user.username)

    _sign_in_throttles(user.username)

with trail_tab:
    filters = st.columns(5)
    who = filters[0].selectbox("User", ["(all)"] + sorted({a.username for a in accounts} | {"seed-demo"}))
    mrn = filters[1].text_input("Patient MRN")
    kind = filters[2].selectbox("Record type", ["(all)", "patient", "adverse_event", "lab_result", "dose_event",
                                                "user"], format_func=code_label)
    since = filters[3].date_input("From", value=date.today() - timedelta(days=30), format="YYYY-MM-DD")
    until = filters[4].date_input("To", value=date.today(), format="YYYY-MM-DD")
    trail = queries.audit_trail(username=None if who == "(all)" else who, mrn=mrn.strip() or None,
                                record_type=None if kind == "(all)" else kind, date_from=since, date_to=until)
    # On screen the snapshots read as "Grade: 2; Onset: ..."; the download keeps them whole, as stored (JSON).
    show_table(trail.assign(before=trail["before"].map(values_text), after=trail["after"].map(values_text)),
               labels={"id": "Entry"})
    st.caption(f"{len(trail)} entries (newest first, at most 5,000 shown).")
    download_for_people("Download audit trail CSV", trail, labels={"id": "Entry"}, file_name="audit_trail.csv")

with import_tab:
    import_upload(actor(user), "admin_import")
    st.divider()
    st.caption("Export the active records in the import format (they re-import unchanged).")
    # Built on the click, not on every rerun of the page (any widget of any tab reruns it).
    for column, name in zip(st.columns(len(csv_files.FILES)), csv_files.FILES):
        column.download_button(name, lambda name=name: csv_export.export_files()[name], file_name=name,
                               mime="text/csv", key=f"export_{name}", on_click="ignore")
    st.divider()
    standards_exchange(actor(user), "admin_exchange")

with reference_tab:
    st.markdown("**CTCAE v5.0 terms used here**")
    terms = pd.DataFrame([{"term": t.name, "meddra_code": t.meddra_code, "grades_defined": ", ".join(
        str(g) for g in sorted(t.grades)), "status": t.status, "source": t.source} for t in ctcae.terms()])
    show_table(terms)
    st.markdown("**Reference rates**")
    rates = pd.DataFrame([{"reference_set": reference_set_title(r.reference_set), "term": r.ctcae_term,
                           "trial_term": r.trial_term, "arm": r.arm, "arm_n": r.arm_n,
                           "any_grade_pct": r.any_grade_text, "grade_2_plus_pct": r.grade_2_plus_text,
                           "grade_3_plus_pct": r.grade_3_plus_text,
                           "grade_3_plus_definition": r.grade_3_plus_definition or "not stated",
                           "time_window": r.time_window or "whole study", "verified": r.verified,
                           "caveat": r.caveat, "reference_source": r.source}
                          for name in references.reference_sets() for r in references.rates(name, arm="*")])
    show_table(rates)
    st.markdown("**Reference sets: grading and follow-up** (seed_data/reference_sets.csv)")
    facts = [references.set_facts(name) for name in references.reference_sets()]
    show_table(pd.DataFrame([{"reference_set": reference_set_title(f.reference_set), "grading": f.grading or "—",
                              "grading_status": f.grading_status,
                              "median_follow_up_months": "—" if f.median_follow_up_months is None
                              else f"{f.median_follow_up_months:g}",
                              "follow_up_status": f.follow_up_status, "reference_source": f.source} for f in facts]))
    st.caption("`report incidence --reference NAME` takes the name of a set: " + "; ".join(
        f"{name} ({reference_set_title(name)})" for name in references.reference_sets()) + ".")
    st.markdown("**Dose-modification rule sets** (seed_data/dose_rules/, one file per set; a clinic's protocol "
                "is a copy under its own name; the default is " + plain(dose_rules.default_rule_set()) + ")")
    show_table(pd.DataFrame([row for name in dose_rules.rule_sets() for row in dose_rules.rule_table(name)]))
    st.markdown("**Interaction classes** (seed_data/interaction_classes.csv: what the dosing audit asks of the "
                "everolimus dose while a medicine of the class is taken)")
    interaction_classes_table()
    st.markdown("**Medication catalogue** (seed_data/medications.csv; a medicine typed as free text belongs to no "
                "class and is not checked)")
    show_table(pd.DataFrame([{"drug": d.name, "synonyms": ", ".join(d.synonyms),
                              "classes": ", ".join(medications.class_label(c) for c in d.classes),
                              "patient_reported": d.patient_reported, "route": d.route, "reference": d.source,
                              "reference_status": d.status} for d in medications.catalogue_drugs()]),
               labels=REFERENCE_LABELS)
    exchange_codes_tables()
    monitoring_protocol_editor(actor(user))

with database_tab:
    choice = database_choice()
    st.code(masked_url(choice.url), language=None)
    st.caption(f"Backend {choice.backend}; schema revision {current_revision(choice.url)} "
               f"(newest {head_revision()}).")
    counts = queries.table_counts()
    show_table(pd.DataFrame({"table": list(counts), "records": list(counts.values())}), width="content")
