"""Child processes of the benchmark: the loopback receiver, gunicorn and `flask db upgrade`.

Every process is started in its own session and registered here, so `stop_all()` (called from
`finally`, on Ctrl+C and on SIGTERM) can end each one's whole process group by id.
"""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = REPO_ROOT / ".venv" / "bin"
_started: list[subprocess.Popen] = []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(command: list[str], env: dict, log_path: Path, **kwargs) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115  (closed with the process)
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=kwargs.pop("stdout", log), stderr=log,
                               start_new_session=True, **kwargs)
    process.bench_log = log
    _started.append(process)
    return process


def stop(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM to the process group (gunicorn's master and workers), SIGKILL if it lingers."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(5)
    # Workers left behind by a master that died first share its process group.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    log = getattr(process, "bench_log", None)
    if log is not None and not log.closed:
        log.close()
    if process in _started:
        _started.remove(process)


def stop_all() -> None:
    for process in list(reversed(_started)):
        stop(process, timeout=5.0)


def install_signal_handlers() -> None:
    """SIGTERM ends the run like Ctrl+C does, so `finally` blocks stop the children."""
    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)


def start_receiver(workdir: Path) -> tuple[subprocess.Popen, int]:
    process = _start([sys.executable, "-m", "bench.receiver"], dict(os.environ), workdir / "receiver.log",
                     stdout=subprocess.PIPE)
    line = process.stdout.readline().decode().strip()
    if not line.startswith("PORT "):
        stop(process)
        raise RuntimeError(f"the receiver did not start (said {line!r}); see {workdir / 'receiver.log'}")
    return process, int(line.split()[1])


def server_env(database_url: str, secret_key: str, port: int, extra: dict | None = None) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TOCSIN_", "GUNICORN_"))}
    env.update({
        "DATABASE_URL": database_url, "SECRET_KEY": secret_key, "PORT": str(port),
        "TOCSIN_ENV": "production", "TOCSIN_ALLOWED_NETWORKS": "127.0.0.0/8", "GUNICORN_WORKERS": "2",
        "TOCSIN_BASE_URL": f"http://127.0.0.1:{port}", "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


def migrate(env: dict, workdir: Path) -> None:
    result = subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    (workdir / "migrate.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{result.stderr[-2000:]}")


def start_gunicorn(env: dict, workdir: Path, name: str) -> subprocess.Popen:
    command = [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{env['PORT']}",
               "wsgi:app"]
    log_path = workdir / f"gunicorn-{name}.log"
    process = _start(command, env, log_path)
    url = f"http://127.0.0.1:{env['PORT']}/login"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200 and len(worker_pids(process.pid)) >= int(env["GUNICORN_WORKERS"]):
                    return process
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.2)
    stop(process)
    tail = log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"gunicorn did not start serving within 60 s; its log ends with:\n{tail}")


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn workers: the master's children (every thread's children file)."""
    pids: set[int] = set()
    for children in Path(f"/proc/{master_pid}/task").glob("*/children"):
        try:
            pids.update(int(pid) for pid in children.read_text().split())
        except OSError:
            continue
    return sorted(pids)


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM (the peak resident set) of a live process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
