"""A throw-away PostgreSQL cluster listening inside a network namespace (Debian's initdb and
pg_ctl, run as the `postgres` OS user because initdb refuses root), for fault scenarios whose
hosts reach the database over links the test can cut. The test process itself talks to it
through its Unix socket, so it needs no address outside the namespaces.

The machine's own PostgreSQL server is never touched: the cluster has its own data directory,
socket directory and port, and is stopped (immediately) and deleted by `close()`.
"""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.postgres_cluster import missing_reason, postgres_bin_dir

PORT = 55432
DIRECTORY_PREFIX = "tocsinlh-pg-"


def binaries() -> Path | None:
    """postgres_cluster's initdb/pg_ctl directory when psql is there too (the seeding uses it)."""
    directory = postgres_bin_dir()
    return directory if directory is not None and os.access(directory / "psql", os.X_OK) else None


def unavailable_reason() -> str | None:
    if (reason := missing_reason()) is not None:
        return reason
    return None if binaries() is not None else "psql is not installed beside initdb / pg_ctl"


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class NamespacedCluster:
    """initdb → start inside `namespace` on `address`:PORT → `close()`."""

    namespace: str
    address: str
    port: int = PORT
    database: str = "tocsin"
    clients: str = "10.231.0.0/16"  # the hosts' addresses, trusted (a throw-away cluster)

    def start(self) -> "NamespacedCluster":
        bin_dir = binaries()
        self.root = Path(tempfile.mkdtemp(prefix=f"{DIRECTORY_PREFIX}{os.getpid()}-"))
        self.data, self.sockets = self.root / "data", self.root / "sockets"
        self.sockets.mkdir()
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (self.root, self.sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._run([str(bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "--no-sync", "-E", "UTF8", "--locale=C"])
        with open(self.data / "pg_hba.conf", "a") as rules:  # the hosts connect over their links
            rules.write(f"host all all {self.clients} trust\n")
        settings = (f"-c listen_addresses={self.address} -c port={self.port} "
                    f"-c unix_socket_directories={self.sockets} -c fsync=off -c synchronous_commit=off "
                    f"-c full_page_writes=off -c max_connections=200")
        self._run(["ip", "netns", "exec", self.namespace,
                   *_as_owner([str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                               "-o", settings, "-w", "-t", "60", "start"])], owned=False)
        self._run([str(bin_dir / "psql"), "-h", str(self.sockets), "-p", str(self.port), "-U", "postgres",
                   "-d", "postgres", "-qc", f"CREATE DATABASE {self.database}"])
        return self

    def _run(self, argv: list[str], owned: bool = True) -> None:
        command = _as_owner(argv) if owned else argv
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:1])} failed: {result.stderr.strip() or result.stdout.strip()}")

    @property
    def host_url(self) -> str:
        """What a host inside the namespaces connects to (over its link)."""
        return f"postgresql://postgres@{self.address}:{self.port}/{self.database}"

    @property
    def socket_url(self) -> str:
        """What the test process connects to (the Unix socket: no network address at all)."""
        return f"postgresql://postgres@/{self.database}?host={self.sockets}&port={self.port}"

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        root = getattr(self, "root", None)
        if root is None:
            return
        if (self.data / "postmaster.pid").exists():
            subprocess.run(_as_owner([str(binaries() / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                                      "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
        self.root = None


def remove_stale_directories() -> None:
    """Data directories left by crashed runs (the creating process, named in the directory, is
    gone); their server died with its namespace (netns.remove_stale)."""
    for directory in glob.glob(os.path.join(tempfile.gettempdir(), DIRECTORY_PREFIX + "*")):
        creator = os.path.basename(directory)[len(DIRECTORY_PREFIX):].split("-")[0]
        if creator.isdigit() and not os.path.exists(f"/proc/{creator}"):
            shutil.rmtree(directory, ignore_errors=True)
