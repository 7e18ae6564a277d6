"""Lost host (issue 18): two Tocsin hosts share one PostgreSQL, each in its own network namespace;
host A's link is cut while it holds leased deliveries in flight — and while one of its claim
transactions is open, holding the claim lock — and host B takes the rows over when their leases
expire. Nothing is lost; the only duplicates are A's attempts in flight at the cut, each with
its delivery's webhook-id. The scenario is bench/faults_lost_host.py (root and Debian's
initdb/pg_ctl needed: skipped otherwise)."""
import pytest

from bench import faults_lost_host


@pytest.fixture(autouse=True)
def namespaces_and_postgres():
    reason = faults_lost_host.unavailable_reason()
    if reason:
        pytest.skip(reason)


def test_cut_host_s_leased_deliveries_are_taken_over_by_the_other_host_and_none_is_lost():
    outcome = faults_lost_host.run(faults_lost_host.TEST)
    print(outcome.line())

    assert outcome.answered == faults_lost_host.TEST.reports
    assert outcome.lost == []
    assert outcome.rows == outcome.answered
    assert outcome.in_flight_at_cut >= 1, "A held no attempt in flight at the cut: nothing was tested"
    assert outcome.a_sessions_in_transaction >= 1  # the stranded claim transaction
    assert outcome.takeover is not None  # B re-sent A's in-flight attempts
    assert outcome.duplicates <= outcome.in_flight_at_cut + outcome.failed_attempts
    assert outcome.unexplained == 0  # every duplicate was in flight at the cut (or retried after a failure)
    assert (outcome.mismatched_ids, outcome.bad_signatures) == (0, 0)
