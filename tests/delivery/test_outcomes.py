"""Group commit of attempt outcomes: one leader writes batches, each outcome exactly once."""
import threading
import time
from datetime import UTC, datetime

from webapp.services.delivery import outcomes


def test_concurrent_writers_share_batches_with_one_writer_at_a_time(monkeypatch):
    """The leader alone writes; followers wait for their outcome. A follower whose outcome was
    written once cleared the leader flag, so a second leader started and, finding the queue
    empty, committed empty batches in a loop (75,000 of them for 4,000 deliveries)."""
    writing = threading.Lock()
    batches: list[list[int]] = []
    overlaps = []

    def write_together(batch):
        if not writing.acquire(blocking=False):
            overlaps.append(len(batch))
            writing.acquire()
        try:
            batches.append([outcome.delivery_id for outcome in batch])
            time.sleep(0.002)  # a commit's round trip: others queue meanwhile
            for outcome in batch:
                outcome.status = outcome.values["status"]
        finally:
            writing.release()

    monkeypatch.setattr(outcomes, "_write_together", write_together)
    lease = datetime.now(UTC)
    results: dict[int, str | None] = {}

    def sender(first: int) -> None:
        for delivery_id in range(first, first + 40):
            outcome = outcomes.Outcome(delivery_id, endpoint_id=1, is_test=False, lease_until=lease,
                                       values={"status": "delivered"})
            results[delivery_id] = outcomes.write(outcome)

    threads = [threading.Thread(target=sender, args=(number * 1000,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    written = [delivery_id for batch in batches for delivery_id in batch]
    assert overlaps == []
    assert [] not in batches
    assert sorted(written) == sorted(results) and len(results) == 8 * 40
    assert set(results.values()) == {"delivered"}
    assert len(batches) < len(written)  # followers' outcomes rode along in the leader's batches


def test_a_failed_write_reaches_only_its_own_writer(monkeypatch):
    def write_together(batch):
        if any(outcome.delivery_id == 13 for outcome in batch):
            raise RuntimeError("row 13 is bad")
        for outcome in batch:
            outcome.status = outcome.values["status"]

    monkeypatch.setattr(outcomes, "_write_together", write_together)
    lease = datetime.now(UTC)
    errors, statuses = {}, {}

    def sender(delivery_id: int) -> None:
        try:
            statuses[delivery_id] = outcomes.write(outcomes.Outcome(
                delivery_id, endpoint_id=1, is_test=False, lease_until=lease, values={"status": "pending"}))
        except RuntimeError as error:
            errors[delivery_id] = str(error)

    threads = [threading.Thread(target=sender, args=(delivery_id,)) for delivery_id in range(10, 20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == {13: "row 13 is bad"}
    assert statuses == {delivery_id: "pending" for delivery_id in range(10, 20) if delivery_id != 13}
