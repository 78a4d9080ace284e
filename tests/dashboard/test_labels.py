"""dashboard/labels.py, the one vocabulary of what people read: each kind of cell in its one format, user text
as typed, and the audit trail's snapshots in words."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest

from dashboard.labels import (FIELD_LABELS, cell_text, code_label, csv_for_people, field_label, people_table,
                              values_text)


def test_dates_times_booleans_codes_and_missing_cells():
    frame = pd.DataFrame({
        "onset_date": [date(2026, 1, 2), None],
        "created_at": [datetime(2026, 3, 2, 0, 30, tzinfo=timezone(timedelta(hours=2))), None],
        "serious": [True, False],
        "status": ["on_treatment", None],
        "test": ["glucose_fasting", "neutrophils"],
        "previous_event_id": [17.0, float("nan")],
        "value": [12.3456789, 1234567.0],
    })
    shown = people_table(frame)
    assert list(shown.columns) == ["Onset", "Logged at (UTC)", "Serious", "Status", "Test", "Continues record",
                                   "Value"]
    assert list(shown["Onset"]) == ["2026-01-02", ""]
    assert list(shown["Logged at (UTC)"]) == ["2026-03-01 22:30", ""]  # 00:30 at UTC+2 is 22:30 UTC
    assert list(shown["Serious"]) == ["Yes", "No"]
    assert list(shown["Status"]) == ["On treatment", ""]
    assert list(shown["Test"]) == ["Fasting glucose", "Neutrophils"]
    assert str(shown["Continues record"].dtype) == "Int64" and shown["Continues record"].iloc[0] == 17
    assert list(shown["Value"]) == [12.3456789, 1234567.0]  # numbers stay numbers, unrounded


def test_user_text_is_never_changed():
    typed = ["on_treatment", "**bold** _x_", "None", " trailing ", "=1+1"]
    shown = people_table(pd.DataFrame({"notes": typed, "name": typed, "reason": typed}))
    for header in ("Notes", "Name", "Reason"):
        assert list(shown[header]) == typed


def test_a_code_column_keeps_text_that_is_not_a_code():
    citation = "seed document (BOLERO-2 interim analysis; Baselga et al. NEJM 2012)"
    assert cell_text("source", citation) == citation
    assert cell_text("source", "lab") == "From a lab value"
    assert cell_text("rule_status", "check wording") == "Check wording"
    assert cell_text("action_taken", "none") == "Dose not changed"  # never the word "None"
    assert code_label("none_if_tolerable") == "No change if tolerable"


def test_numbers_in_text_keep_every_stored_digit():
    assert cell_text("value", 12.3456789) == "12.3456789"
    assert cell_text("value", 1234567.0) == "1234567"
    assert cell_text("dose_mg", 2.5) == "2.5"


def test_audit_snapshots_read_as_labelled_values():
    snapshot = '{"term": "Mucositis oral", "grade": 2, "onset_date": "2026-01-05", "resolved_date": null, ' \
               '"serious": false, "action_taken": "none", "notes": ""}'
    assert values_text(snapshot) == ("CTCAE term: Mucositis oral; Grade: 2; Onset: 2026-01-05; Serious: No; "
                                     "Action taken: Dose not changed")
    assert values_text(None) == "" and values_text("not json") == "not json"


def test_fields_not_listed_read_as_words_and_two_columns_never_read_the_same():
    assert field_label("kind") == "Kind" and field_label("some_new_field") == "Some new field"
    assert field_label("Already a label") == "Already a label"
    with pytest.raises(ValueError, match="would read the same"):
        people_table(pd.DataFrame({"id": [1], "x": [2]}), labels={"x": FIELD_LABELS["id"]})


def test_a_download_for_people_has_the_tables_headers_and_wording():
    text = csv_for_people(pd.DataFrame({"mrn": ["DEMO-1"], "onset_date": [date(2026, 1, 2)], "grade": [3]}))
    assert text.splitlines() == ["MRN,Onset,Grade", "DEMO-1,2026-01-02,3"]


def test_a_username_typed_at_sign_in_never_runs_as_a_formula_in_the_audit_trail_csv(db_url, monkeypatch):
    """The sign-in page writes whatever username was typed into the audit trail; the admin's CSV of it (the
    page's download is csv_for_people of the trail) shows it as text in a spreadsheet."""
    import csv
    import io

    from models import auth
    from models.store import queries

    monkeypatch.setattr(auth, "FAILED_SIGN_IN_DELAY_S", 0)
    hostile = "=cmd|' /C calc'!A0"
    auth.sign_in(hostile, "whatever", url=db_url)
    trail = queries.audit_trail(db_url)
    rows = list(csv.DictReader(io.StringIO(csv_for_people(trail, labels={"id": "Entry"}))))
    assert [row["User"] for row in rows] == ["'" + hostile]


@pytest.mark.parametrize(("typed", "escaped"), [
    ("![x](http://host/track.png)", "\\!\\[x\\](http\u2060\\://host/track.png)"),   # no remote image
    ("[text](url)", r"\[text\](url)"),                                   # no hidden link
    (":red[alert]", r"\:red\[alert\]"), ("$x^2$", r"\$x^2\$"),            # no colour, no maths
    (":material/home:", r"\:material/home:"),                             # no icon
    ("see www.evil.example", "see www\u2060\\.evil.example"),            # no bare link (a word joiner
    ("https://evil.example/a", "https\u2060\\://evil.example/a"),         # breaks what escapes cannot)
    ("ask nurse@evil.example", "ask nurse@\u2060evil.example"),
    ("**b** _i_ `c` <b>h</b> ~~s~~ | t |", r"\*\*b\*\* \_i\_ \`c\` \<b\>h\</b\> \~\~s\~\~ \| t \|"),
])
def test_messages_show_user_text_as_typed(typed, escaped):
    """plain() escapes exactly what Markdown would act on, so a message names user text as it was typed (the
    browser check found bare links are made from the text after escapes: a word joiner breaks them)."""
    from dashboard.widgets import plain

    assert plain(f"Saved: Fatigue grade 1 for {typed}, onset 2026-11-26.") == \
        f"Saved: Fatigue grade 1 for {escaped}, onset 2026-11-26."


def test_ordinary_messages_are_not_changed():
    from dashboard.widgets import plain

    text = "Saved: Fatigue grade 1 for DEMO-00077 (Rowan, fictional), onset 2026-11-26; 10^9/L, 50% dose."
    assert plain(text) == text and plain("two\nlines") == "two lines"
