"""From a run to alerts: what jobs report, which rules fire, and the rows the engine sends.

1. `ingest.report_run` / `ingest.finish_run` check the report (`report_validation`), store
   the run (creating its job on first report) and commit.
2. Before that commit, `raising.raise_alerts` reads the workspace's active rules for the run's
   events, words each alert (`raising.describe`) and writes it with one pending delivery per
   endpoint (or counts a repeat on the firing alert within the rule's cooldown); a success (or
   a run under a slow threshold) resolves the alerts it ends (`lifecycle.resolve_firing`).
3. `sweeps.sweep_deadlines` times out runs past their deadline, exactly once across processes,
   and raises their `run_timed_out` alerts through the same `raising.raise_alerts`.
4. The caller hands the new delivery ids to `delivery.pool` after the commit.
5. A scheduled job (`schedules`: validation, next slot; `jobs`: its life cycle) has its next slot
   moved by each report; `missed_runs` (run by `sweeps.sweep_missed_runs`) raises `run_missed`
   once per slot that passed its grace with no report, through `raising.raise_missed`.
6. `lifecycle.sweep_repeats` sends `alert.repeated` for firing, unacknowledged alerts, once each.
7. `system_events` raises alerts about alerting itself: `endpoint_disabled` and `delivery_dead`
   from the engine's outcome batch, `scheduler_stalled` from the heartbeat check
   (`delivery.jobs.check_heartbeat`, on requests and scheduler ticks), resolved when a beat returns.
`rules` and `alerts` are the rule and alert life cycles behind the pages and the API;
`job_runs` reads runs for the job pages, `job_status` computes a job's status (new, up, late,
down, paused) and `schedule_words` says a schedule and its next slot in words.
"""
