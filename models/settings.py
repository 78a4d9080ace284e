"""Configuration: where the database is and how the app behaves.

The database URL comes from, in order: an explicit argument (command line), the environment variable
TOXWATCH_DATABASE_URL, `database_url` in .streamlit/secrets.toml, and finally the default SQLite file
data/toxwatch.db under the project root.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "data" / "toxwatch.db"
DATABASE_URL_ENV = "TOXWATCH_DATABASE_URL"
SECRETS_PATH = PROJECT_ROOT / ".streamlit" / "secrets.toml"


def default_database_url() -> str:
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


IDLE_TIMEOUT_ENV = "TOXWATCH_IDLE_TIMEOUT_MINUTES"
DEFAULT_IDLE_TIMEOUT_MINUTES = 30


def _secret(key: str):
    path = SECRETS_PATH
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        secrets = tomllib.load(handle)
    return secrets.get(key) or secrets.get("toxwatch", {}).get(key)


def _url_from_secrets() -> str | None:
    value = _secret("database_url")
    return str(value) if value else None


def idle_timeout_minutes() -> float:
    """Minutes without activity before a signed-in user is signed out (env, then secrets, then 30)."""
    raw = os.environ.get(IDLE_TIMEOUT_ENV) or _secret("idle_timeout_minutes")
    try:
        minutes = float(raw) if raw is not None else DEFAULT_IDLE_TIMEOUT_MINUTES
    except (TypeError, ValueError):
        raise ValueError(f"{IDLE_TIMEOUT_ENV} must be a number of minutes, not {raw!r}") from None
    if minutes <= 0:
        raise ValueError(f"{IDLE_TIMEOUT_ENV} must be above 0 minutes")
    return minutes


DOSE_RULE_SET_ENV = "TOXWATCH_DOSE_RULE_SET"


def dose_rule_set() -> str | None:
    """The dose rule set the dosing audit uses unless told otherwise (a file name under seed_data/dose_rules/
    without .csv, e.g. a clinic's local protocol); unset: the current US label."""
    value = os.environ.get(DOSE_RULE_SET_ENV) or _secret("dose_rule_set")
    return str(value).strip() or None if value else None


MRN_SYSTEM_ENV = "TOXWATCH_MRN_SYSTEM"
DEFAULT_MRN_SYSTEM = "urn:toxwatch:mrn"


def mrn_system() -> str:
    """The FHIR identifier system of the clinic's MRNs (the hospital's own URI or OID, e.g.
    urn:oid:1.2.3.4.5); unset: urn:toxwatch:mrn, which only this app knows."""
    value = os.environ.get(MRN_SYSTEM_ENV) or _secret("mrn_system")
    return str(value).strip() or DEFAULT_MRN_SYSTEM if value else DEFAULT_MRN_SYSTEM


CLIENT_ADDRESS_HEADER_ENV = "TOXWATCH_CLIENT_ADDRESS_HEADER"


def client_address_header() -> str | None:
    """Behind a reverse proxy every browser comes from the proxy's address: name the header in which the proxy
    passes the browser's own (e.g. X-Forwarded-For), so sign-in throttling tells computers apart. Unset: the
    address the server sees. Only set it when the proxy always writes that header (a browser could forge it)."""
    value = os.environ.get(CLIENT_ADDRESS_HEADER_ENV) or _secret("client_address_header")
    return str(value).strip() or None if value else None


@dataclass(frozen=True)
class DatabaseChoice:
    url: str
    is_default: bool  # True only for the embedded SQLite file under data/

    @property
    def backend(self) -> str:
        return self.url.split(":", 1)[0].split("+", 1)[0]


def database_choice(explicit_url: str | None = None) -> DatabaseChoice:
    for candidate in (explicit_url, os.environ.get(DATABASE_URL_ENV), _url_from_secrets()):
        if candidate:
            return DatabaseChoice(_normalise(candidate), is_default=False)
    return DatabaseChoice(default_database_url(), is_default=True)


def database_url(explicit_url: str | None = None) -> str:
    return database_choice(explicit_url).url


def _normalise(url: str) -> str:
    # A bare postgresql:// URL would make SQLAlchemy look for psycopg2; this project ships psycopg 3.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def masked_url(url: str) -> str:
    """The URL with any password replaced, for showing on screen or in logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


DOSE_STEPS_ENV = "TOXWATCH_DOSE_STEPS"
DEFAULT_DOSE_STEPS_MG = (10.0, 5.0, 2.5)


def dose_steps_mg() -> tuple[float, ...]:
    """The clinic's everolimus dose steps, highest first (env "10,7.5,5", then secrets, then 10/5/2.5)."""
    raw = os.environ.get(DOSE_STEPS_ENV) or _secret("dose_steps_mg")
    if raw is None:
        return DEFAULT_DOSE_STEPS_MG
    try:
        values = [float(v) for v in (raw.split(",") if isinstance(raw, str) else raw)]
    except (TypeError, ValueError):
        raise ValueError(f"{DOSE_STEPS_ENV} must list doses in mg, e.g. 10,5,2.5 (got {raw!r})") from None
    if not values or any(v <= 0 or v > 20 for v in values):
        raise ValueError(f"{DOSE_STEPS_ENV} doses must be above 0 and at most 20 mg (got {raw!r})")
    return tuple(sorted(set(values), reverse=True))
