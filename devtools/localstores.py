"""Throwaway (tests) or embedded (make dev) Postgres and Redis servers, from Debian's packages.

Both run as child servers on free loopback ports with their data in a directory of ours. Postgres
preloads pg_cron when the extension is installed. initdb/postgres refuse to run as root, so when
we are root they run as the `postgres` user. `stop()` / `start()` keep the port and the data, so
tests can take a store away mid-run and bring it back.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

DB_NAME = "app"


class MissingDependency(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: Optional[subprocess.Popen], grace: float = 10) -> None:
    """Terminate a child server, killing it if it has not gone after `grace` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _pg_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise MissingDependency("PostgreSQL server binaries not found: apt-get install postgresql-15 postgresql-15-cron")


def has_pg_cron(bindir: Path) -> bool:
    try:
        pkglibdir = subprocess.run([str(bindir / "pg_config"), "--pkglibdir"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pkglibdir = str(bindir.parent / "lib")
    return any(Path(d, "pg_cron.so").exists() for d in {pkglibdir, str(bindir.parent / "lib")} if d)


class LocalPostgres:
    def __init__(self, datadir: Path, port: Optional[int] = None, *, durable: bool = False,
                 with_pg_cron: bool = True):
        self.datadir = Path(datadir)
        self.port = port or free_port()
        self.durable = durable
        self.bindir = _pg_bindir()
        # with_pg_cron=False: a server like a Postgres without the extension (the migrations must apply there too)
        self.pg_cron = with_pg_cron and has_pg_cron(self.bindir)
        self.as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DB_NAME}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    def _options(self) -> str:
        opts = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.datadir}",
            "-c max_connections=200",
        ]
        if self.pg_cron:
            opts += ["-c shared_preload_libraries=pg_cron", f"-c cron.database_name={DB_NAME}"]
        if not self.durable:  # throwaway test data: no need to survive a power cut
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        return " ".join(opts)

    def init(self) -> None:
        if (self.datadir / "PG_VERSION").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(self.datadir, "postgres", "postgres")
            os.chmod(self.datadir, 0o700)
            probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(self.datadir)])
            if probe.returncode != 0:
                raise MissingDependency(
                    f"the postgres user cannot reach {self.datadir}; put the project where it can "
                    "(or set DATABASE_URL)")
        self._run("initdb", "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync", "--locale=C.UTF-8")

    def start(self) -> "LocalPostgres":
        self.init()
        log = self.datadir / "server.log"
        result = self._run("pg_ctl", "-D", str(self.datadir), "-l", str(log), "-o", self._options(),
                           "-w", "-t", "60", "start", check=False)
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"postgres did not start: {result.stderr}\n{tail}")
        _wait_port(self.port)
        self._ensure_database()
        return self

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone():
                conn.execute(f"CREATE DATABASE {DB_NAME}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop", check=False)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.datadir), "status", check=False).returncode == 0


class LocalRedis:
    def __init__(self, datadir: Path, port: Optional[int] = None, *, durable: bool = False):
        self.datadir = Path(datadir)
        self.port = port or free_port()
        self.durable = durable
        self.proc: Optional[subprocess.Popen] = None
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(self.binary).exists():
            raise MissingDependency("redis-server not found: apt-get install redis-server")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "LocalRedis":
        self.datadir.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.datadir),
                "--daemonize", "no", "--logfile", str(self.datadir / "redis.log")]
        args += ["--appendonly", "yes", "--save", ""] if self.durable else ["--appendonly", "no", "--save", ""]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port)
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
