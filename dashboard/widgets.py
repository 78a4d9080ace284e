"""Small shared UI helpers."""
from __future__ import annotations

import re

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape_markdown(text: object) -> str:
    """User-typed text shown inside Markdown (titles, captions) appears as typed, never as formatting."""
    return _break_bare_links(_MARKDOWN_SPECIALS.sub(r"\\\1", str(text)))


# What Streamlit's Markdown acts on inside a line: emphasis, code, links and images, HTML, math, strike,
# tables, `:color[...]`/`:material/...:` and scheme links (a colon before a letter or slash), bare www. links.
_INLINE_SPECIALS = re.compile(r"([\\`*_\[\]<>!$~|{}])|(:)(?=[A-Za-z/])|(?<=www)(\.)", re.IGNORECASE)


# Bare links are found in the text after escapes are read, so escaping cannot stop them: an invisible word
# joiner after the scheme, "www" or an address's "@" does (the text still reads as typed).
_BARE_LINK = re.compile(r"(?i)\b(https?|ftp|mailto|www)(?=\\[:.])|(?<=[\w.+-])(@)(?=[\w-]+\\?\.)")
WORD_JOINER = "\u2060"


def _break_bare_links(escaped: str) -> str:
    return _BARE_LINK.sub(lambda m: (m[1] or m[2]) + WORD_JOINER, escaped)


def plain(text: object) -> str:
    """A message for st.success/st.error/st.caption that shows every character as typed: only what Markdown
    would interpret is escaped (and bare links broken), so ordinary text (MRNs, names, dates, "Saved: ...")
    reads the same in code and on screen. Line breaks become spaces (a message is one line)."""
    one_line = " ".join(str(text).splitlines())
    escaped = _INLINE_SPECIALS.sub(lambda m: "\\" + next(g for g in m.groups() if g), one_line)
    return _break_bare_links(escaped)


def saved_then_rerun(notice_key: str, message: str, *, fresh_form: str | None = None,
                     clear: tuple[str, ...] = ()) -> None:
    """After a save: the message for the next run (show_notice), a fresh form (a new key suffix) or emptied
    fields, and that run, which reloads every list from the database."""
    import streamlit as st

    if fresh_form:
        st.session_state[fresh_form] = st.session_state.get(fresh_form, 0) + 1
    for key in clear:
        st.session_state.pop(key, None)
    st.session_state[notice_key] = message
    st.rerun()


def show_notice(notice_key: str) -> None:
    """The message saved_then_rerun left, once."""
    import streamlit as st

    if message := st.session_state.pop(notice_key, None):
        st.success(plain(message), icon=":material/check_circle:")  # notices name records by user text


def show_problems(error: Exception) -> None:
    """A refused write: one error line per problem, nothing else changes."""
    import streamlit as st

    problems = getattr(error, "problems", None) or [error]
    for problem in problems:
        st.error(plain(problem), icon=":material/error:")  # problems quote what was typed


DATE_PLACEHOLDER = "YYYY-MM-DD"


def date_field(label: str, key: str, *, value=None, target=None, help: str | None = None) -> str:
    """A date typed as text, read strictly on save (read_date). Streamlit's date_input puts its own value in
    place of an out-of-range, cleared or unfinished one without a word; this field keeps what was typed."""
    import streamlit as st

    return (target or st).text_input(label, value="" if value is None else value.isoformat(), key=key,
                                     placeholder=DATE_PLACEHOLDER, max_chars=10, help=help)


def read_date(label: str, text: str, *, required: bool):
    """The date typed into a date_field, or None when it is empty and may be; a ValueError names the field and
    what was typed. Whether the date is allowed (not in the future, after the onset ...) is the write
    path's rule, and its message names the date as well."""
    from models.store.record_inputs import iso_date

    text = (text or "").strip()
    if not text:
        if required:
            raise ValueError(f"{label} is empty: type the date as YYYY-MM-DD. Nothing was saved.")
        return None
    try:
        return iso_date(text)
    except ValueError as error:
        raise ValueError(f"{label}: “{text}” — {str(error).lower()} (type it as YYYY-MM-DD). "
                         "Nothing was saved.") from None


def read_dates(fields: dict[str, tuple[str, str, bool]]) -> dict | None:
    """{name: (label, typed text, required)} read at once: the dates by name, or None after showing every
    problem (so a save is refused whole, with each wrong field named)."""
    import streamlit as st

    values, problems = {}, []
    for name, (label, text, required) in fields.items():
        try:
            values[name] = read_date(label, text, required=required)
        except ValueError as error:
            problems.append(str(error))
    for problem in problems:
        st.error(plain(problem), icon=":material/event_busy:")
    return None if problems else values


def patient_picker(key: str, *, label: str = "Patient") -> dict | None:
    """Patient choice: a search (MRN or its number, or name words in any order, accents ignored; the closest
    first) narrows the list, whose entries show birth date and status so that namesakes can be told apart.
    Returns id, mrn, name, treatment_start, or None."""
    import streamlit as st

    from dashboard.labels import code_label
    from models.analysis.patient_search import search
    from models.store import queries

    choices = last_known(f"choices_{key}", queries.patient_choices)
    if choices.empty:
        st.info("No patients yet: register one on the Patients page.")
        return None
    find, pick = st.columns((1, 2))
    query = find.text_input("Find a patient", key=f"{key}_search", placeholder="MRN, number or name words",
                            help="Words in any order, accents and case ignored: \"oakhurst hazel\" finds Hazel "
                                 "Oakhurst; \"12\" lists DEMO-00012 first.")
    shown = search(choices, query)
    by_id = {int(row.id): row for row in choices.itertuples()}
    options = [int(i) for i in shown["id"]]
    chosen_before = st.session_state.get(key)
    if chosen_before is not None and chosen_before not in by_id:
        st.session_state.pop(key)  # that patient is gone (entered in error): nothing stays chosen
    elif chosen_before is not None and chosen_before not in options:
        options.append(chosen_before)  # the patient already chosen stays chosen, never silently replaced
    if not options:
        pick.warning(plain(f"No patient matches “{query}”."), icon=":material/search_off:")
        return None

    def describe(pid: int) -> str:
        row = by_id[pid]
        born = f" · born {row.birth_date}" if row.birth_date else ""
        return f"{row.mrn} · {row.name}{born} · {code_label(row.status)}"

    # Typed text filters by substring, not fuzzily (Enter must not pick a look-alike patient), and a chosen
    # patient has no clear button a Tab could land on (Enter there would clear the patient).
    chosen = pick.selectbox(label, options, index=None, key=key, format_func=describe, filter_mode="contains",
                            required=True,
                            placeholder=f"{len(shown)} matching: type or choose" if query.strip() else
                            "Type an MRN or a name")
    if chosen is None:
        return None
    row = by_id[chosen]
    return {"id": int(row.id), "mrn": row.mrn, "name": row.name, "treatment_start": row.treatment_start}


def choose_for_logging(patient_id: int, mode: str, event_id: int | None = None) -> None:
    """Set the Log adverse event page to `mode` ("Adverse event" or "Labs") with this patient chosen (and one of
    their records open). From another page, or from a callback of that page (before its widgets exist)."""
    import streamlit as st

    for key in ("log_patient_search", "last_saved_event", "last_saved_lab", "event_choice"):
        st.session_state.pop(key, None)  # nothing of the patient chosen before comes along
    st.session_state["log_patient"] = patient_id
    st.session_state["log_mode"] = mode
    if event_id is not None:
        st.session_state["event_choice"] = event_id


def open_log_page(patient_id: int, mode: str) -> None:
    import streamlit as st

    choose_for_logging(patient_id, mode)
    st.switch_page("app_pages/log_event.py")


def term_label(term: str) -> str:
    """A CTCAE term with its synonyms, so typing "Stomatitis" finds "Mucositis oral"."""
    from models.clinical import ctcae

    aliases = [synonym for synonym, target in ctcae.synonyms().items() if target == term]
    return f"{term} ({', '.join(aliases)})" if aliases else term


def last_known(key: str, load):
    """`load()`, remembered for this session; while the database is unreachable the remembered result is
    used instead, so the widgets built from it (and what the user typed into them) stay on the page."""
    import streamlit as st
    from sqlalchemy.exc import OperationalError

    remembered = f"_last_known_{key}"
    try:
        result = load()
    except OperationalError:
        if remembered not in st.session_state:
            raise
        st.warning("The database cannot be reached: showing the list as it was a moment ago.",
                   icon=":material/cloud_off:")
        return st.session_state[remembered]
    st.session_state[remembered] = result
    return result
