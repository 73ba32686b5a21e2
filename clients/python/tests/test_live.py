"""The client against a real modelwatch: what it sends is what modelwatch counts, through outages,
load shedding, a bad token, oversized batches and concurrent callers."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

from conftest import INGEST_TOKEN, MODEL, Server
from modelwatch import Monitor


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def column(server: Server, name: str) -> dict[str, Any]:
    """The drift report's entry for one column of the window `all`."""
    window = server.status()["drift"]["windows"][0]
    return next(c for c in window["columns"] if c["name"] == name)


def test_events_arrive_with_their_features_scores_and_labels(server: Server) -> None:
    mw = Monitor(server.url, model=MODEL, feature_names=["amount", "age"], batch_size=7)
    rows = [(float(i), float(i % 50)) for i in range(100)]
    for i, (amount, age) in enumerate(rows):
        # Every supported shape of features, in turn.
        shape = i % 5
        features: Any
        if shape == 0:
            features = {"amount": amount, "age": age}
        elif shape == 1:
            features = np.array([amount, age])
        elif shape == 2:
            features = pd.DataFrame({"amount": [amount], "age": [age]}).iloc[0]
        elif shape == 3:
            features = {"amount": np.float32(amount), "age": np.int64(age)}
        else:
            features = [amount, age]
        mw.log_prediction(id=f"r{i}", features=features, score=np.float64(i / 100), latency_ms=2.5)
        if i % 2 == 0:
            mw.log_label(id=f"r{i}", label=np.int64(i % 3 == 0))
    assert mw.flush(timeout=20)
    stats = mw.stats()
    mw.close()

    assert stats.logged == 150
    assert stats.accepted == 150
    assert stats.rejected == {} and stats.dropped == {} and stats.labels_unmatched == 0
    counters = server.status()["counters"]
    assert counters["predictions_total"] == 100
    assert counters["labels_total"] == 50
    assert counters["rejected_events_total"] == {}
    assert server.metric("modelwatch_prediction_latency_seconds_count", model=MODEL) == 100
    # The features arrived as numbers, whatever their shape: the data-quality means match.
    amount = wait_for("drift evaluation", lambda: (c := column(server, "amount"))["current_values"] == 100 and c)
    assert amount["quality"]["missing_ratio"] == 0
    assert amount["quality"]["mean"] == pytest.approx(np.mean([r[0] for r in rows]))
    assert column(server, "age")["quality"]["mean"] == pytest.approx(np.mean([r[1] for r in rows]))


def test_nan_features_arrive_as_missing_and_bad_events_are_counted_by_code(server: Server) -> None:
    mw = Monitor(server.url, model=MODEL, feature_names=["amount", "age"])
    mw.log_prediction(id="a", features=np.array([np.nan, 1.0]), score=0.5)
    mw.log_prediction(id="b", features={"amount": float("inf"), "age": 2.0}, score=0.5)
    mw.log_prediction(id="c", features={"amount": 1.0}, score=1.5)  # invalid_score
    mw.log_prediction(id="c2", features={"amount": 1.0}, prediction="maybe")  # unknown_class
    mw.log_prediction(id="d", features=[1.0], score=0.5)  # feature_count_mismatch (client side)
    mw.log_prediction(id="e", features=object(), score=0.5)  # invalid_features (client side)
    mw.log_prediction(id="a", features={"amount": 1.0}, score=0.5)  # duplicate_id
    mw.log_label(id="nobody", label=1)
    assert mw.flush(timeout=20)
    stats = mw.stats()
    mw.close()

    assert stats.logged == 8
    assert stats.accepted == 3  # a, b and the unmatched label
    assert stats.rejected == {
        "invalid_score": 1,
        "unknown_class": 1,
        "feature_count_mismatch": 1,
        "invalid_features": 1,
        "duplicate_id": 1,
    }
    assert stats.labels_unmatched == 1
    assert server.status()["counters"]["rejected_events_total"] == {
        "invalid_score": 1,
        "unknown_class": 1,
        "duplicate_id": 1,
    }
    # Two predictions arrived, both with amount missing (NaN and infinity are sent as null).
    amount = wait_for(
        "drift evaluation", lambda: (c := column(server, "amount"))["quality"]["missing_ratio"] is not None and c
    )
    assert amount["quality"]["missing_ratio"] == 1.0
    assert amount["current_values"] == 0
    assert column(server, "age")["current_values"] == 2


def test_nothing_is_lost_while_modelwatch_is_down_within_the_queue_bound(
    make_server: Callable[..., Server],
) -> None:
    server = make_server()  # not started yet: the port refuses connections
    mw = Monitor(server.url, model=MODEL, batch_size=100, max_queue=5000, flush_interval=0.05,
                 backoff_max=0.5)
    for i in range(3000):
        mw.log_prediction(id=i, features={"amount": float(i)}, score=0.25)
        if i % 3 == 0:
            mw.log_label(id=i, label=0)
    wait_for("retries", lambda: mw.stats().retries >= 3)
    assert not mw.flush(timeout=0.2)  # still down: flush gives up, nothing is raised
    down = mw.stats()
    assert down.accepted == 0 and down.queued == 4000 and down.responses.get(0, 0) >= 3

    server.start()
    assert mw.flush(timeout=30)
    stats = mw.stats()
    mw.close()
    assert stats.accepted == 4000 and stats.dropped == {} and stats.rejected == {}
    counters = server.status()["counters"]
    assert counters["predictions_total"] == 3000
    assert counters["labels_total"] == 1000
    assert counters["labels_unmatched_total"] == 0
    assert server.metric("modelwatch_predictions_total", model=MODEL) == 3000


def test_a_full_queue_drops_the_oldest_events_and_counts_them(
    make_server: Callable[..., Server],
) -> None:
    server = make_server()
    mw = Monitor(server.url, model=MODEL, batch_size=10, max_queue=100, flush_interval=0.05,
                 backoff_max=0.2)
    for i in range(250):
        mw.log_prediction(id=i, score=0.5)
    down = mw.stats()
    # At most one batch (the oldest, 10 events) is in flight outside the queue's bound.
    assert 100 <= down.queued <= 110
    assert down.dropped["queue_full"] == 250 - down.queued

    server.start()
    assert mw.flush(timeout=30)
    stats = mw.stats()
    assert stats.accepted == down.queued
    assert server.status()["counters"]["predictions_total"] == down.queued
    # The newest 100 all arrived; the ones after the first batch and before them did not.
    for start in range(10, 250, 60):  # in chunks that fit the queue
        for i in range(start, start + 60):
            mw.log_label(id=i, label=1)
        assert mw.flush(timeout=20)
    mw.close()
    assert mw.stats().labels_unmatched == 140
    assert server.status()["counters"]["labels_total"] == 100


def test_503_is_retried_after_retry_after_and_nothing_is_lost(
    make_server: Callable[..., Server],
) -> None:
    # The server holds at most max_concurrency x max_body_bytes = 1024 bytes of request bodies at once,
    # including bodies still arriving. A request that has sent 1000 of its 1020 bytes and stalls holds
    # 1000 of them, so every other body finds the budget spent and is answered 503 until it goes.
    server = make_server(
        max_concurrency=1, max_body_bytes=1024, request_timeout='"30s"', body_read_timeout='"30s"'
    ).start()
    hog = socket.create_connection(("127.0.0.1", server.port))
    hog.sendall(
        f"POST /v1/models/{MODEL}/predictions HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/x-ndjson\r\nContent-Length: 1020\r\n\r\n".encode()
        + b" " * 1000
    )
    try:
        mw = Monitor(server.url, model=MODEL, batch_size=10, flush_interval=0.05)
        for i in range(200):
            mw.log_prediction(id=i, score=0.75)
        wait_for("a 503", lambda: mw.stats().responses.get(503, 0) >= 1)
        started = time.monotonic()
        wait_for("a second 503", lambda: mw.stats().responses.get(503, 0) >= 2)
        # The server says Retry-After: 1; the backoff alone would have retried after 0.1 s at most.
        assert time.monotonic() - started >= 0.8
        assert mw.stats().accepted == 0
    finally:
        hog.close()
    assert mw.flush(timeout=30)
    stats = mw.stats()
    mw.close()
    assert stats.accepted == 200 and stats.rejected == {} and stats.dropped == {}
    assert stats.retries == stats.responses[503]
    assert server.status()["counters"]["predictions_total"] == 200


def test_a_bad_token_is_counted_never_raised(make_server: Callable[..., Server]) -> None:
    server = make_server(token=INGEST_TOKEN).start()
    bad = Monitor(server.url, model=MODEL, token="not-the-token-at-all", batch_size=10)
    for i in range(30):
        bad.log_prediction(id=i, score=0.5)
    bad.log_label(id=0, label=1)
    assert bad.flush(timeout=20)
    stats = bad.stats()
    bad.close()
    assert stats.accepted == 0
    assert stats.rejected == {"unauthorized": 31}
    assert stats.responses == {401: 4}  # three prediction batches and one of labels
    assert server.status()["counters"]["predictions_total"] == 0
    assert server.metric("modelwatch_http_request_duration_seconds_count", status="401") == 4

    good = Monitor(server.url, model=MODEL, token=INGEST_TOKEN)
    good.log_prediction(id="ok", score=0.5)
    assert good.flush(timeout=20)
    good.close()
    assert good.stats().accepted == 1
    assert server.status()["counters"]["predictions_total"] == 1


def test_an_oversized_batch_is_split_until_it_fits(make_server: Callable[..., Server]) -> None:
    server = make_server(max_events_per_request=8).start()
    mw = Monitor(server.url, model=MODEL, batch_size=100, flush_interval=0.05)
    for i in range(100):
        mw.log_prediction(id=i, score=0.5)
    assert mw.flush(timeout=20)
    stats = mw.stats()
    mw.close()
    assert stats.accepted == 100 and stats.rejected == {}
    assert stats.responses[413] >= 1
    assert server.status()["counters"]["predictions_total"] == 100


def test_eight_threads_log_concurrently_and_every_event_arrives_once(server: Server) -> None:
    mw = Monitor(server.url, model=MODEL, batch_size=500, flush_interval=0.05)
    per_thread = 2000

    def work(t: int) -> None:
        for i in range(per_thread):
            mw.log_prediction(id=f"t{t}-{i}", features={"amount": float(i)}, score=0.5)
            mw.log_label(id=f"t{t}-{i}", label=1)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mw.flush(timeout=60)
    stats = mw.stats()
    mw.close()
    total = 8 * per_thread
    assert stats.logged == 2 * total and stats.accepted == 2 * total
    assert stats.rejected == {} and stats.dropped == {} and stats.labels_unmatched == 0
    counters = server.status()["counters"]
    # A prediction sent twice would be rejected as duplicate_id, a label sent twice unmatched.
    assert counters["predictions_total"] == total
    assert counters["labels_total"] == total
    assert counters["labels_unmatched_total"] == 0
    assert counters["rejected_events_total"] == {}
