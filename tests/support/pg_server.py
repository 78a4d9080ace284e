"""A throwaway PostgreSQL server for tests.

``TemporaryPostgres`` runs initdb in a fresh temporary directory, starts the server on 127.0.0.1 and a
free port, and removes everything again on ``stop()``. PostgreSQL refuses to run as root, so when the
tests run as root the directory is handed to the ``postgres`` OS user and initdb/pg_ctl run through
``runuser -u postgres --``.

    with TemporaryPostgres() as pg:
        pg.create_database("toxwatch_test")
        engine = sqlalchemy.create_engine(pg.url("toxwatch_test"))
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_USER = "postgres"
_START_TIMEOUT_S = 60
_LOG_TAIL_CHARS = 4000


class PostgresServerError(RuntimeError):
    """initdb, pg_ctl or the server itself failed; the message carries their output and the server log."""


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,); newest version first when sorted in reverse
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def postgres_bin_dir() -> Path | None:
    """The directory holding initdb and pg_ctl, or None when no PostgreSQL server is installed.

    Order: $TOXWATCH_PG_BIN, Debian's /usr/lib/postgresql/<newest>/bin, then initdb on $PATH.
    """
    candidates: list[Path] = []
    if os.environ.get("TOXWATCH_PG_BIN"):
        candidates.append(Path(os.environ["TOXWATCH_PG_BIN"]))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


def _running_as_root() -> bool:
    return os.geteuid() == 0


def postgres_unavailable_reason() -> str | None:
    """Why TemporaryPostgres cannot work on this machine, or None when it should."""
    if postgres_bin_dir() is None:
        return ("no PostgreSQL server binaries (initdb, pg_ctl) found under /usr/lib/postgresql/*/bin "
                "or on PATH; install the Debian package 'postgresql' or set TOXWATCH_PG_BIN")
    return _environment_problem()


def _environment_problem() -> str | None:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:  # pragma: no cover - psycopg is in requirements.txt
        return f"psycopg is not importable: {exc}"
    if _running_as_root():
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return f"running as root but there is no '{PG_USER}' OS user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root but 'runuser' (util-linux) is missing"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _traversable_by_others(path: Path) -> bool:
    """True when every directory from / down to ``path`` has the x bit for others (the postgres user)."""
    path = path.resolve()
    for directory in [path, *path.parents]:
        try:
            if not directory.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


class TemporaryPostgres:
    """A PostgreSQL server in a temporary directory, listening on 127.0.0.1 only.

    Use as a context manager, or call ``start()`` and ``stop()``. ``stop()`` is idempotent and also
    runs at interpreter exit if a test forgot it.
    """

    def __init__(self, *, bin_dir: Path | str | None = None, base_dir: Path | str | None = None):
        found = Path(bin_dir) if bin_dir else postgres_bin_dir()
        if found is None:
            raise PostgresServerError(postgres_unavailable_reason() or "PostgreSQL binaries not found")
        self.bin_dir: Path = found
        self._base_dir = Path(base_dir) if base_dir else None
        self.host = "127.0.0.1"
        self.user = PG_USER
        self.port: int | None = None
        self.root: Path | None = None
        self._started = False

    # paths inside the temporary directory (short, so the unix socket path stays under 107 bytes)
    @property
    def data_dir(self) -> Path:
        return self._require_root() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._require_root() / "sock"

    @property
    def log_file(self) -> Path:
        return self._require_root() / "server.log"

    def _require_root(self) -> Path:
        if self.root is None:
            raise PostgresServerError("the server has not been started")
        return self.root

    # ---- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> "TemporaryPostgres":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> "TemporaryPostgres":
        if self._started:
            return self
        problem = _environment_problem()
        if problem:
            raise PostgresServerError(problem)
        self.root = self._make_root()
        atexit.register(self.stop)
        try:
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def _make_root(self) -> Path:
        parent = self._base_dir
        if parent is None and _running_as_root():
            # the postgres user must be able to reach the directory; $TMPDIR may be under /root
            default = Path(tempfile.gettempdir())
            parent = default if _traversable_by_others(default) else Path("/tmp")
        root = Path(tempfile.mkdtemp(prefix="toxwatch-pg-", dir=parent))
        (root / "sock").mkdir()
        if _running_as_root():
            entry = pwd.getpwnam(PG_USER)
            for path in (root, root / "sock"):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        return root

    def _command(self, program: str, *args: str) -> list[str]:
        cmd = [str(self.bin_dir / program), *args]
        if _running_as_root():
            cmd = ["runuser", "-u", PG_USER, "--", *cmd]
        return cmd

    def _run(self, program: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = self._command(program, *args)
        env = dict(os.environ, LC_ALL="C", LANG="C")
        try:
            # cwd: the postgres user cannot enter root's working directory (/root, the repo ...)
            return subprocess.run(cmd, cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            output = exc.output or ""
            if isinstance(output, bytes):
                output = output.decode(errors="replace")
            raise PostgresServerError(self._describe(f"{shlex.join(cmd)} timed out after {timeout} s",
                                                     output)) from exc

    def _describe(self, headline: str, output: str) -> str:
        parts = [headline]
        if output.strip():
            parts.append("--- output ---\n" + output.strip())
        log = self.read_log()
        if log.strip():
            parts.append(f"--- server log {self.log_file} (tail) ---\n" + log[-_LOG_TAIL_CHARS:].strip())
        return "\n".join(parts)

    def read_log(self) -> str:
        """The server log so far ('' when there is none)."""
        try:
            return self.log_file.read_text(errors="replace")
        except (OSError, PostgresServerError):
            return ""

    def _initdb(self) -> None:
        # -N: don't fsync the new cluster; the data is thrown away after the tests
        common = ["-D", str(self.data_dir), "-A", "trust", "-U", PG_USER, "--encoding=UTF8", "-N"]
        result = self._run("initdb", *common, "--locale=C.UTF-8")
        if result.returncode != 0 and "invalid locale" in result.stdout.lower():
            # a machine without the C.UTF-8 locale: plain C with UTF8 encoding is always accepted
            shutil.rmtree(self.data_dir, ignore_errors=True)
            result = self._run("initdb", *common, "--locale=C")
        if result.returncode != 0:
            raise PostgresServerError(self._describe(
                f"initdb failed with exit code {result.returncode}: {shlex.join(result.args)}", result.stdout))

    def pause(self) -> None:
        """Stop the server but keep its data, as an outage would (tests of recovery)."""
        self._pg_ctl_stop("fast")

    def resume(self) -> None:
        """Start a paused server again on the same port."""
        self._start_server(attempts=1, port=self.port)

    def _start_server(self, attempts: int = 3, port: int | None = None) -> None:
        for attempt in range(1, attempts + 1):
            self.port = port or _free_port()
            # A fast, disposable test server: -F / fsync=off, synchronous_commit=off and
            # full_page_writes=off drop the durability work (the data dies with the temp dir anyway);
            # max_connections=200 leaves room for several engines' pools plus Streamlit servers.
            server_options = " ".join([
                "-k", shlex.quote(str(self.socket_dir)),
                "-h", self.host,
                "-p", str(self.port),
                "-F",
                "-c", "fsync=off",
                "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off",
                "-c", "max_connections=200",
            ])
            result = self._run("pg_ctl", "start", "-w", "-t", str(_START_TIMEOUT_S),
                               "-D", str(self.data_dir), "-l", str(self.log_file), "-o", server_options,
                               timeout=_START_TIMEOUT_S + 30)
            if result.returncode == 0:
                return
            log = self.read_log()
            port_taken = "could not bind" in log or "already in use" in log
            if port_taken and attempt < attempts:  # another process took the free port first
                self._pg_ctl_stop("immediate")
                continue
            raise PostgresServerError(self._describe(
                f"pg_ctl start failed with exit code {result.returncode} (port {self.port}): "
                f"{shlex.join(result.args)}", result.stdout))

    def _pg_ctl_stop(self, mode: str) -> subprocess.CompletedProcess | None:
        if self.root is None or not (self.data_dir / "postmaster.pid").exists():
            return None
        return self._run("pg_ctl", "stop", "-w", "-t", "30", "-m", mode, "-D", str(self.data_dir), timeout=60)

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server (fast shutdown, then harder if needed) and remove the temporary directory."""
        atexit.unregister(self.stop)
        if self.root is None:
            return
        try:
            result = self._pg_ctl_stop("fast")
            if result is not None and result.returncode != 0:
                result = self._pg_ctl_stop("immediate")
                if result is not None and result.returncode != 0:
                    self._kill_postmaster()
        except PostgresServerError:
            self._kill_postmaster()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
            self._started = False

    # ---- use -------------------------------------------------------------------------------------

    def _require_started(self) -> int:
        if not self._started or self.port is None:
            raise PostgresServerError("the server is not running; call start() or use it in a with block")
        return self.port

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL for ``dbname``: postgresql+psycopg://postgres@127.0.0.1:PORT/dbname."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self._require_started()}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """libpq connection string for psycopg.connect()."""
        return f"host={self.host} port={self._require_started()} user={self.user} dbname={dbname}"

    def _admin_execute(self, statement) -> None:
        import psycopg

        with psycopg.connect(self.conninfo("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its SQLAlchemy URL."""
        from psycopg import sql

        self._admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions (WITH (FORCE), PG 13+)."""
        from psycopg import sql

        self._admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
