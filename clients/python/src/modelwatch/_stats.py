"""The counters a `Monitor` keeps, and the snapshot of them that `Monitor.stats()` returns."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Stats:
    """What happened to the events logged so far. Every logged event ends up in exactly one of
    `accepted`, `rejected` or `dropped`, or is still `queued`."""

    logged: int
    """Events passed to `log_prediction` and `log_label`."""
    queued: int
    """Events waiting in the queue or being sent."""
    accepted: int
    """Events modelwatch accepted."""
    rejected: dict[str, int] = field(default_factory=dict)
    """Events refused, by code: modelwatch's per-event codes (`invalid_score`, `duplicate_id`, ...),
    whole-request codes applied to every event of the request (`unauthorized`, `unknown_model`,
    `body_too_large`, ...), and the client's own (`invalid_features`, `unnamed_features`,
    `feature_count_mismatch`, `unserializable`)."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Events never sent: `queue_full` (the oldest, when the queue was full) and `closed` (still
    queued when `close` gave up)."""
    retries: int = 0
    """Requests that failed and were tried again (modelwatch down, 503, ...)."""
    responses: dict[int, int] = field(default_factory=dict)
    """HTTP answers by status code; `0` counts requests that got no answer (connection refused,
    reset, timeout)."""
    labels_unmatched: int = 0
    """Labels modelwatch accepted but could not join to a pending prediction."""

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class Counters:
    """The mutable counters behind `Stats`; the `Monitor`'s lock guards them."""

    def __init__(self) -> None:
        self.logged = 0
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.retries = 0
        self.responses: Counter[int] = Counter()
        self.labels_unmatched = 0

    def snapshot(self, queued: int) -> Stats:
        return Stats(
            logged=self.logged,
            queued=queued,
            accepted=self.accepted,
            rejected=dict(self.rejected),
            dropped=dict(self.dropped),
            retries=self.retries,
            responses=dict(self.responses),
            labels_unmatched=self.labels_unmatched,
        )
