"""Fast data generation in SQL: `INSERT … SELECT` over a number series (a recursive CTE on
SQLite, `generate_series` on PostgreSQL), so a million rows take seconds, not minutes.

Every value is an integer or a timestamp the benchmark computed itself, written inline.
Timestamps are stored the way the app's `UTCDateTime` stores them: naive UTC text with six
fractional digits on SQLite, `timestamptz` on PostgreSQL.
"""
import time
from datetime import datetime

import sqlalchemy as sa

CHUNK = 250_000  # rows per statement and transaction (bounded WAL growth on SQLite)


class Sql:
    """The few spellings that differ between SQLite and PostgreSQL."""

    def __init__(self, engine: sa.Engine, now: datetime):
        self.engine = engine
        self.postgresql = engine.dialect.name == "postgresql"
        self.base = now.strftime("%Y-%m-%d %H:%M:%S")

    def at(self, seconds_sql: str) -> str:
        """The timestamp `now + seconds` (seconds may be negative) as an SQL expression."""
        if self.postgresql:
            return f"(TIMESTAMPTZ '{self.base}+00' + ({seconds_sql}) * INTERVAL '1 second')"
        return f"(strftime('%Y-%m-%d %H:%M:%S', '{self.base}', printf('%+d seconds', {seconds_sql})) || '.000000')"

    def series_insert(self, insert_head: str, select_list: str, start: int, stop: int) -> str:
        """`INSERT INTO t (cols) SELECT <select_list> FROM <x = start..stop>`."""
        if self.postgresql:
            return f"{insert_head} SELECT {select_list} FROM generate_series({start}, {stop}) AS series(x)"
        return (f"WITH RECURSIVE series(x) AS (SELECT {start} UNION ALL SELECT x + 1 FROM series WHERE x < {stop}) "
                f"{insert_head} SELECT {select_list} FROM series")

    def execute(self, connection: sa.Connection, statement: str) -> None:
        """Run literal SQL; psycopg reads `%` as a placeholder, so it is doubled there."""
        connection.exec_driver_sql(statement.replace("%", "%%") if self.postgresql else statement)

    def run_chunks(self, insert_head: str, select_list: str, total: int) -> None:
        for start in range(1, total + 1, CHUNK):
            stop = min(total, start + CHUNK - 1)
            with self.engine.begin() as connection:
                self.execute(connection, self.series_insert(insert_head, select_list, start, stop))

    def analyze(self, *tables: str) -> None:
        """PostgreSQL only: the statistics and visibility map autovacuum keeps in a live database,
        then a CHECKPOINT, so the timings that follow do not share the disk with writing out a
        million fresh rows (a live database spreads those writes over hours); skipped for a role
        that may not. SQLite gets no ANALYZE: Tocsin never runs one, so the planner works as it
        would in use."""
        if not self.postgresql:
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in tables:
                connection.exec_driver_sql(f'VACUUM ANALYZE "{table}"')
            try:
                connection.exec_driver_sql("CHECKPOINT")
            except sa.exc.DBAPIError:  # CHECKPOINT needs a superuser or pg_checkpoint
                pass


def _contiguous(ids: list[int]) -> int:
    if ids != list(range(ids[0], ids[0] + len(ids))):
        raise RuntimeError(f"expected consecutive ids, got {ids[:5]}…")
    return ids[0]


RUN_COLUMNS = ("INSERT INTO run (workspace_id, job_id, external_id, status, started_at, deadline_at, finished_at, "
               "timed_out_at, duration_ms, message, metadata, created_at)")
ALERT_COLUMNS = ("INSERT INTO alert (workspace_id, rule_id, job_id, run_id, type, severity, message, metadata, "
                 "repeat_count, last_seen_at, created_at)")
DELIVERY_COLUMNS = ("INSERT INTO delivery (workspace_id, message_id, alert_id, endpoint_id, rule_id, is_test, status, "
                    "attempt_count, max_attempts, next_attempt_at, lease_until, last_http_status, last_error, "
                    "last_duration_ms, created_at, updated_at, finished_at)")


def due_deliveries(engine: sa.Engine, now: datetime, *, workspace_id: int, rule_id: int, job_id: int,
                   endpoint_ids: list[int], count: int) -> None:
    """`count` failed runs, an alert for each and one `pending` delivery per alert, due now,
    spread round-robin over `endpoint_ids` — what the matcher would have written."""
    sql = Sql(engine, now)
    first_endpoint = _contiguous(endpoint_ids)
    when = sql.at("-1")
    sql.run_chunks(RUN_COLUMNS, f"{workspace_id}, {job_id}, 'tp-' || x, 'failed', {sql.at('-60')}, NULL, {when}, "
                                f"NULL, 59000, 'exit code 1', NULL, {when}", count)
    with engine.begin() as connection:
        sql.execute(connection,
            f"{ALERT_COLUMNS} SELECT workspace_id, {rule_id}, job_id, id, 'run_failed', 'critical', "
            f"'throughput-job failed after 59 s: exit code 1', NULL, 1, {when}, {when} FROM run WHERE job_id = {job_id}")
        sql.execute(connection,
            f"{DELIVERY_COLUMNS} SELECT workspace_id, 'msg_tp' || id, id, {first_endpoint} + id % {len(endpoint_ids)}, "
            f"{rule_id}, FALSE, 'pending', 0, 8, {when}, NULL, NULL, NULL, NULL, {when}, {when}, NULL "
            f"FROM alert WHERE job_id = {job_id}")
    sql.analyze("run", "alert", "delivery")


def million_runs(engine: sa.Engine, now: datetime, *, workspace_id: int, job_ids: list[int], total: int,
                 due: int) -> float:
    """`total` runs, of which `due` are running past their deadline (spread through the table),
    as many again running with a deadline an hour ahead, and the rest finished (most with a
    deadline they met). Returns the seconds it took."""
    started = time.perf_counter()
    sql = Sql(engine, now)
    first_job, jobs = _contiguous(job_ids), len(job_ids)
    every = max(1, total // due)
    kind = f"(x % {every})"  # 0: due; 1: open, not yet due; else finished
    status = f"CASE WHEN {kind} < 2 THEN 'running' WHEN x % 10 = 3 THEN 'failed' ELSE 'succeeded' END"
    started_at = sql.at(f"-({total} - x) * 3 - 600")
    deadline = (f"CASE WHEN {kind} = 0 THEN {sql.at(f'-({total} - x) * 3 - 300')} "
                f"WHEN {kind} = 1 THEN {sql.at('3600')} "
                f"WHEN x % 3 = 0 THEN NULL ELSE {sql.at(f'-({total} - x) * 3')} END")
    finished = f"CASE WHEN {kind} < 2 THEN NULL ELSE {sql.at(f'-({total} - x) * 3 - 590')} END"
    duration = f"CASE WHEN {kind} < 2 THEN NULL ELSE 10000 END"
    sql.run_chunks(RUN_COLUMNS, f"{workspace_id}, {first_job} + x % {jobs}, NULL, {status}, {started_at}, {deadline}, "
                                f"{finished}, NULL, {duration}, NULL, NULL, {started_at}", total)
    sql.analyze("run")
    return time.perf_counter() - started


def million_deliveries(engine: sa.Engine, now: datetime, *, workspace_id: int, rule_id: int, job_id: int,
                       endpoint_ids: list[int], total: int) -> float:
    """`total` deliveries: one alert per `len(endpoint_ids)` deliveries (a rule with that many
    endpoints), 5 % of alerts dead on every endpoint, ~1 % retrying, the rest delivered; one
    every ~3 s back from now. Returns the seconds it took."""
    started = time.perf_counter()
    sql = Sql(engine, now)
    first_endpoint, fan_out = _contiguous(endpoint_ids), len(endpoint_ids)
    alerts = (total + fan_out - 1) // fan_out
    with engine.connect() as connection:
        first_alert = (connection.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM alert").scalar() or 0) + 1
    alert_time = sql.at(f"-({alerts} - x) * {3 * fan_out} - 10")
    sql.run_chunks(ALERT_COLUMNS, f"{workspace_id}, {rule_id}, {job_id}, NULL, 'run_failed', 'warning', "
                                  f"'history-job failed after 3 s: exit code 2', NULL, 1, {alert_time}, {alert_time}",
                   alerts)
    with engine.connect() as connection:
        real_first = connection.exec_driver_sql(
            f"SELECT MIN(id) FROM alert WHERE job_id = {job_id}").scalar()
    first_alert = real_first or first_alert
    group = f"((x - 1) / {fan_out})"
    dead, retrying = f"{group} % 20 = 7", f"{group} % 97 = 3"
    status = f"CASE WHEN {dead} THEN 'dead' WHEN {retrying} THEN 'pending' ELSE 'delivered' END"
    attempts = f"CASE WHEN {dead} THEN 8 WHEN {retrying} THEN 2 ELSE 1 END"
    created = sql.at(f"-({total} - x) * 3")
    finished = f"CASE WHEN {retrying} AND NOT {dead} THEN NULL ELSE {sql.at(f'-({total} - x) * 3 + 1')} END"
    next_attempt = f"CASE WHEN {retrying} AND NOT {dead} THEN {sql.at('86400')} ELSE NULL END"
    http_status = f"CASE WHEN {dead} OR {retrying} THEN 503 ELSE 200 END"
    error = f"CASE WHEN {dead} THEN 'gave up after 8 attempts; last: HTTP 503' WHEN {retrying} THEN 'HTTP 503' ELSE NULL END"
    sql.run_chunks(DELIVERY_COLUMNS, f"{workspace_id}, 'msg_h' || x, {first_alert} + {group}, "
                                     f"{first_endpoint} + (x - 1) % {fan_out}, {rule_id}, FALSE, {status}, {attempts}, 8, "
                                     f"{next_attempt}, NULL, {http_status}, {error}, 5 + x % 50, {created}, {created}, "
                                     f"{finished}", total)
    sql.analyze("alert", "delivery")
    return time.perf_counter() - started
