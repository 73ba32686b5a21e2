"""`Monitor`: log predictions and labels from a model server without ever slowing or failing it.

The caller's thread only copies the features and appends a tuple to a bounded deque, under a lock held
for a few hundred nanoseconds. One background thread does everything else: it takes batches from the
queue, encodes them as NDJSON, POSTs them, retries with backoff while modelwatch is down or shedding
load, and keeps the counters. When the queue is full the oldest event is dropped and counted. Nothing
raises into the caller.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from ._encode import FeatureError, encode_event, name_features, snapshot_features
from ._stats import Counters, Stats
from ._transport import RETRY_ALWAYS, RETRY_FEW, Answer, Transport

log = logging.getLogger("modelwatch")

_PREDICTION = 0
_LABEL = 1
# Attempts for statuses that may repeat for the same body (408, 500) before its events are counted
# as rejected.
_FEW_ATTEMPTS = 3
# Warnings about drops, rejections and an unreachable server are logged at most this often (seconds).
_LOG_EVERY = 60.0


class Monitor:
    """Sends a model's predictions and labels to modelwatch in the background.

    `log_prediction` and `log_label` return at once: the event goes to a bounded in-memory queue (at
    most `max_queue` events; the oldest are dropped, and counted, when it is full), and a background
    thread sends it in NDJSON batches of at most `batch_size` events, at least every
    `flush_interval` seconds. While modelwatch is unreachable or answers 503, the thread retries with
    exponential backoff from `backoff_initial` to `backoff_max` seconds, or after the server's
    Retry-After. Nothing is raised into the caller; `stats()` says what happened to every event.

    Positional features (a list, a tuple, a numpy array) are named by `feature_names`, in order.
    """

    def __init__(
        self,
        url: str,
        model: str,
        token: str | None = None,
        *,
        feature_names: Sequence[str] | None = None,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue: int = 100_000,
        timeout: float = 10.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 30.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if flush_interval <= 0 or timeout <= 0 or backoff_initial <= 0 or backoff_max <= 0:
            raise ValueError("flush_interval, timeout and the backoffs must be positive")
        self.model = model
        self._transport = Transport(url, token, timeout)
        self._timeout = timeout
        self._paths = (
            self._transport.path(model, "predictions"),
            self._transport.path(model, "labels"),
        )
        self._names = list(feature_names) if feature_names is not None else None
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_queue = max_queue
        self._backoff = (backoff_initial, backoff_max)
        self._start()
        # After a fork (gunicorn --preload, multiprocessing) the child has a copy of the queue but no
        # thread: it starts afresh, empty, so that the parent's events are not sent twice.
        if hasattr(os, "register_at_fork"):  # POSIX only
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _restart_in_child(ref))

    def _start(self) -> None:
        self._lock = threading.Lock()
        # Signalled (with `_lock` held) when the queue is empty and no batch is in flight.
        self._idle = threading.Condition(self._lock)
        self._queue: deque[tuple[Any, ...]] = deque()
        self._in_flight = 0
        self._counters = Counters()
        self._wake = threading.Event()
        self._stop = threading.Event()  # close() was called: send what is queued, then stop
        self._abort = threading.Event()  # close() gave up waiting: stop retrying now
        self._closed = False
        self._logged_at: dict[str, float] = {}
        self._logged_drops = 0
        self._thread = threading.Thread(target=self._run, name="modelwatch-sender", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------------ the caller's side

    def log_prediction(
        self,
        id: str | int | None = None,
        features: Any = None,
        score: float | None = None,
        prediction: Any = None,
        *,
        scores: dict[str, float] | None = None,
        label: Any = None,
        latency_ms: float | None = None,
        error: bool | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Queue one prediction event and return at once. Never raises.

        `features`: a dict (or mapping) of name to value, a list/tuple/numpy array of values in
        `feature_names` order, a pandas Series (a DataFrame row) or a one-row DataFrame. numpy
        scalars are accepted anywhere. NaN and infinities are sent as missing (null).
        `timestamp` (Unix seconds) defaults to now, so that events delayed by an outage still fall
        in the right time windows.
        """
        try:
            if features is not None:
                features = (
                    features.copy() if type(features) is dict else snapshot_features(features)
                )
            item = (
                _PREDICTION,
                id,
                features,
                score,
                prediction,
                scores,
                label,
                latency_ms,
                error,
                time.time() if timestamp is None else timestamp,
            )
        except FeatureError as e:
            self._reject_locally(e.code)
            return
        except Exception:  # a features object whose copy fails: never the caller's problem
            self._reject_locally("invalid_features")
            return
        self._put(item)

    def log_label(self, id: str | int, label: Any, *, timestamp: float | None = None) -> None:
        """Queue the ground truth of an earlier prediction, joined by `id`. Never raises."""
        item = (_LABEL, id, label, time.time() if timestamp is None else timestamp)
        self._put(item)

    def _put(self, item: tuple[Any, ...]) -> None:
        with self._lock:
            counters = self._counters
            counters.logged += 1
            if self._closed:
                counters.dropped["closed"] += 1
                return
            queue = self._queue
            if len(queue) >= self._max_queue:
                queue.popleft()
                counters.dropped["queue_full"] += 1
            queue.append(item)
            size = len(queue)
        if size == self._batch_size:
            self._wake.set()

    def _reject_locally(self, code: str) -> None:
        with self._lock:
            self._counters.logged += 1
            self._counters.rejected[code] += 1

    def stats(self) -> Stats:
        """A snapshot of the counters: what happened to every event logged so far."""
        with self._lock:
            return self._counters.snapshot(len(self._queue) + self._in_flight)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Send everything queued now. Returns True once the queue is empty and nothing is in flight
        (every event accepted, rejected or dropped), False if `timeout` seconds passed first (e.g.
        modelwatch is down). Never raises."""
        with self._idle:
            self._wake.set()
            return self._idle.wait_for(
                lambda: not self._queue and not self._in_flight, timeout=timeout
            )

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (for at most `timeout` seconds), then stop the background thread.
        Events still queued then are counted as dropped (`closed`). Idempotent; never raises."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abort.set()
            # A request in flight when close() gives up ends at the latest after the timeout.
            self._thread.join(self._timeout + 1.0)
        self._transport.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------------ the background thread

    def _run(self) -> None:
        try:
            while True:
                stopping = self._stop.is_set()
                if not stopping and len(self._queue) < self._batch_size:
                    self._wake.wait(self._flush_interval)
                    self._wake.clear()
                while not self._abort.is_set():
                    with self._lock:
                        batch = [
                            self._queue.popleft()
                            for _ in range(min(self._batch_size, len(self._queue)))
                        ]
                        self._in_flight = len(batch)
                    if not batch:
                        break
                    self._deliver(batch)
                    with self._lock:
                        self._in_flight = 0
                        if not self._queue:
                            self._idle.notify_all()
                self._log_drops()
                if stopping or self._abort.is_set():
                    break
        except Exception:  # a bug here must not go unnoticed, but must not reach the caller either
            log.exception("modelwatch: the sender thread failed; events are no longer sent")
        finally:
            with self._lock:
                left = len(self._queue) + self._in_flight
                self._queue.clear()
                self._in_flight = 0
                if left:
                    self._counters.dropped["closed"] += left
                self._idle.notify_all()
            if left:
                log.warning("modelwatch: %d events were still queued at close and are dropped", left)

    def _deliver(self, batch: list[tuple[Any, ...]]) -> None:
        """Encodes a batch and sends its predictions, then its labels (a label may join a
        prediction of the same batch)."""
        lines: tuple[list[bytes], list[bytes]] = ([], [])
        local: dict[str, int] = {}
        for item in batch:
            try:
                if item[0] == _PREDICTION:
                    lines[0].append(encode_event(self._prediction_event(item)))
                else:
                    _, id, label, ts = item
                    lines[1].append(encode_event({"id": id, "label": label, "timestamp": ts}))
            except FeatureError as e:
                local[e.code] = local.get(e.code, 0) + 1
            except Exception:  # whatever a caller's object raises when read, it costs only its event
                local["unserializable"] = local.get("unserializable", 0) + 1
        if local:
            with self._lock:
                self._counters.rejected.update(local)
                self._in_flight -= sum(local.values())
            self._warn("local", "modelwatch: events refused before sending: %s", local)
        for kind in (_PREDICTION, _LABEL):
            if lines[kind]:
                self._send(self._paths[kind], lines[kind])

    def _prediction_event(self, item: tuple[Any, ...]) -> dict[str, Any]:
        _, id, features, score, prediction, scores, label, latency_ms, error, ts = item
        event: dict[str, Any] = {"timestamp": ts}
        if id is not None:
            event["id"] = id
        if features is not None:
            event["features"] = name_features(features, self._names)
        if score is not None:
            event["score"] = score
        if prediction is not None:
            event["prediction"] = prediction
        if scores is not None:
            event["scores"] = scores
        if label is not None:
            event["label"] = label
        if latency_ms is not None:
            event["latency_ms"] = latency_ms
        if error is not None:
            event["error"] = error
        return event

    def _send(self, path: str, lines: list[bytes]) -> None:
        """POSTs the lines as one NDJSON body until modelwatch answers for them, retrying what can be
        retried, and counts the outcome of every line."""
        body = b"\n".join(lines)
        attempt = 0
        few = 0
        while True:
            answer = self._transport.post(path, body)
            status = answer.status
            with self._lock:
                self._counters.responses[status] += 1
            if status == 200:
                self._count_report(answer, len(lines))
                return
            if status == 413 and len(lines) > 1:
                # Too big for this server's limits: send it in halves.
                half = len(lines) // 2
                self._send(path, lines[:half])
                self._send(path, lines[half:])
                return
            retry = status in RETRY_ALWAYS or (status in RETRY_FEW and few < _FEW_ATTEMPTS - 1)
            if not retry:
                self._count_failure(answer, len(lines))
                return
            if status in RETRY_FEW:
                few += 1
            if self._abort.is_set():
                self._count_dropped_in_flight(len(lines))
                return
            delay = min(self._backoff[1], self._backoff[0] * 2 ** min(attempt, 30))
            delay *= random.uniform(0.5, 1.0)  # jitter, so that many clients do not retry in step
            if answer.retry_after is not None:
                delay = max(delay, min(answer.retry_after, 300.0))
            attempt += 1
            with self._lock:
                self._counters.retries += 1
            self._warn(
                "retry",
                "modelwatch: %s answered %s; retrying (events are queued meanwhile)",
                path,
                answer.detail,
            )
            self._log_drops()
            if self._abort.wait(delay):
                self._count_dropped_in_flight(len(lines))
                return

    def _count_report(self, answer: Answer, sent: int) -> None:
        body = answer.body if isinstance(answer.body, dict) else {}
        accepted = body.get("accepted")
        rejected = body.get("rejected")
        errors = body.get("errors") or []
        with self._lock:
            c = self._counters
            if not isinstance(accepted, int) or not isinstance(rejected, int):
                # Not modelwatch's answer: the events went somewhere, but nobody says they arrived.
                c.rejected["unexpected_answer"] += sent
            else:
                c.accepted += accepted
                listed = 0
                for error in errors:
                    if isinstance(error, dict):
                        c.rejected[str(error.get("code", "unknown"))] += 1
                        listed += 1
                if rejected > listed:
                    c.rejected["unlisted"] += rejected - listed  # beyond the server's error list
                unmatched = body.get("unmatched")
                if isinstance(unmatched, int):
                    c.labels_unmatched += unmatched
            self._in_flight -= sent
        if errors:
            first = errors[0] if isinstance(errors[0], dict) else {}
            self._warn(
                "rejected",
                "modelwatch: %s of %d events rejected (first: %s: %s)",
                rejected,
                sent,
                first.get("code"),
                first.get("message"),
            )

    def _count_failure(self, answer: Answer, sent: int) -> None:
        code = answer.error_code()
        with self._lock:
            self._counters.rejected[code] += sent
            self._in_flight -= sent
        self._warn("failure", "modelwatch: a batch of %d events was refused: %s (%s)", sent,
                   code, answer.detail)

    def _count_dropped_in_flight(self, sent: int) -> None:
        with self._lock:
            self._counters.dropped["closed"] += sent
            self._in_flight -= sent

    def _log_drops(self) -> None:
        with self._lock:
            dropped = self._counters.dropped["queue_full"]
        if dropped > self._logged_drops and self._warn(
            "dropped",
            "modelwatch: the queue is full (%d events); %d oldest events dropped so far",
            self._max_queue,
            dropped,
        ):
            self._logged_drops = dropped

    def _warn(self, key: str, message: str, *args: Any) -> bool:
        """Logs a warning unless one with the same key was logged in the last minute."""
        now = time.monotonic()
        last = self._logged_at.get(key)
        if last is not None and now - last < _LOG_EVERY:
            return False
        self._logged_at[key] = now
        log.warning(message, *args)
        return True


def _restart_in_child(ref: weakref.ReferenceType[Monitor]) -> None:
    monitor = ref()
    if monitor is not None and not monitor._closed:
        monitor._transport.close()
        monitor._start()
