"""Where the database URL comes from."""
from __future__ import annotations

from models import settings


def test_default_is_the_sqlite_file_under_data(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.DATABASE_URL_ENV, raising=False)
    monkeypatch.setattr(settings, "SECRETS_PATH", tmp_path / "missing.toml")
    choice = settings.database_choice()
    assert choice.is_default
    assert choice.url == f"sqlite:///{settings.PROJECT_ROOT / 'data' / 'toxwatch.db'}"
    assert choice.backend == "sqlite"


def test_environment_wins_over_secrets_and_explicit_wins_over_both(monkeypatch, tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('database_url = "sqlite:////tmp/from-secrets.db"\n')
    monkeypatch.setattr(settings, "SECRETS_PATH", secrets)
    monkeypatch.delenv(settings.DATABASE_URL_ENV, raising=False)
    assert settings.database_url() == "sqlite:////tmp/from-secrets.db"
    monkeypatch.setenv(settings.DATABASE_URL_ENV, "sqlite:////tmp/from-env.db")
    assert settings.database_url() == "sqlite:////tmp/from-env.db"
    assert not settings.database_choice().is_default
    assert settings.database_url("sqlite:////tmp/explicit.db") == "sqlite:////tmp/explicit.db"


def test_plain_postgresql_urls_use_psycopg_3(monkeypatch):
    monkeypatch.setenv(settings.DATABASE_URL_ENV, "postgresql://clinic@db.example/toxwatch")
    assert settings.database_url() == "postgresql+psycopg://clinic@db.example/toxwatch"
    assert settings.database_choice().backend == "postgresql"


def test_passwords_are_masked_for_display():
    shown = settings.masked_url("postgresql+psycopg://clinic:s3cret@localhost/toxwatch")
    assert "s3cret" not in shown and "clinic" in shown
