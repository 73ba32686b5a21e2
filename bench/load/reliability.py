#!/usr/bin/env python3
"""Load measurements behind the reliability numbers in the docs, against a built binary
(MODELWATCH_BIN, default target/release/modelwatch), on 127.0.0.1, every loop bounded:

  reliability.py pause    ingest pause of one reload: a binary model with a 1,000,000-row count window
                          (filled first) and a 1h time window; single-event requests run back to back
                          (one due every 5 ms) while the config is reloaded with a threshold change (applied in place), then
                          with a window resize (a rebuild); prints the longest request of each phase.
  reliability.py stall    single-event request latency (p50, p99, max; one request due every 5 ms,
                          latency from the time it was due) while 100,000-event batches stream to the
                          same model.
  reliability.py pending  resident memory per pending prediction (500,000 of them, windows capped at
                          1000 rows) for 16- and 256-byte ids.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("MODELWATCH_BIN", os.path.join(ROOT, "target", "release", "modelwatch"))
WORK = tempfile.mkdtemp(prefix="modelwatch-reliability-")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(port, threshold="0.5", events=1_000_000, max_pending=1_000_000, hour_max=2_000_000):
    return f"""
[server]
listen = "127.0.0.1:{port}"
max_body_bytes = 104857600
max_id_bytes = 1024

[[model]]
name = "m"
task = "binary_classification"
threshold = {threshold}
max_pending = {max_pending}
[[model.feature]]
name = "amount"
type = "numeric"
[[model.feature]]
name = "country"
type = "categorical"
[[model.window]]
name = "count"
events = {events}
[[model.window]]
name = "hour"
duration = "1h"
max_events = {hour_max}
"""


def request(conn, method, path, body=b"", content_type="application/json"):
    conn.request(method, path, body=body, headers={"Content-Type": content_type})
    r = conn.getresponse()
    return r.status, r.read()


def ndjson(n, seed=0, ids=None):
    lines = []
    for i in range(n):
        e = {"score": ((seed + i) % 1000) / 1000,
             "features": {"amount": i, "country": f"c{i % 7}"}}
        if ids is None:
            e["label"] = i % 2
        else:
            e["id"] = ids(i)
        lines.append(json.dumps(e))
    return "\n".join(lines).encode()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


class Server:
    def __init__(self, **kw):
        self.port = free_port()
        self.path = os.path.join(WORK, f"{self.port}.toml")
        self.write(**kw)
        self.log = open(self.path + ".log", "wb")
        self.proc = subprocess.Popen([BIN, "serve", "--config", self.path],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                c = self.conn()
                if request(c, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "modelwatch did not start"
            time.sleep(0.1)

    def write(self, **kw):
        with open(self.path + ".tmp", "w") as f:
            f.write(config(self.port, **kw))
        os.replace(self.path + ".tmp", self.path)

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def fill(self, n, batch=50_000, ids=None):
        c = self.conn()
        for start in range(0, n, batch):
            body = ndjson(min(batch, n - start), start,
                          None if ids is None else (lambda i, s=start: ids(s + i)))
            status, answer = request(c, "POST", "/v1/models/m/predictions", body, "application/x-ndjson")
            assert status == 200, answer

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def single_events(server, stop, latencies, every=0.005):
    """One single-event request every `every` seconds. Latency counts from the time a request was due,
    so a stall delays every request due during it (no coordinated omission)."""
    c = server.conn()
    body = json.dumps({"score": 0.5, "label": 1, "features": {"amount": 1, "country": "c1"}}).encode()
    start = time.perf_counter()
    k = 0
    while not stop.is_set() and len(latencies) < 2_000_000:
        due = start + k * every
        k += 1
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        status, answer = request(c, "POST", "/v1/models/m/predictions", body)
        latencies.append(time.perf_counter() - due)
        assert status == 200, answer


def pause():
    s = Server()
    try:
        s.fill(1_000_000)
        for label, change in [("threshold change (in place)", {"threshold": "0.51"}),
                              ("window resize (rebuild)", {"threshold": "0.51", "events": 1_000_001})]:
            stop, latencies = threading.Event(), []
            t = threading.Thread(target=single_events, args=(s, stop, latencies))
            t.start()
            time.sleep(1)
            s.write(**change)
            started = time.perf_counter()
            status, answer = request(s.conn(), "POST", "/-/reload")
            reload_s = time.perf_counter() - started
            assert status == 200, answer
            time.sleep(1)
            stop.set()
            t.join(120)
            print(f"{label}: reload took {reload_s * 1000:.1f} ms; {len(latencies)} single events "
                  f"beside it, longest {max(latencies) * 1000:.1f} ms", flush=True)
    finally:
        s.stop()


def stall():
    s = Server()
    try:
        body = ndjson(100_000)
        stop, latencies = threading.Event(), []
        singles = threading.Thread(target=single_events, args=(s, stop, latencies))

        def batches():
            c = s.conn()
            for _ in range(10):
                status, answer = request(c, "POST", "/v1/models/m/predictions", body, "application/x-ndjson")
                assert status == 200, answer
            stop.set()

        b = threading.Thread(target=batches)
        b.start()
        time.sleep(0.2)
        singles.start()
        b.join(600)
        stop.set()
        singles.join(60)
        latencies.sort()
        ms = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000
        print(f"{len(latencies)} single events beside 10 batches of 100,000: p50 {ms(0.5):.2f} ms, "
              f"p99 {ms(0.99):.2f} ms, max {latencies[-1] * 1000:.1f} ms", flush=True)
    finally:
        s.stop()


def pending():
    n = 500_000
    for id_bytes in (16, 256):
        s = Server(events=1000, hour_max=1000)
        try:
            time.sleep(0.5)
            before = rss_kb(s.proc.pid)
            s.fill(n, batch=20_000, ids=lambda i: f"{i:0{id_bytes}d}")
            time.sleep(0.5)
            after = rss_kb(s.proc.pid)
            print(f"{n} pending predictions with {id_bytes}-byte ids: RSS grew "
                  f"{(after - before) / 1024:.1f} MiB, {(after - before) * 1024 / n:.0f} bytes each",
                  flush=True)
        finally:
            s.stop()


if __name__ == "__main__":
    {"pause": pause, "stall": stall, "pending": pending}[sys.argv[1]]()
