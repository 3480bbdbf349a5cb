"""Throwaway (tests) or embedded (make dev) Postgres and Redis servers, from Debian's packages.

All run as child servers on free loopback ports with their data in a directory of ours. Postgres
preloads pg_cron when the extension is installed. initdb/postgres and pgbouncer refuse to run as
root, so when we are root they run as the `postgres` user. `stop()` / `start()` keep the port and
the data, so tests can take a store away mid-run and bring it back.

Besides one Postgres and one Redis: PgBouncer in transaction mode in front of a Postgres (what
Supabase's pooler does to the functions' connections), a Redis Cluster of primaries, and a Redis
speaking TLS only (with a CA of its own, see tls_material()).
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional
from urllib.parse import quote

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


def _wait_port(port: int, timeout: float = 30.0, proc: Optional[subprocess.Popen] = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server meant for port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class _ChildServer:
    """A server running as our child process (`proc`): stop() ends it, start() again brings it back."""

    proc: Optional[subprocess.Popen] = None

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class _PostgresEndpoint:
    """`url`: the app's database on `port`; `admin_url`: the server's own (`postgres`, or PgBouncer's console)."""

    port: int
    admin_database = "postgres"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DB_NAME}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.admin_database}"


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


class LocalPostgres(_PostgresEndpoint):
    def __init__(self, datadir: Path, port: Optional[int] = None, *, durable: bool = False,
                 with_pg_cron: bool = True):
        self.datadir = Path(datadir)
        self.port = port or free_port()
        self.durable = durable
        self.bindir = _pg_bindir()
        # with_pg_cron=False: a server like a Postgres without the extension (the migrations must apply there too)
        self.pg_cron = with_pg_cron and has_pg_cron(self.bindir)
        self.as_root = os.geteuid() == 0


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

    def start(self) -> LocalPostgres:
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


class LocalPgBouncer(_PostgresEndpoint, _ChildServer):
    """Debian's PgBouncer in transaction mode in front of a LocalPostgres, as stock as Supabase's
    pooler is to its users: `ignore_startup_parameters` is Debian's `extra_float_digits` and nothing
    more, so a client that sends startup `options` is refused, as it would be in production."""

    STOCK_IGNORED = "extra_float_digits"
    admin_database = "pgbouncer"  # its console: SHOW POOLS, SHOW CONFIG (simple queries only)

    def __init__(self, datadir: Path, postgres: LocalPostgres, port: Optional[int] = None, *, pool_size: int = 40,
                 ignore_startup_parameters: str = STOCK_IGNORED):
        self.datadir = Path(datadir)
        self.postgres = postgres
        self.port = port or free_port()
        self.pool_size = pool_size  # server connections per database and user
        self.ignore_startup_parameters = ignore_startup_parameters
        self.proc: Optional[subprocess.Popen] = None
        self.binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(self.binary).exists():
            raise MissingDependency("pgbouncer not found: apt-get install pgbouncer")
        self.as_root = os.geteuid() == 0


    def _config(self) -> str:
        return "\n".join([
            "[databases]",
            f"{DB_NAME} = host=127.0.0.1 port={self.postgres.port} dbname={DB_NAME}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {self.datadir / 'userlist.txt'}",
            "admin_users = postgres",
            "pool_mode = transaction",
            f"ignore_startup_parameters = {self.ignore_startup_parameters}",
            "max_client_conn = 500",
            f"default_pool_size = {self.pool_size}",
            # A test restarts Postgres under it: reconnect at once instead of after the default 15 s.
            "server_login_retry = 0.1",
            f"logfile = {self.datadir / 'pgbouncer.log'}",
            "",
        ])

    def start(self) -> LocalPgBouncer:
        self.datadir.mkdir(parents=True, exist_ok=True)
        (self.datadir / "pgbouncer.ini").write_text(self._config())
        (self.datadir / "userlist.txt").write_text('"postgres" ""\n')
        owner = {}
        if self.as_root:
            for path in (self.datadir, *self.datadir.iterdir()):
                shutil.chown(path, "postgres", "postgres")
            owner = {"user": "postgres", "group": "postgres"}
        self.proc = subprocess.Popen([self.binary, "-q", str(self.datadir / "pgbouncer.ini")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **owner)
        try:
            _wait_port(self.port, proc=self.proc)
        except (TimeoutError, RuntimeError):
            log = self.datadir / "pgbouncer.log"
            raise RuntimeError(f"pgbouncer did not start: {log.read_text()[-2000:] if log.exists() else ''}") from None
        return self



class LocalRedis(_ChildServer):
    """One redis-server. `extra` adds server options; `tls` serves TLS only (no plain port), with a
    certificate from tls_material(); `password` requires AUTH."""

    def __init__(self, datadir: Path, port: Optional[int] = None, *, durable: bool = False,
                 extra: tuple[str, ...] = (), tls: Optional[TlsMaterial] = None, password: Optional[str] = None):
        self.datadir = Path(datadir)
        self.port = port or free_port()
        self.durable = durable
        self.extra = tuple(extra)
        self.tls = tls
        self.password = password
        self.proc: Optional[subprocess.Popen] = None
        self.binary = _redis_binary()

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"{'rediss' if self.tls else 'redis'}://{auth}127.0.0.1:{self.port}/0"

    def args(self) -> list[str]:
        args = [self.binary, "--bind", "127.0.0.1", "--dir", str(self.datadir), "--daemonize", "no",
                "--logfile", str(self.datadir / "redis.log"), "--save", "",
                "--appendonly", "yes" if self.durable else "no"]
        if self.tls:
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls.cert),
                     "--tls-key-file", str(self.tls.key), "--tls-ca-cert-file", str(self.tls.ca),
                     "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        if self.password:
            args += ["--requirepass", self.password]
        return args + list(self.extra)

    def start(self) -> LocalRedis:
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, proc=self.proc)
        return self



def _redis_binary() -> str:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise MissingDependency("redis-server not found: apt-get install redis-server")
    return binary


def free_cluster_port(tries: int = 200) -> int:
    """A free port whose cluster bus port (port + 10000, at most 65535) is free too."""
    for _ in range(tries):
        port = random.randint(20000, 45000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free pair of ports for a Redis Cluster node")


class LocalRedisCluster:
    """A Redis Cluster of `size` primaries and no replicas (`redis-server --cluster-enabled yes`,
    joined by `redis-cli --cluster create`), like LocalRedis to its users: `url` names one node,
    `stop()` / `start()` take the whole cluster away and back (its slots kept, its data not), and
    `stop_node()` / `start_node()` one primary. With `tls`, clients and the cluster bus speak TLS
    only, as on ElastiCache Serverless; `url` then trusts the cluster's CA."""

    def __init__(self, datadir: Path, *, size: int = 3, node_timeout_ms: int = 2000,
                 tls: Optional[TlsMaterial] = None):
        self.datadir = Path(datadir)
        self.tls = tls
        options = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                   "--cluster-node-timeout", str(node_timeout_ms),
                   # A primary down leaves the others serving their slots, so a
                   # test of one node down does not depend on how soon the others notice.
                   "--cluster-require-full-coverage", "no"]
        if tls:
            options += ["--tls-cluster", "yes"]
        self.nodes = [LocalRedis(self.datadir / f"node{i}", free_cluster_port(), extra=tuple(options), tls=tls)
                      for i in range(size)]
        self.port = self.nodes[0].port

    @property
    def url(self) -> str:
        if self.tls:
            return f"rediss://127.0.0.1:{self.port}?ssl_ca_certs={quote(str(self.tls.ca))}"
        return f"redis://127.0.0.1:{self.port}"

    def _cli(self) -> list[str]:
        return ["redis-cli", *(["--tls", "--cacert", str(self.tls.ca)] if self.tls else [])]

    def start(self) -> LocalRedisCluster:
        try:
            for node in self.nodes:
                if not node.running():
                    node.start()
            if not self._slots_assigned():  # a new cluster; a restarted one keeps its nodes.conf
                created = subprocess.run(
                    [*self._cli(), "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
                     "--cluster-replicas", "0", "--cluster-yes"], capture_output=True, text=True, timeout=60)
                if created.returncode != 0:
                    raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout[-1000:]}{created.stderr}")
            self.wait_until(lambda info: info.get("cluster_state") == "ok", "the cluster is ok")
        except BaseException:
            self.stop()
            raise
        return self

    def _slots_assigned(self) -> bool:
        return int(self.info(self.nodes[0]).get("cluster_slots_assigned", 0)) == 16384

    def _admin(self, node: LocalRedis):
        import redis

        tls = {"ssl": True, "ssl_ca_certs": str(self.tls.ca)} if self.tls else {}
        return redis.Redis(port=node.port, socket_timeout=10, decode_responses=True, **tls)

    def info(self, node: LocalRedis) -> dict:
        with self._admin(node) as admin:
            return admin.cluster("info")

    def wait_until(self, predicate, what: str, timeout: float = 60.0) -> None:
        """Until every running node's CLUSTER INFO satisfies `predicate` (gossip takes a moment)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(predicate(self.info(n)) for n in self.nodes if n.running()):
                return
            time.sleep(0.1)
        raise TimeoutError(f"redis cluster: not '{what}' after {timeout}s")

    def node_of(self, key: str) -> LocalRedis:
        """The primary that holds `key`'s slot."""
        with self._admin(self.nodes[0]) as admin:
            slot = int(admin.cluster("keyslot", key))
            for start, end, primary, *_replicas in admin.cluster("slots"):  # [start, end, [host, port, id], ...]
                if int(start) <= slot <= int(end):
                    return next(n for n in self.nodes if n.port == int(primary[1]))
        raise LookupError(f"no node holds slot {slot}")

    def stop_node(self, node: LocalRedis) -> None:
        node.stop()

    def start_node(self, node: LocalRedis) -> None:
        node.start()
        self.wait_until(lambda info: info.get("cluster_state") == "ok", "the cluster is ok")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def running(self) -> bool:
        return all(n.running() for n in self.nodes)


class TlsMaterial:
    """A throwaway CA and a server certificate it signed (for 127.0.0.1 and localhost), as PEM files."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.ca = self.directory / "ca.pem"
        self.cert = self.directory / "server.pem"
        self.key = self.directory / "server.key"

    def create(self, *, days: int = 2) -> TlsMaterial:
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        def pem(key) -> bytes:
            return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())

        now = datetime.datetime.now(datetime.UTC)
        ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "course-drafts test CA")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
              .not_valid_after(now + datetime.timedelta(days=days))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                           content_commitment=False, key_encipherment=False, data_encipherment=False,
                                           key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                               critical=False)
                # CLIENT_AUTH too: cluster nodes present it to each other on the TLS bus
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                      x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key.write_bytes(pem(key))
        return self
