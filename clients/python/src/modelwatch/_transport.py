"""One HTTP exchange with modelwatch, with the standard library only, and what its answer means.

The connection is kept alive between requests and reopened after any failure. `post` never raises: a
refused connection, a reset or a timeout is an answer with status 0, which the caller retries.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from . import __version__

# Statuses after which the same request may well succeed: modelwatch is restarting, overloaded
# (503 with Retry-After), or a proxy in front of it is. These are retried without limit; the
# queue's bound is what limits the memory used meanwhile.
RETRY_ALWAYS = frozenset({0, 429, 502, 503, 504})
# Statuses that may be transient but may also repeat for this very body: retried a few times only.
RETRY_FEW = frozenset({408, 500})


@dataclass
class Answer:
    status: int
    """The HTTP status, or 0 when no answer came."""
    body: Any
    """The parsed JSON body, or None."""
    retry_after: float | None
    """Seconds from the Retry-After header, when there is one."""
    detail: str
    """A short description for the log."""
    closed_before_answer: bool = False
    """The connection was found closed or reset: the server did not process the request."""

    def error_code(self) -> str:
        """The `error.code` of a whole-request failure, or `http_<status>` when the body has none."""
        if isinstance(self.body, dict):
            error = self.body.get("error")
            if isinstance(error, dict) and isinstance(error.get("code"), str):
                return str(error["code"])
        return f"http_{self.status}" if self.status else "unreachable"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delay-seconds or an HTTP date (RFC 9110, section 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(int(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Transport:
    """POSTs NDJSON bodies to one modelwatch, over one kept-alive connection."""

    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the modelwatch URL must be http:// or https://host[:port], not {url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._headers = {
            "Content-Type": "application/x-ndjson",
            "User-Agent": f"modelwatch-client-python/{__version__}",
        }
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None

    def path(self, model: str, kind: str) -> str:
        return f"{self._prefix}/v1/models/{urllib.parse.quote(model, safe='')}/{kind}"

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, path: str, body: bytes) -> Answer:
        # A kept-alive connection may have been closed by the server since the last request (it may
        # close after answering 401 or 503 without reading the body, or after its idle timeout):
        # such a failure says nothing about modelwatch, so it is tried once more on a new connection.
        reused = self._conn is not None
        answer = self._exchange(path, body)
        if answer.closed_before_answer and reused:
            answer = self._exchange(path, body)
        return answer

    def _exchange(self, path: str, body: bytes) -> Answer:
        try:
            conn = self._connection()
            conn.request("POST", path, body=body, headers=self._headers)
            response = conn.getresponse()
            raw = response.read()
            status = response.status
            retry_after = parse_retry_after(response.getheader("Retry-After"))
            if response.will_close:
                self.close()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            closed = isinstance(e, (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected))
            return Answer(0, None, None, f"{type(e).__name__}: {e}", closed)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return Answer(status, parsed, retry_after, f"HTTP {status}")
