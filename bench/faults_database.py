"""`make bench` fault scenario `db_restart` (BENCH_ONLY=db_restart): the PostgreSQL server is
stopped (`pg_ctl stop -m fast`) and started again twice during a minute of failed-run reports,
on a throw-away cluster of its own (tests/support/postgres_cluster.py; the machine's server is
left alone). The scenario is the test's (tests/support/database_restart.py) at a larger scale:
4 clients × 5 reports/s, 8 s down each time, 5 attempts held in flight across each stop, and
the default lease margin (15 s), so a claim stranded by a stop waits for a real lease.
"""
import shutil
import sys
import tempfile
from pathlib import Path

from tests.support import postgres_cluster
from tests.support.database_restart import run_restart_scenario

FULL = {"before": 10.0, "down": 8.0, "after": 15.0, "restarts": 2, "clients": 4, "per_client": 5.0, "held": 5}
QUICK = {"before": 3.0, "down": 4.0, "after": 4.0, "restarts": 1, "clients": 2, "per_client": 5.0, "held": 3}


def measure(quick: bool = False) -> str:
    """Run the scenario and return its line for the notes (and the Faults table); never raises
    for a missing PostgreSQL installation."""
    reason = postgres_cluster.missing_reason()
    if reason is not None:
        return f"db_restart: skipped ({reason})"
    sizes = QUICK if quick else FULL
    work_dir = Path(tempfile.mkdtemp(prefix="tocsin-bench-dbrestart-"))
    print(f"[bench] db_restart: {sizes['restarts']} PostgreSQL restart(s), {sizes['down']:g} s down each, "
          f"{sizes['clients'] * sizes['per_client']:g} reports/s", file=sys.stderr, flush=True)
    figures = run_restart_scenario(work_dir, **sizes, drain_timeout=90.0, settings={"TOCSIN_LEASE_MARGIN": "15"})
    shutil.rmtree(work_dir, ignore_errors=True)
    recoveries = " / ".join("none" if seconds is None else f"{seconds:.1f} s" for seconds in figures.recovery_seconds())
    others = sum(count for status, count in figures.statuses.items() if status not in (201, 503))
    return (f"db_restart (Faults): PostgreSQL restarted {len(figures.outages)} × {sizes['down']:g} s under "
            f"{sizes['clients'] * sizes['per_client']:g} reports/s — lost {len(figures.lost)}, duplicates "
            f"{figures.duplicates}, recovery {recoveries} (pg_ctl start → first 201), drain "
            f"{figures.drain_seconds:.1f} s; {figures.statuses[201]} × 201, {figures.statuses[503]} × 503, "
            f"{others} other answers; {figures.carried_over()} deliveries pending or in flight at the stops, "
            f"{figures.committed_though_refused} answered 503 but committed; {figures.attempts} attempts for "
            f"{sum(figures.final_statuses.values())} deliveries, all {', '.join(sorted(figures.final_statuses))}")
