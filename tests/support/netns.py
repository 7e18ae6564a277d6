"""Network namespaces for fault scenarios: a "core" namespace (database, receiver) and hosts,
each joined to core by its own veth pair, so a test can cut one host's link and nothing else.

Every address lives inside namespaces made here (10.231.0.0/16 by default); the machine's own
network is never touched. Names carry a prefix and the creating process's id, so a later run
removes what a crashed run left (`remove_stale`) without touching a live run's namespaces.
A thread of this process can open sockets inside a namespace with `inside(name)`.
"""
import ctypes
import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

PREFIX = "tocsinlh"
SUBNET = "10.231.0.0/16"
CORE_ADDRESS = "10.231.0.1"  # on core's loopback: reachable from every host's link
CLONE_NEWNET = 0x40000000


def _ip(*arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *arguments], capture_output=True, text=True, check=check, timeout=30)


def unavailable_reason() -> str | None:
    """Why namespaces cannot be used here (not root, no `ip`, not permitted), or None."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    name = f"{PREFIX}-{os.getpid()}-probe"
    probe = _ip("netns", "add", name, check=False)
    if probe.returncode != 0:
        return f"`ip netns add` is not permitted here: {probe.stderr.strip()}"
    _ip("netns", "del", name, check=False)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_processes_in(namespace: str) -> None:
    """SIGKILL each process still running inside `namespace` (ours: only our runs make these)."""
    listed = _ip("netns", "pids", namespace, check=False).stdout.split()
    for pid in (int(value) for value in listed if value.isdigit()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def remove_stale() -> list[str]:
    """Delete namespaces (and their processes) left by runs whose process has died."""
    removed = []
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if len(parts) >= 3 and parts[0] == PREFIX and parts[1].isdigit() and not _alive(int(parts[1])):
            _kill_processes_in(name)
            _ip("netns", "del", name, check=False)
            removed.append(name)
    return removed


@dataclass
class Host:
    name: str  # short: "a", "b"
    namespace: str
    address: str  # the host's end of its link
    core_side: str  # the link's interface name inside core


@dataclass
class Network:
    """Core plus hosts; `close()` deletes them all (idempotent, also after a failure half-way)."""

    core: str = field(default_factory=lambda: f"{PREFIX}-{os.getpid()}-core")
    hosts: dict[str, Host] = field(default_factory=dict)
    core_address: str = CORE_ADDRESS

    def open(self) -> "Network":
        self._created = [self.core]
        _ip("netns", "add", self.core)
        _ip("-n", self.core, "link", "set", "lo", "up")
        _ip("-n", self.core, "addr", "add", f"{self.core_address}/32", "dev", "lo")
        return self

    def add_host(self, name: str) -> Host:
        number = len(self.hosts) + 1
        namespace = f"{PREFIX}-{os.getpid()}-{name}"
        host = Host(name, namespace, f"10.231.{number}.2", f"host-{name}")
        _ip("netns", "add", namespace)
        self._created.append(namespace)
        _ip("link", "add", host.core_side, "netns", self.core, "type", "veth", "peer", "name", "core0",
            "netns", namespace)
        _ip("-n", self.core, "addr", "add", f"10.231.{number}.1/24", "dev", host.core_side)
        _ip("-n", self.core, "link", "set", host.core_side, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("-n", namespace, "addr", "add", f"{host.address}/24", "dev", "core0")
        _ip("-n", namespace, "link", "set", "core0", "up")
        _ip("-n", namespace, "route", "add", "default", "via", f"10.231.{number}.1")
        self.hosts[name] = host
        return host

    def cut(self, name: str) -> None:
        """Take the host's link down on the core side: its packets go nowhere, nothing is closed."""
        _ip("-n", self.core, "link", "set", self.hosts[name].core_side, "down")

    def restore(self, name: str) -> None:
        _ip("-n", self.core, "link", "set", self.hosts[name].core_side, "up")

    def command(self, namespace: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", namespace, *argv]

    def close(self) -> None:
        for namespace in reversed(getattr(self, "_created", [])):
            _kill_processes_in(namespace)
            _ip("netns", "del", namespace, check=False)
        self._created = []


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


@contextmanager
def inside(namespace: str):
    """Run this thread inside `namespace` (sockets made meanwhile stay there), then come back."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def wait_for_port(namespace: str, address: str, port: int, timeout: float = 60.0, process=None) -> None:
    """Until something accepts TCP connections at address:port inside `namespace`."""
    import socket

    deadline = time.monotonic() + timeout
    with inside(namespace):
        while True:
            try:
                socket.create_connection((address, port), timeout=1).close()
                return
            except OSError:
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"the process serving {address}:{port} exited") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nothing listens on {address}:{port} in {namespace}") from None
                time.sleep(0.1)
