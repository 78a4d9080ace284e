"""CDISC SDTM export: DM, AE, EX, LB, CM and an ADaM-like ADAE, as SAS XPORT v5 files (`dm.xpt` ...) or CDISC
Dataset-JSON v1.1 files (`dm.json` ...), with a define (define.json, define.md), in a folder or a zip.

The rows come from models/exchange/sdtm_domains.py, the variable metadata and terms from seed_data
(models/exchange/sdtm_metadata.py), the define from models/exchange/sdtm_define.py. Before any file is written,
the SAS XPORT v5 limits are checked (dataset and variable names <= 8 characters, labels <= 40, character values
<= 200 bytes, ASCII only): a value that breaks them raises SdtmExportError naming it. Non-ASCII text is
transliterated for XPT (Unicode NFKD) and counted in the define; Dataset-JSON keeps UTF-8 text.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import unicodedata
import zipfile
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from models.exchange import sdtm_domains
from models.exchange.sdtm_define import DATASET_JSON_VERSION, build_define, define_markdown
from models.exchange.sdtm_metadata import DATASETS, DATE_FORMAT, STUDYID, domain_variables, variables

FORMATS = ("xpt", "json")
MAX_NAME, MAX_LABEL, MAX_VALUE_BYTES = 8, 40, 200
SAS_EPOCH = date(1960, 1, 1)
# Symbols NFKD leaves as they are, spelled in ASCII (anything else non-ASCII becomes "?").
ASCII_SPELLINGS = {"\u2264": "<=", "\u2265": ">=", "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2018": "'",
                   "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00d7": "x", "\u00b5": "u", "\u03bc": "u",
                   "\u00df": "ss", "\u00b0": " deg", "\u2026": "...", "\u00a0": " "}


class SdtmExportError(ValueError):
    """The data cannot be written in the chosen format (e.g. a value longer than SAS XPORT v5 allows)."""


def variable_metadata() -> pd.DataFrame:
    """Every exported variable with its label, type, core, codelist, origin, derivation, source and status
    (seed_data/sdtm_variables.csv), for the Admin page."""
    return pd.DataFrame([{"dataset": v.domain, "variable": v.name, "label": v.label, "type": v.sas_type,
                          "core": v.core, "codelist": v.codelist or "", "origin": v.origin,
                          "derivation": v.derivation, "source": v.source, "status": v.status} for v in variables()])


def build_domains(url: str | None = None, *, as_of: date) -> dict[str, pd.DataFrame]:
    """{"DM", "AE", "EX", "LB", "CM", "ADAE"} -> DataFrame, with the data cut-off at the analysis date."""
    return sdtm_domains.build(url, as_of).domains


def write_sdtm(folder: str | Path, *, fmt: str = "xpt", url: str | None = None, as_of: date) -> dict[str, int]:
    """Write the six datasets (`dm.xpt` ... or `dm.json` ...), define.json and define.md into the folder (created
    if needed; each file replaced atomically). Returns the records per dataset. Nothing is written when a value
    breaks the format's limits (SdtmExportError)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    export = sdtm_domains.build(url, as_of)
    created = datetime.now(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    transliterated: dict[str, int] = {}
    contents: dict[str, bytes | pd.DataFrame] = {}
    lengths: dict[tuple[str, str], int] = {}
    for name, data in export.domains.items():
        if fmt == "xpt":
            prepared = _xpt_frame(name, data, transliterated)
            check_xpt(name, prepared)
            contents[f"{name.lower()}.xpt"] = prepared
        else:
            prepared = data
            contents[f"{name.lower()}.json"] = dataset_json(name, data, created=created, as_of=as_of)
        lengths |= _lengths(name, prepared)
    files = {name: f"{name.lower()}.{fmt}" for name in export.domains}
    define = build_define(export, fmt=fmt, files=files, lengths=lengths, transliterated=transliterated,
                          created=created)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, content in contents.items():
        if isinstance(content, pd.DataFrame):
            _replace(folder, file_name, lambda path, frame=content, n=file_name: _write_xpt(path, n, frame))
        else:
            _replace(folder, file_name, lambda path, data=content: path.write_text(
                json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"))
    _replace(folder, "define.json", lambda path: path.write_text(json.dumps(define, ensure_ascii=False, indent=1),
                                                                 encoding="utf-8"))
    _replace(folder, "define.md", lambda path: path.write_text(define_markdown(define), encoding="utf-8"))
    return {name: int(len(data)) for name, data in export.domains.items()}


def sdtm_archive(*, fmt: str, url: str | None = None, as_of: date) -> bytes:
    """The files write_sdtm writes, in one zip (for a download button)."""
    with tempfile.TemporaryDirectory() as folder:
        write_sdtm(folder, fmt=fmt, url=url, as_of=as_of)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(folder).iterdir()):
                archive.write(path, path.name)
    return buffer.getvalue()


def _replace(folder: Path, name: str, write) -> None:
    temporary = folder / f".{name}.tmp"
    try:
        write(temporary)
        os.replace(temporary, folder / name)
    finally:
        temporary.unlink(missing_ok=True)


# ---------------------------------------------------------------- SAS XPORT v5

def ascii_text(text: str) -> str:
    """Text in ASCII: accents dropped (NFKD), a few symbols spelled out, anything else '?'."""
    if text.isascii():
        return text
    spelled = "".join(ASCII_SPELLINGS.get(c, c) for c in text)
    decomposed = unicodedata.normalize("NFKD", spelled)
    return "".join(c if c.isascii() else "" if unicodedata.combining(c) else "?" for c in decomposed)


def _xpt_frame(domain: str, data: pd.DataFrame, transliterated: dict[str, int]) -> pd.DataFrame:
    """Character columns as ASCII text (None = blank), numbers as float64 (NaN = missing), ADaM dates as SAS
    dates (days from 1960-01-01)."""
    columns = {}
    for v in domain_variables(domain):
        values = data[v.name]
        if v.sas_type == "Char":
            texts = []
            for value in values:
                if value is None or (not isinstance(value, str) and pd.isna(value)):
                    texts.append(None)
                    continue
                cleaned = ascii_text(str(value))
                if cleaned != value:
                    where = f"{domain}.{v.name}"
                    transliterated[where] = transliterated.get(where, 0) + 1
                texts.append(cleaned)
            columns[v.name] = pd.Series(texts, dtype=object)
        elif v.type == "date":
            columns[v.name] = pd.Series([np.nan if value is None or pd.isna(value) else float((value - SAS_EPOCH).days)
                                         for value in values], dtype="float64")
        else:
            columns[v.name] = pd.Series(pd.array(values, dtype="Float64").to_numpy(dtype="float64", na_value=np.nan))
    return pd.DataFrame(columns, columns=[v.name for v in domain_variables(domain)])


def check_xpt(domain: str, prepared: pd.DataFrame) -> None:
    """Raise SdtmExportError listing every value or name SAS XPORT v5 cannot hold."""
    problems = []
    label = DATASETS[domain].label
    if len(domain) > MAX_NAME or not domain.isascii():
        problems.append(f"dataset name {domain!r} is longer than {MAX_NAME} characters")
    if len(label) > MAX_LABEL or not label.isascii():
        problems.append(f"dataset label {label!r} is longer than {MAX_LABEL} ASCII characters")
    keys = [c for c in ("USUBJID", f"{domain}SEQ", "AESEQ") if c in prepared.columns][:2]
    for v in domain_variables(domain):
        if len(v.name) > MAX_NAME or not v.name.isascii():
            problems.append(f"{domain}.{v.name}: variable name longer than {MAX_NAME} characters")
        if len(v.label) > MAX_LABEL or not v.label.isascii():
            problems.append(f"{domain}.{v.name}: label longer than {MAX_LABEL} ASCII characters")
        if v.sas_type != "Char":
            continue
        for index, value in prepared[v.name].items():
            if value is None or (value.isascii() and len(value) <= MAX_VALUE_BYTES):
                continue
            where = ", ".join(f"{k} {_shown(prepared.at[index, k])}" for k in keys)
            if not value.isascii():
                problems.append(f"{domain}.{v.name} ({where}): not ASCII")
            else:
                problems.append(f"{domain}.{v.name} ({where}): {len(value)} characters, more than the "
                                f"{MAX_VALUE_BYTES} bytes SAS XPORT v5 allows; shorten it in ToxWatch or export "
                                "Dataset-JSON")
    if problems:
        raise SdtmExportError("SAS XPORT v5 cannot hold: " + "; ".join(problems[:20])
                              + (f"; and {len(problems) - 20} more" if len(problems) > 20 else ""))


def _shown(value) -> str:
    return format(value, ".10g") if isinstance(value, float) else str(value)


def _write_xpt(path: Path, file_name: str, prepared: pd.DataFrame) -> None:
    import pyreadstat

    domain = file_name.split(".")[0].upper()
    dated = {v.name: DATE_FORMAT for v in domain_variables(domain) if v.type == "date"}
    pyreadstat.write_xport(prepared, str(path), table_name=domain, file_label=DATASETS[domain].label,
                           column_labels=[v.label for v in domain_variables(domain)], file_format_version=5,
                           variable_format=dated or None)


# ---------------------------------------------------------------- Dataset-JSON v1.1

def dataset_json(domain: str, data: pd.DataFrame, *, created: str, as_of: date) -> dict:
    """One dataset as CDISC Dataset-JSON v1.1 (a JSON-ready dict): the top-level attributes, `columns` with
    itemOID, name, label, dataType (and targetDataType, length, keySequence where they apply), and `rows`."""
    specs = domain_variables(domain)
    columns = []
    for v in specs:
        column = {"itemOID": f"IT.{domain}.{v.name}", "name": v.name, "label": v.label, "dataType": v.data_type}
        if v.target_data_type:
            column |= {"targetDataType": v.target_data_type, "displayFormat": DATE_FORMAT}
        if v.data_type == "string":
            column["length"] = max([1] + [len(str(x)) for x in data[v.name] if _present(x)])
        if v.key:
            column["keySequence"] = v.key
        columns.append(column)
    converters = [_json_converter(v.type) for v in specs]
    rows = [[convert(value) for convert, value in zip(converters, row)]
            for row in data[[v.name for v in specs]].itertuples(index=False, name=None)]
    return {"datasetJSONCreationDateTime": created, "datasetJSONVersion": DATASET_JSON_VERSION,
            "fileOID": f"{STUDYID}.{domain}.{as_of.isoformat()}", "originator": "ToxWatch", "studyOID": STUDYID,
            "metaDataVersionOID": f"MDV.{STUDYID}", "metaDataRef": "define.json", "itemGroupOID": f"IG.{domain}",
            "records": len(rows), "name": domain, "label": DATASETS[domain].label, "columns": columns, "rows": rows}


def _present(value) -> bool:
    return value is not None and not (not isinstance(value, str) and pd.isna(value))


def _json_converter(kind: str):
    if kind == "integer":
        return lambda x: int(x) if _present(x) else None
    if kind == "float":
        return lambda x: float(x) if _present(x) else None
    if kind == "date":
        return lambda x: x.isoformat() if _present(x) else None
    return lambda x: str(x) if _present(x) else None


def _lengths(domain: str, frame: pd.DataFrame) -> dict[tuple[str, str], int]:
    """(domain, variable) -> the length as written: the longest value of a character variable (at least 1), 8
    for a number."""
    return {(domain, v.name): max([1] + [len(str(x)) for x in frame[v.name] if _present(x)])
            if v.sas_type == "Char" else 8 for v in domain_variables(domain)}
