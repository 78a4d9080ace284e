"""The define of an SDTM export (define.json, and define.md for people): per dataset its label, structure, record
count and keys; per variable its name, label, type, length, codelist (terms with source and status), origin and
derivation; and the notes a reader needs (what ToxWatch does not record, how treatment-emergent is defined, what
the export changed in text). Define-style, not Define-XML 2.1."""
from __future__ import annotations

from models.clinical import ctcae
from models.exchange.sdtm_domains import Export, REMOVED
from models.exchange.sdtm_metadata import DATASETS, codelists, domain_variables

DATASET_JSON_VERSION = "1.1.0"
FORMATS = {"xpt": "SAS XPORT transport version 5 (pyreadstat)", "json": f"CDISC Dataset-JSON v{DATASET_JSON_VERSION}"}
TRTEMFL_DEFINITION = (
    "ADAE.TRTEMFL is ToxWatch's treatment-emergent definition (DESIGN.md 'Clinical definitions'; "
    "models/analysis/incidence.py treatment_emergent and models/clinical/exposure.py): a record is treatment-"
    "emergent when it is not baseline and its onset lies in an exposure period or at most 30 days (inclusive) after "
    "its last dose day, on or before the analysis date. ADAE has one record per episode (the AE records a change "
    "of grade links); TRTEMFL = Y when at least one record of the episode is treatment-emergent and the subject is "
    "exposed (SAFFL = Y: treatment start on or before the analysis date and at least one day of follow-up). "
    "Why per episode and not by the episode's first onset: an episode that began before treatment (baseline) and "
    "worsened on treatment, or one whose first record falls outside a window while a later grade falls inside, is "
    "counted by the app from its treatment-emergent record; a flag from the first onset alone (admiral's "
    "derive_var_trtemfl without worsening) would miss it. TEMTOXGR is the worst grade among those records, so that "
    "per AEDECOD the subjects with TRTEMFL = Y are the incidence report's any-grade patients and those with "
    "TEMTOXGR >= 3 its grade >= 3 patients (`report incidence`). AETOXGR is the worst grade of the whole episode.")


def build_define(export: Export, *, fmt: str, files: dict[str, str], lengths: dict[tuple[str, str], int],
                 transliterated: dict[str, int], created: str) -> dict:
    """The define as a JSON-ready dict. `files`: domain -> file name; `lengths`: (domain, variable) -> length
    as written; `transliterated`: "DOMAIN.VARIABLE" -> values turned into ASCII (XPT only)."""
    used: set[str] = set()
    datasets = []
    for name, dataset in DATASETS.items():
        variables = []
        for v in domain_variables(name):
            if v.codelist:
                used.add(v.codelist)
            variables.append({"name": v.name, "label": v.label, "type": v.sas_type, "data_type": v.data_type,
                              "length": lengths.get((name, v.name)), "core": v.core, "key": v.key,
                              "codelist": v.codelist, "origin": v.origin, "derivation": v.derivation,
                              "source": v.source, "status": v.status})
        keys = [v.name for v in sorted((v for v in domain_variables(name) if v.key), key=lambda v: v.key)]
        datasets.append({"name": name, "label": dataset.label, "kind": dataset.kind, "structure": dataset.structure,
                         "file": files[name], "records": int(len(export.domains[name])), "keys": keys,
                         "variables": variables})
    return {"study": "TOXWATCH", "created": created, "as_of": export.as_of.isoformat(), "format": FORMATS[fmt],
            "standards": {"sdtm": "SDTMIG v3.4 (target; variable metadata from secondary sources: see each status)",
                          "adam": "ADaM OCCDS v1.1-like ADAE (not a conformant ADaM dataset)",
                          "toxicity_grades": "NCI CTCAE v5.0", "dictionary": "MedDRA via CTCAE v5.0 terms"},
            "notes": notes(export, fmt, transliterated), "datasets": datasets,
            "codelists": [codelists()[name] for name in sorted(used)],
            "text_changes": {"transliterated_to_ascii": transliterated,
                             "identifiers_removed": dict(export.identifiers_removed),
                             "lab_units_exported_as_recorded": export.units_as_recorded}}


def notes(export: Export, fmt: str, transliterated: dict[str, int]) -> list[str]:
    cut = ", ".join(f"{domain} {count}" for domain, count in export.after_cut_off.items())
    text = (f"{sum(transliterated.values())} character values were turned into ASCII for SAS XPORT (Unicode "
            "NFKD, accents dropped, a few symbols spelled out, any other non-ASCII character written as '?'), per "
            f"variable: {transliterated or 'none'}." if fmt == "xpt" else
            "Dataset-JSON is UTF-8: character values are as recorded (no ASCII transliteration).")
    glucose = ctcae.grade_lab_note("glucose_fasting")
    return [
        "Pseudonymous: no name, MRN or birth date is exported. USUBJID = STUDYID-SUBJID, SUBJID = the ToxWatch "
        "database id of the patient, zero-padded to 5 digits; AGE in whole years at RFSTDTC instead of the birth "
        f"date. Where a patient's own MRN or name appeared in free text it was replaced by '{REMOVED}' "
        f"(values: {dict(export.identifiers_removed) or 'none'}).",
        f"Data cut-off {export.as_of.isoformat()} (the analysis date): records dated after it are not exported "
        f"(AE by onset, LB by collection, EX dose records, CM by start; left out: {cut}). Only active records are "
        "exported: entered-in-error records never are.",
        "Sex is not recorded in ToxWatch: SEX = U for every subject. Country and site are not recorded either "
        "(COUNTRY null, SITEID the constant 001).",
        "EX holds everolimus only: exemestane, the other drug of the regimen, is not recorded in ToxWatch. A patient "
        "without a start dose record took the planned dose from the treatment start (as the exposure periods count "
        "it). A fatal event (grade 5 or a date of death) is serious (AESER = Y) whatever was recorded. A hold "
        "is a gap between EX records (never EXDOSE = 0); AEACN describes the action taken with everolimus.",
        "AETERM, AELLT and AEDECOD are the CTCAE v5.0 term as recorded (CTCAE v5.0 terms are MedDRA lowest level "
        "terms); AELLTCD is its MedDRA code. AETOXGR is the CTCAE v5.0 grade (AESEV is not used).",
        "Pre-existing (baseline) events are in AE; in ADAE they are never treatment-emergent on their own.",
        "LBTOXGR is the CTCAE grade the value supports (LBTOX its CTCAE term, null without a grade). Fasting "
        f"glucose: {glucose or 'see seed_data/lab_grading.csv'}.",
        TRTEMFL_DEFINITION,
        text,
        f"{export.units_as_recorded} lab unit(s) without a CDISC UNIT spelling in seed_data/lab_units.csv were "
        "exported as recorded.",
        "Terms and labels carry their source and status: 'secondary' and 'not in the shared reference: check' "
        "values must be checked against the CDISC Library / NCI EVS before any submission use.",
    ]


def define_markdown(define: dict) -> str:
    lines = [f"# SDTM export of {define['study']}: define", "",
             f"Created {define['created']}; data cut-off {define['as_of']}; format: {define['format']}.", "",
             "## Notes", ""]
    lines += [f"- {_md(note)}" for note in define["notes"]]
    lines += ["", "## Datasets", "", "| Dataset | Label | Kind | Structure | Records | Keys | File |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {d['name']} | {_md(d['label'])} | {d['kind']} | {_md(d['structure'])} | {d['records']} | "
              f"{', '.join(d['keys'])} | {d['file']} |" for d in define["datasets"]]
    for d in define["datasets"]:
        lines += ["", f"## {d['name']}: {_md(d['label'])}", "",
                  "| Variable | Label | Type | Length | Core | Codelist | Origin | Derivation | Source | Status |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {v['name']} | {_md(v['label'])} | {v['type']} ({v['data_type']}) | {v['length'] or ''} | "
                  f"{v['core']} | {v['codelist'] or ''} | {v['origin']} | {_md(v['derivation'])} | {_md(v['source'])} "
                  f"| {_md(v['status'])} |" for v in d["variables"]]
    lines += ["", "## Codelists"]
    for codelist in define["codelists"]:
        lines += ["", f"### {codelist['name']}: {_md(codelist['description'])}", ""]
        if not codelist["terms"]:
            lines.append("External dictionary: the values are the dictionary's.")
            continue
        lines += ["| Submission value | NCI code | ToxWatch value | Source | Status |", "|---|---|---|---|---|"]
        lines += [f"| {_md(t['value'])} | {t['code'] or ''} | {_md(t['app_value'] or '')} | {_md(t['source'])} | "
                  f"{_md(t['status'])} |" for t in codelist["terms"]]
    changes = define["text_changes"]
    lines += ["", "## Text changes", "",
              f"- Turned into ASCII: {changes['transliterated_to_ascii'] or 'none'}",
              f"- Identifiers removed from free text: {changes['identifiers_removed'] or 'none'}",
              f"- Lab units exported as recorded: {changes['lab_units_exported_as_recorded']}", ""]
    return "\n".join(lines)


def _md(text) -> str:
    """Text for a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
