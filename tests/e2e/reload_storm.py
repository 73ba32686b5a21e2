#!/usr/bin/env python3
"""A reload storm while ingesting: 100 reloads a second for 10 s, alternating the threshold between 0.5
and 0.51 (applied in place) with every 250th reload resizing the count window (a rebuild that hands the
model's state over). Afterwards:

- modelwatch_predictions_total equals the events accepted in 2xx answers;
- the count window and the 1h time window (neither full) both hold exactly that many predictions;
- RSS is back within 25% of its level before the storm (the windows are filled first, so the rows the
  storm adds are a small part of it), and the thread count stays bounded.

Standalone (stdlib only); binds 127.0.0.1; every loop is bounded in count and time. The process it
starts is stopped by PID, pass or fail.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("MODELWATCH_BIN", os.path.join(ROOT, "target", "debug", "modelwatch"))
WORK = tempfile.mkdtemp(prefix="modelwatch-reload-storm-")
STORM_SECONDS = 10
RELOADS_PER_SECOND = 100
PREFILL = 100_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(port, threshold, events):
    return f"""
[server]
listen = "127.0.0.1:{port}"
max_body_bytes = 104857600

[[model]]
name = "m"
task = "binary_classification"
threshold = {threshold}
[[model.feature]]
name = "x"
type = "numeric"
[[model.feature]]
name = "c"
type = "categorical"
[[model.window]]
name = "count"
events = {events}
[[model.window]]
name = "hour"
duration = "1h"
max_events = 5000000
"""


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def request(conn, method, path, body=b"", content_type="application/json"):
    conn.request(method, path, body=body, headers={"Content-Type": content_type})
    r = conn.getresponse()
    return r.status, r.read()


def events(n, seed):
    return "\n".join(
        json.dumps({"score": ((seed + i) % 100) / 100, "label": i % 2,
                    "features": {"x": i, "c": f"v{i % 5}"}})
        for i in range(n)
    ).encode()


def scrape(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    _, body = request(conn, "GET", "/metrics")
    conn.close()
    values = {}
    for line in body.decode().splitlines():
        m = re.match(r'^(modelwatch_[a-z_]+)\{([^}]*)\} (\S+)$', line)
        if m:
            values[(m.group(1), m.group(2))] = float(m.group(3))
    return values


def get(values, name, **labels):
    want = [f'{k}="{v}"' for k, v in labels.items()]
    hits = [v for (n, l), v in values.items() if n == name and all(w in l.split(",") for w in want)]
    assert len(hits) == 1, (name, labels, hits)
    return hits[0]


def main():
    port = free_port()
    path = os.path.join(WORK, "modelwatch.toml")
    with open(path, "w") as f:
        f.write(config(port, "0.5", 5_000_000))
    log = open(os.path.join(WORK, "modelwatch.log"), "wb")
    proc = subprocess.Popen([BIN, "serve", "--config", path], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                if request(conn, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "modelwatch did not start"
            time.sleep(0.1)

        accepted = 0
        lock = threading.Lock()
        for k in range(PREFILL // 10_000):
            status, body = request(conn, "POST", "/v1/models/m/predictions", events(10_000, k),
                                   "application/x-ndjson")
            assert status == 200, body
            accepted += json.loads(body)["accepted"]
        time.sleep(1)
        rss_before = proc_status(proc.pid, "VmRSS")
        threads_before = proc_status(proc.pid, "Threads")

        stop = threading.Event()
        failures = []

        def client(n):
            nonlocal accepted
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            body = events(5, n)
            rounds = 0
            while not stop.is_set() and rounds < 1_000_000:
                rounds += 1
                try:
                    status, answer = request(c, "POST", "/v1/models/m/predictions", body,
                                             "application/x-ndjson")
                except (OSError, http.client.HTTPException) as e:
                    failures.append(repr(e))
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    continue
                if 200 <= status < 300:
                    with lock:
                        accepted += json.loads(answer)["accepted"]
                time.sleep(0.05)

        clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in clients:
            t.start()
        reloads, threads_peak, started = 0, threads_before, time.time()
        reload_conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for k in range(STORM_SECONDS * RELOADS_PER_SECOND):
            threshold = "0.51" if k % 2 == 0 else "0.5"
            window = 5_000_000 if (k // 250) % 2 == 0 else 5_000_001
            with open(path + ".tmp", "w") as f:
                f.write(config(port, threshold, window))
            os.replace(path + ".tmp", path)
            status, body = request(reload_conn, "POST", "/-/reload")
            assert status == 200, body
            reloads += 1
            threads_peak = max(threads_peak, proc_status(proc.pid, "Threads"))
            wait = started + (k + 1) / RELOADS_PER_SECOND - time.time()
            if wait > 0:
                time.sleep(wait)
            if time.time() - started > 3 * STORM_SECONDS:
                break
        storm_seconds = time.time() - started
        stop.set()
        for t in clients:
            t.join(60)
        time.sleep(2)
        rss_after = proc_status(proc.pid, "VmRSS")

        values = scrape(port)
        total = get(values, "modelwatch_predictions_total", model="m")
        count = get(values, "modelwatch_prediction_window_samples", model="m", window="count")
        hour = get(values, "modelwatch_prediction_window_samples", model="m", window="hour")
        print(f"reload storm: {reloads} reloads in {storm_seconds:.1f} s; {accepted} events accepted, "
              f"predictions_total {total:.0f}, count window {count:.0f}, 1h window {hour:.0f}; "
              f"RSS {rss_before / 1024:.0f} MB -> {rss_after / 1024:.0f} MB; "
              f"threads {threads_before} -> peak {threads_peak}; transport errors {len(failures)}")
        assert reloads == STORM_SECONDS * RELOADS_PER_SECOND, "the storm did not run to the end"
        assert total == accepted, (total, accepted)
        assert count == accepted and hour == accepted, (count, hour, accepted)
        assert rss_after <= 1.25 * rss_before, (rss_before, rss_after)
        assert threads_peak <= threads_before + 64, (threads_before, threads_peak)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"reload storm FAILED: {e!r} (logs in {WORK})", file=sys.stderr)
        sys.exit(1)
