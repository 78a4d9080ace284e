"""The TemporaryPostgres helper starts a real server that SQLAlchemy can use, and cleans up after itself."""

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import require_or_skip
from tests.support.pg_server import TemporaryPostgres, postgres_unavailable_reason

pytestmark = pytest.mark.postgres


def _require_postgres() -> None:
    require_or_skip(postgres_unavailable_reason(), "PostgreSQL")


def test_temporary_postgres_round_trip():
    _require_postgres()
    pg = TemporaryPostgres()
    with pg:
        root = pg.root
        url = pg.create_database("toxwatch_selfcheck")
        assert url == pg.url("toxwatch_selfcheck")
        assert url.startswith("postgresql+psycopg://postgres@127.0.0.1:")

        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                assert conn.execute(text("select 1")).scalar_one() == 1
                assert conn.execute(text("select current_database()")).scalar_one() == "toxwatch_selfcheck"
                conn.execute(text("create table probe (id serial primary key, term text not null)"))
                conn.execute(text("insert into probe (term) values (:t)"), [{"t": "Stomatitis"}, {"t": "Rash"}])
            with engine.connect() as conn:
                rows = conn.execute(text("select term from probe order by id")).scalars().all()
                assert rows == ["Stomatitis", "Rash"]
                assert conn.execute(text("show server_encoding")).scalar_one() == "UTF8"
        finally:
            engine.dispose()
        assert root is not None and root.exists()

    assert pg.root is None
    assert not root.exists(), "stop() must remove the temporary directory"
    with pytest.raises(Exception):
        pg.url("toxwatch_selfcheck")
