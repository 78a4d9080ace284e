"""CSV upload with the same all-or-nothing import and problem report as `python -m models import`."""
from __future__ import annotations

import streamlit as st

from dashboard.widgets import plain
from models.exchange import csv_files, csv_import
from models.store import records


def import_upload(who: records.Actor, key: str) -> None:
    st.caption("Upload any of " + ", ".join(csv_files.FILES) + " (UTF-8, header row, dates YYYY-MM-DD). Check "
               "first: nothing is written unless every row is valid.")
    files = st.file_uploader("CSV files", type="csv", accept_multiple_files=True, key=f"{key}_files")
    if not files:
        return
    names = [upload.name for upload in files]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:  # one would silently replace the other
        names = plain(", ".join(repeated))  # file names are user text
        st.error(names + ": uploaded more than once. Remove the copy you do not mean (its ×), or merge the files "
                 "into one, then check again.")
        return
    contents = {upload.name: upload.getvalue() for upload in files}
    check, load = st.columns(2)
    dry_run = check.button("Check (dry run)", key=f"{key}_check", icon=":material/fact_check:")
    do_import = load.button("Import", key=f"{key}_import", type="primary", icon=":material/upload:")
    if not (dry_run or do_import):
        return
    try:
        report = csv_import.import_files(contents, who, dry_run=dry_run)
    except records.DatabaseUnavailable as error:  # the files stay in the uploader for another try
        st.error(str(error), icon=":material/cloud_off:")
        return
    (st.success if report.ok else st.error)(report.summary)
    for note in report.notes:
        st.caption(note)
    if report.problems:
        st.code("\n".join(report.problems), language=None)
