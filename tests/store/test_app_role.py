"""PostgreSQL: the app runs as a role that owns nothing (models/store/app_role.py). `init --app-role` creates
or checks it; as that role the app reads and writes records, and cannot TRUNCATE, DELETE, rewrite the audit
trail, disable a guard or change the schema. The owner role (the one before this change) could do all of it."""
from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import date

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from models import auth
from models.settings import PROJECT_ROOT
from models.store import queries, records
from models.store.db import dispose_engine
from models.store.migrate import SchemaNeedsOwner, alembic_config, upgrade_to_head
from models.store.records import Actor

NURSE = Actor("nora", "nurse")
APP_PASSWORD = "app role's own pass'word %s"  # quotes and a % reach the server quoted, not interpreted


def _init(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "models", "--database-url", url, "init", *args], input=stdin,
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture
def owner_and_app_urls(postgres_server):
    name = f"t_{uuid.uuid4().hex[:12]}"
    owner_url = postgres_server.create_database(name)
    role = f"toxwatch_app_{uuid.uuid4().hex[:8]}"
    app_url = make_url(owner_url).set(username=role, password=APP_PASSWORD).render_as_string(hide_password=False)
    yield owner_url, app_url, role
    dispose_engine(app_url)
    dispose_engine(owner_url)
    postgres_server.drop_database(name)


def _refused(url: str, statement: str) -> str:
    engine = create_engine(url)
    try:
        with pytest.raises(DBAPIError) as refused, engine.begin() as connection:
            connection.exec_driver_sql(statement)
        return str(refused.value.orig)
    finally:
        engine.dispose()


def test_init_creates_an_app_role_that_can_work_but_not_destroy(owner_and_app_urls):
    owner_url, app_url, role = owner_and_app_urls
    created = _init(owner_url, "--app-role", role, stdin=APP_PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert f"App role {role} created" in created.stdout and "owns nothing" in created.stdout
    again = _init(owner_url, "--app-role", role)  # no password asked: the role exists
    assert again.returncode == 0 and f"App role {role} checked" in again.stdout, again.stderr

    # The app's work, as the app role: accounts, sign-in, records, the data version, the schema check.
    assert upgrade_to_head(app_url) is False
    auth.add_user("nora", "nurse", "correct horse battery staple", actor="setup", url=app_url)
    assert auth.sign_in("nora", "wrong", url=app_url).user is None
    assert auth.sign_in("nora", "correct horse battery staple", url=app_url).user is not None
    before = queries.data_version(app_url)
    patient = records.create("patient", {"mrn": "ROLE-1", "name": "Role Test", "treatment_start": date(2026, 1, 5)},
                             NURSE, url=app_url)
    event = records.create("adverse_event", {"patient_id": patient["id"], "term": "Fatigue", "grade": 2,
                                             "onset_date": date(2026, 2, 1)}, NURSE, url=app_url)
    records.update("adverse_event", event["id"], event["version"], {"grade": 3}, NURSE, url=app_url)
    records.mark_entered_in_error("adverse_event", event["id"], event["version"] + 1, "wrong patient", NURSE,
                                  url=app_url)
    assert queries.data_version(app_url) > before

    # What the owner could do and the app role cannot.
    for statement, why in (("TRUNCATE audit_entry", "permission denied"),
                           ("TRUNCATE adverse_event CASCADE", "permission denied"),
                           ("DELETE FROM patient", "permission denied"),
                           ("UPDATE audit_entry SET detail = 'rewritten'", "permission denied"),
                           ("ALTER TABLE adverse_event DISABLE TRIGGER ALL", "must be owner"),
                           ("DROP TABLE audit_entry", "must be owner"),
                           ("CREATE TABLE scratch (id integer)", "permission denied")):
        assert why in _refused(app_url, statement), statement


def test_init_refuses_an_app_role_with_powers_and_the_app_role_cannot_upgrade(owner_and_app_urls):
    owner_url, app_url, role = owner_and_app_urls
    assert _init(owner_url, "--app-role", role, stdin=APP_PASSWORD + "\n").returncode == 0
    engine = create_engine(owner_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'ALTER ROLE "{role}" CREATEDB')
        refused = _init(owner_url, "--app-role", role)
        assert refused.returncode == 1 and "CREATEDB" in refused.stderr and "only table privileges" in refused.stderr
        with engine.begin() as connection:
            connection.exec_driver_sql(f'ALTER ROLE "{role}" NOCREATEDB')
        owner_itself = _init(owner_url, "--app-role", "postgres")
        assert owner_itself.returncode == 1 and "must not be the owner" in owner_itself.stderr

        # A schema behind the code: the app role says who must upgrade it, and changes nothing.
        from alembic import command

        command.downgrade(alembic_config(owner_url), "0008")
        with pytest.raises(SchemaNeedsOwner) as behind:
            upgrade_to_head(app_url)
        assert "revision 0008" in str(behind.value) and "database owner" in str(behind.value)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0008"
    finally:
        engine.dispose()
    assert upgrade_to_head(owner_url) is True
