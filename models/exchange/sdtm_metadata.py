"""What the SDTM export's datasets and variables are, as data: seed_data/sdtm_variables.csv (every variable of
DM, AE, EX, LB, CM and ADAE in order: label, type, core, key, codelist, origin, derivation, source, status) and
seed_data/sdtm_terms.csv (this app's values as CDISC submission values: routes, frequencies, sex, arm, flags),
with the codelists the other seed files already hold (exchange_codes.csv for AEACN/AEOUT/AEREL, lab_codes.csv
and lab_units.csv for LB). Every term keeps its source and status: "check" marks what the shared reference does
not confirm. The define (define.json, define.md) is built from these.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from models.clinical.reference_data import SEED_DATA_DIR, check_unique, read_csv
from models.clinical.vocabulary import MEDICATION_ROUTES
from models.exchange import codes

VARIABLES_FILE = SEED_DATA_DIR / "sdtm_variables.csv"
TERMS_FILE = SEED_DATA_DIR / "sdtm_terms.csv"
STUDYID = "TOXWATCH"
SITEID = "001"
SDTM_SOURCE = "cdisc-org/DataExchange-DatasetJson examples (dataset labels); shared reference sdtm.md"


@dataclass(frozen=True)
class Dataset:
    name: str
    label: str
    structure: str
    kind: str  # "SDTM" or "ADaM-like"


DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("DM", "Demographics", "One record per subject", "SDTM"),
    Dataset("AE", "Adverse Events", "One record per adverse event record per subject (a change of grade ends "
            "a record and starts a linked one: AEGRPID groups them)", "SDTM"),
    Dataset("EX", "Exposure", "One record per constant-dose interval of everolimus per subject", "SDTM"),
    Dataset("LB", "Laboratory Test Results", "One record per lab test per collection date per subject", "SDTM"),
    Dataset("CM", "Concomitant Medications", "One record per recorded medication per subject", "SDTM"),
    Dataset("ADAE", "Adverse Events Analysis Dataset", "One record per adverse event episode per subject (the AE "
            "records a change of grade links, AEGRPID)", "ADaM-like"),
)}
DOMAINS = tuple(DATASETS)

# The variable types: (SAS type in an XPT file, Dataset-JSON dataType, Dataset-JSON targetDataType).
TYPES = {"text": ("Char", "string", None), "integer": ("Num", "integer", None), "float": ("Num", "double", None),
         "isodate": ("Char", "date", None),          # an SDTM --DTC: ISO 8601 text
         "date": ("Num", "date", "integer")}         # an ADaM *DT: a SAS date (DATE9.), ISO 8601 text in JSON
CORES = ("Req", "Exp", "Perm", "Cond")
ORIGINS = ("Collected", "Derived", "Assigned", "Predecessor", "Not available")
DATE_FORMAT = "DATE9."


@dataclass(frozen=True)
class Variable:
    domain: str
    name: str
    label: str
    type: str
    core: str
    key: int | None
    codelist: str | None
    origin: str
    derivation: str
    source: str
    status: str

    @property
    def sas_type(self) -> str:
        return TYPES[self.type][0]

    @property
    def data_type(self) -> str:
        return TYPES[self.type][1]

    @property
    def target_data_type(self) -> str | None:
        return TYPES[self.type][2]


@dataclass(frozen=True)
class Term:
    codelist: str
    value: str
    submission_value: str
    nci_code: str | None
    source: str
    status: str


@lru_cache(maxsize=1)
def variables() -> tuple[Variable, ...]:
    """Every variable of every dataset, in the datasets' column order (the metadata the Admin page shows)."""
    rows = read_csv(VARIABLES_FILE, ["domain", "variable", "label", "type", "core", "key", "codelist", "origin",
                                     "derivation", "source", "status"])
    check_unique(rows, lambda r: (r.text("domain"), r.text("variable")), "domain and variable")
    result = []
    for r in rows:
        variable = Variable(r.choice("domain", DOMAINS), r.text("variable"), r.text("label"),
                            r.choice("type", tuple(TYPES)), r.choice("core", CORES),
                            r.integer("key", required=False, minimum=1), r.text("codelist", required=False) or None,
                            r.choice("origin", ORIGINS), r.text("derivation"), r.text("source"), r.text("status"))
        if len(variable.name) > 8 or not variable.name.isascii() or not variable.name.isupper():
            raise r.error("a variable name is at most 8 upper-case ASCII characters", "variable")
        if len(variable.label) > 40 or not variable.label.isascii():
            raise r.error("a variable label is at most 40 ASCII characters", "label")
        if variable.codelist is not None and variable.codelist not in _codelist_names():
            raise r.error(f"unknown codelist {variable.codelist!r}", "codelist")
        result.append(variable)
    for domain in DOMAINS:
        keys = [v.key for v in result if v.domain == domain and v.key is not None]
        if sorted(keys) != list(range(1, len(keys) + 1)):
            raise rows[0].error(f"the keys of {domain} must be numbered 1, 2, ... without gaps", "key")
    return tuple(result)


def domain_variables(domain: str) -> tuple[Variable, ...]:
    return tuple(v for v in variables() if v.domain == domain)


def columns(domain: str) -> list[str]:
    return [v.name for v in domain_variables(domain)]


@lru_cache(maxsize=1)
def terms() -> tuple[Term, ...]:
    rows = read_csv(TERMS_FILE, ["codelist", "value", "submission_value", "nci_code", "source", "status"])
    check_unique(rows, lambda r: (r.text("codelist"), r.text("value")), "codelist and value")
    result = tuple(Term(r.text("codelist"), r.text("value"), r.text("submission_value"),
                        r.text("nci_code", required=False) or None, r.text("source"), r.text("status")) for r in rows)
    routes = {t.value for t in result if t.codelist == "ROUTE"}
    missing = [route for route in MEDICATION_ROUTES if route not in routes]
    if missing:
        raise rows[0].error(f"the ROUTE codelist lacks this app's route(s) {', '.join(missing)}", "value")
    return result


def term(codelist: str, value) -> str | None:
    """The submission value of one of this app's values (term("ROUTE", "oral") -> "ORAL"), or None for None."""
    if value is None:
        return None
    found = next((t.submission_value for t in terms() if t.codelist == codelist and t.value == str(value)), None)
    if found is None:
        raise ValueError(f"{value!r} has no {codelist} term in {TERMS_FILE.name}")
    return found


def _codelist_names() -> set[str]:
    return set(codelists())


@lru_cache(maxsize=1)
def codelists() -> dict[str, dict]:
    """Every codelist a variable refers to: its name, what it is, and its terms (submission value, NCI code,
    this app's value, source, status)."""
    result: dict[str, dict] = {}

    def add(name: str, description: str, entries: list[dict]) -> None:
        result.setdefault(name, {"name": name, "description": description, "terms": []})["terms"] += entries

    for name, vocabulary, description in (
            ("ACN", "aeacn", "CDISC ACN (C66767): action taken with study treatment"),
            ("OUT", "aeout", "CDISC OUT (C66768): outcome of event"),
            ("AEREL", "aerel", "Causality: no CDISC codelist (sponsor-defined)")):
        add(name, description, [{"value": c.display, "code": c.code, "app_value": value,
                                 "source": "seed_data/exchange_codes.csv", "status": c.status}
                                for value, c in codes.vocabulary(vocabulary).items()])
    exported = [c for c in codes.lab_codes() if c.use == "export and import"]
    add("LBTESTCD", "CDISC LBTESTCD (C65047)", [_lab_term(c, c.lbtestcd) for c in exported])
    add("LBTEST", "CDISC LBTEST (C67154)", [_lab_term(c, c.lbtest) for c in exported])
    add("LBCAT", "Category for lab test", [{"value": cat, "code": None, "app_value": None,
                                            "source": "seed_data/lab_codes.csv", "status": "secondary: check"}
                                           for cat in sorted({c.lbcat for c in exported})])
    add("LOINC", "LOINC (external dictionary)", [{"value": c.loinc, "code": None, "app_value": c.test,
                                                  "source": "seed_data/lab_codes.csv", "status": c.loinc_status}
                                                 for c in exported])
    add("UNIT", "CDISC UNIT (C71620)", [{"value": spelling, "code": None, "app_value": unit,
                                         "source": "seed_data/lab_units.csv", "status": status}
                                        for unit, (_, spelling, status) in codes._units().items()])
    add("MEDDRA", "MedDRA (external dictionary): CTCAE v5.0 terms are MedDRA lowest level terms; the code is the "
        "LLT code (seed_data/ctcae_terms.csv)", [])
    described = {"ROUTE": "CDISC ROUTE (C66729)", "FREQ": "CDISC FREQ (C71113)", "FRM": "CDISC FRM (C66726)",
                 "SEX": "CDISC SEX (C66731)", "AGEU": "CDISC AGEU (C66781)", "NY": "CDISC NY (C66742)",
                 "NRIND": "CDISC NRIND (C78736)", "EXTRT": "Name of treatment", "ARM": "Arm (sponsor-defined)",
                 "ARMCD": "Arm code (sponsor-defined)", "ARMNRS": "Reason arm is null (CDISC ARMNULRS)",
                 "TOXGR": "NCI CTCAE v5.0 grade (external; no CDISC codelist confirmed)",
                 "LBTOXGR": "CTCAE grade a lab value supports (CTCAE v5.0; fasting glucose by CTCAE v4.03 cut points)"}
    for t in terms():
        add(t.codelist, described.get(t.codelist, t.codelist), [{"value": t.submission_value, "code": t.nci_code,
                                                                 "app_value": t.value,
                                                                 "source": f"seed_data/{TERMS_FILE.name}: {t.source}",
                                                                 "status": t.status}])
    return result


def _lab_term(code: codes.LabCode, value: str) -> dict:
    return {"value": value, "code": None, "app_value": code.test, "source": "seed_data/lab_codes.csv",
            "status": code.sdtm_status}


def codelist_values(name: str) -> set[str]:
    return {t["value"] for t in codelists()[name]["terms"]}
