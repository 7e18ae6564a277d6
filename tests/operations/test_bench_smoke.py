"""The benchmark (`make bench`) is run by hand, so this keeps its parts from rotting: the
loopback receiver, the bulk data generator and the sweep measurement, at tiny sizes."""
import json
import urllib.error
import urllib.request

from bench import database, processes, scale, server_runs
from bench.report import Cell, Row, table


def test_receiver_counts_posts_and_records_latency_arrivals(tmp_path):
    receiver, port = processes.start_receiver(tmp_path)
    try:
        body = json.dumps({"data": {"run": {"external_id": "lat-7"}}}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/latency/3", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        stats = server_runs.receiver_get(port, "/stats")
        assert stats["posts"] == 1 and stats["buckets"]["latency"]["count"] == 1
        assert set(server_runs.receiver_get(port, "/latency")) == {"lat-7"}
    finally:
        processes.stop(receiver)


def test_sweep_measurement_times_out_exactly_the_due_runs(tmp_path):
    with database.backend("SQLite", tmp_path) as backend:
        secret_key = database.new_secret_key()
        processes.migrate(processes.server_env(backend.url, secret_key, processes.free_port()), tmp_path)
        app = database.make_app(backend, secret_key)
        seed = database.seed(app, receiver_port=9, latency_jobs=1, throughput_endpoints=2)
        database.seed_bulk_owners(app, seed, receiver_port=9)
        sweep = scale.deadline_sweep(app, seed, total=2_000, due=10, repeats=1)
        assert (sweep.runs, sweep.timed_out) == (2_000, 10)


def test_percentile_and_table_render():
    assert server_runs.percentile(list(range(1, 101)), 0.99) == 99
    row = Row("Sweep", "< 50 ms", {"SQLite": Cell("3 ms", True)})
    assert "3 ms  pass" in table([row], ["SQLite"])


def test_receiver_fails_each_first_retry_attempt_and_records_the_retry_and_deadline_arrivals(tmp_path):
    receiver, port = processes.start_receiver(tmp_path)
    try:
        def post(path: str, body: dict, webhook_id: str) -> int:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                             method="POST", headers={"webhook-id": webhook_id})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                return error.code

        assert [post("/retry/1", {}, "msg_a"), post("/retry/1", {}, "msg_a")] == [500, 200]
        assert post("/deadline/0", {"data": {"run": {"external_id": "dl-1"}}}, "msg_b") == 200
        assert set(server_runs.receiver_get(port, "/arrivals/retry")) == {"msg_a"}
        assert set(server_runs.receiver_get(port, "/arrivals/deadline")) == {"dl-1"}
    finally:
        processes.stop(receiver)
