"""The client without modelwatch: feature shapes, encoding, Retry-After, and what happens against a
fake server that misbehaves (500s, answers that are not modelwatch's) or against nothing at all."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelwatch import Monitor
from modelwatch._encode import FeatureError, encode_event, name_features, snapshot_features
from modelwatch._transport import parse_retry_after


def test_features_of_every_supported_shape_become_a_named_object() -> None:
    names = ["a", "b"]
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [np.nan, 4.0]})
    cases: list[Any] = [
        {"a": 1.0, "b": 2},
        [1.0, 2],
        (1.0, 2),
        np.array([1.0, 2.0]),
        np.array([[1.0, 2.0]]),
        pd.Series({"a": 1.0, "b": 2.0}),
        frame.iloc[0],
        frame.iloc[[1]],
    ]
    encoded = [json.loads(encode_event({"features": name_features(snapshot_features(c), names)})) for c in cases]
    assert encoded[:6] == [{"features": {"a": 1.0, "b": 2}}] * 3 + [{"features": {"a": 1.0, "b": 2.0}}] * 3
    assert encoded[6] == {"features": {"a": 1.0, "b": None}}  # NaN is missing
    assert encoded[7] == {"features": {"a": 2.0, "b": 4.0}}


def test_a_snapshot_does_not_follow_later_changes_by_the_caller() -> None:
    features = {"a": 1.0}
    array = np.array([1.0, 2.0])
    row = pd.Series({"a": 1.0, "b": 2.0})
    snap_dict, snap_array, snap_row = (snapshot_features(f) for f in (features, array, row))
    features["a"] = 99.0
    array[0] = 99.0
    row["a"] = 99.0
    row.index = pd.Index(["x", "y"])
    assert snap_dict == {"a": 1.0} and snap_array == [1.0, 2.0]
    assert name_features(snap_row, None) == {"a": 1.0, "b": 2.0}


@pytest.mark.parametrize(
    ("features", "names", "code"),
    [
        (np.zeros((2, 2)), ["a", "b"], "invalid_features"),
        (pd.DataFrame({"a": [1, 2]}), None, "invalid_features"),
        (object(), None, "invalid_features"),
        ([1.0, 2.0], None, "unnamed_features"),
        ([1.0], ["a", "b"], "feature_count_mismatch"),
    ],
)
def test_features_that_cannot_be_named_are_refused_with_a_code(features: Any, names: Any, code: str) -> None:
    with pytest.raises(FeatureError) as e:
        name_features(snapshot_features(features), names)
    assert e.value.code == code


def test_numpy_scalars_and_non_finite_values_encode_as_plain_json() -> None:
    event = {
        "id": np.int64(7),
        "score": np.float32(0.5),
        "label": np.bool_(True),
        "features": {"a": np.float64("nan"), "b": float("-inf"), "c": np.int32(3), "d": pd.NA},
        "latency_ms": np.array(2.5),
    }
    assert json.loads(encode_event(event)) == {
        "id": 7,
        "score": 0.5,
        "label": True,
        "features": {"a": None, "b": None, "c": 3, "d": None},
        "latency_ms": 2.5,
    }


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    assert parse_retry_after("1") == 1.0
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now=1767225600.0) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:00 GMT", now=1767225600.0 + 5) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


class FakeServer:
    """A loopback HTTP server that answers POSTs from a script of (status, headers, body) and records
    every request body."""

    def __init__(self, script: list[tuple[int, dict[str, str], Any]]) -> None:
        self.script = script
        self.bodies: list[bytes] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fake.bodies.append(body)
                status, headers, answer = fake.script[min(len(fake.bodies), len(fake.script)) - 1]
                if callable(answer):
                    answer = answer(body)
                raw = json.dumps(answer).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake() -> Iterator[Any]:
    servers: list[FakeServer] = []

    def make(script: list[tuple[int, dict[str, str], Any]]) -> FakeServer:
        servers.append(FakeServer(script))
        return servers[-1]

    yield make
    for s in servers:
        s.stop()


def accept_all(body: bytes) -> dict[str, Any]:
    return {"accepted": len(body.splitlines()), "rejected": 0, "errors": []}


def test_a_500_is_retried_a_few_times_then_its_events_are_counted_as_rejected(fake: Any) -> None:
    server = fake([(500, {}, {"error": {"code": "internal", "message": "boom"}})] * 3 + [(200, {}, accept_all)])
    mw = Monitor(server.url, model="m", backoff_initial=0.01, backoff_max=0.02)
    for i in range(5):
        mw.log_prediction(id=i, score=0.5)
    assert mw.flush(timeout=10)
    stats = mw.stats()
    mw.close()
    assert len(server.bodies) == 3 and stats.retries == 2
    assert stats.rejected == {"internal": 5} and stats.accepted == 0


def test_a_503_with_an_http_date_retry_after_is_retried_and_the_batch_is_sent_once(fake: Any) -> None:
    server = fake([(503, {"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, {"error": {"code": "overloaded"}})] * 2
                  + [(200, {}, accept_all)])
    mw = Monitor(server.url, model="m", backoff_initial=0.01, backoff_max=0.02)
    for i in range(5):
        mw.log_prediction(id=i, score=0.5)
    assert mw.flush(timeout=10)
    mw.close()
    assert mw.stats().accepted == 5 and mw.stats().retries == 2
    assert server.bodies[0] == server.bodies[2]
    assert [json.loads(line)["id"] for line in server.bodies[2].splitlines()] == [0, 1, 2, 3, 4]


def test_an_answer_that_is_not_modelwatchs_is_counted(fake: Any) -> None:
    server = fake([(200, {}, {"hello": "world"})])
    mw = Monitor(server.url, model="m")
    mw.log_prediction(id=1, score=0.5)
    assert mw.flush(timeout=10)
    mw.close()
    assert mw.stats().rejected == {"unexpected_answer": 1}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_a_forked_child_starts_with_an_empty_queue_and_its_own_sender(fake: Any) -> None:
    server = fake([(200, {}, accept_all)])
    mw = Monitor(server.url, model="m", batch_size=1000, flush_interval=60)
    for i in range(3):
        mw.log_prediction(id=f"parent-{i}", score=0.5)
    pid = os.fork()
    if pid == 0:  # the child: its copy of the parent's queue must not be sent
        mw.log_prediction(id="child", score=0.5)
        ok = mw.flush(timeout=10) and mw.stats().accepted == 1 and mw.stats().logged == 1
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert mw.flush(timeout=10)
    mw.close()
    ids = sorted(json.loads(line)["id"] for body in server.bodies for line in body.splitlines())
    assert ids == ["child", "parent-0", "parent-1", "parent-2"]
    assert mw.stats().accepted == 3


def test_close_while_modelwatch_is_down_drops_and_counts_what_is_left() -> None:
    # Port 9 (discard) on loopback: nothing listens, connections are refused.
    mw = Monitor("http://127.0.0.1:9", model="m", backoff_initial=0.05, backoff_max=0.05)
    for i in range(50):
        mw.log_prediction(id=i, score=0.5)
    mw.close(timeout=0.3)
    mw.log_prediction(id=51, score=0.5)  # after close: counted, not raised
    stats = mw.stats()
    assert stats.logged == 51 and stats.queued == 0 and stats.accepted == 0
    assert stats.dropped == {"closed": 51}


def test_drops_are_logged_at_most_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    mw = Monitor("http://127.0.0.1:9", model="m", max_queue=10, backoff_initial=0.01, backoff_max=0.02)
    drops = lambda: [r for r in caplog.records if "oldest events dropped" in r.getMessage()]  # noqa: E731
    for i in range(100):
        mw.log_prediction(id=i, score=0.5)
    deadline = time.monotonic() + 10
    while not drops() and time.monotonic() < deadline:
        time.sleep(0.01)
    for i in range(100):
        mw.log_prediction(id=i, score=0.5)
    retries = mw.stats().retries
    while mw.stats().retries < retries + 20 and time.monotonic() < deadline:
        time.sleep(0.01)  # the sender goes round its retry loop, where it logs drops, 20 more times
    mw.close(timeout=0.1)
    assert mw.stats().dropped["queue_full"] >= 180
    assert len(drops()) == 1


class Unreadable:
    """A value whose conversion to JSON raises something other than TypeError."""

    def item(self) -> None:
        raise RuntimeError("no")


def test_nothing_the_caller_passes_raises() -> None:
    class Exploding:
        def copy(self) -> None:
            raise RuntimeError("no")

        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("no")

    mw = Monitor("http://127.0.0.1:9", model="m")
    mw.log_prediction(id={"not": "an id"}, features=Exploding(), score="x")  # type: ignore[arg-type]
    mw.log_prediction(id=object(), features={"a": object()}, score=0.5)  # type: ignore[arg-type]
    mw.log_label(id=object(), label=object())  # type: ignore[arg-type]
    mw.log_prediction(id=1, features={"a": Unreadable()}, score=0.5)
    mw.close(timeout=2)
    stats = mw.stats()
    assert stats.logged == 4
    assert stats.rejected == {"invalid_features": 1, "unserializable": 3}


def test_a_bad_url_is_refused_at_construction() -> None:
    with pytest.raises(ValueError):
        Monitor("127.0.0.1:8090", model="m")
