"""The delivery engine: how one alert reaches one endpoint (DESIGN.md's state machine).

1. `alerting.raising` writes a `pending` Delivery in the same transaction as its alert.
2. After that commit, `pool.send_after_commit` hands its id to this process's send threads.
3. `claims.claim_one` (or, for retries and leftovers, `jobs.retry_pass` on the wake-up loop, with
   `claims.claim_due`) moves it to `sending` with a lease, within the endpoint's limits.
4. `attempt.attempt` loads a `snapshot`, lets go of the database, and `request.send` builds
   the body (`formats`), signs it (`signing`) and POSTs it (`outbound`).
5. `attempt.decide` picks delivered, pending again (`backoff`) or dead, and `outcomes.write`
   records it with the attempt row and the endpoint's health, only while the lease is ours.
6. `requeue` queues a delivered or dead one again (same id); `jobs` also prunes old history.
"""
