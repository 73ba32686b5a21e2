#!/usr/bin/env python3
"""Slow and idle clients cannot starve others, and shutdown is bounded (end to end, real sockets).

Runs the modelwatch binary (MODELWATCH_BIN, default target/debug/modelwatch) on 127.0.0.1 with its
open-file limit at 1024 (prlimit) and its default connection settings, and checks:

1. header trickling: 1,100 connections each send a request line, then one header line every 5 s
   (reconnecting when closed). Throughout, /healthz, /metrics and a one-event ingest each answer
   within 2 s, and the log shows no accept loop spinning on EMFILE.
2. body trickling: 600 connections declare Content-Length: 1000 and send one byte every 5 s.
   Throughout, a one-event ingest is answered 2xx within 2 s.
3. shutdown: with one client trickling headers and one holding a request whose body never ends,
   SIGTERM ends the process within shutdown_grace (3 s here) plus a margin, with exit code 0 and the
   final snapshot written; with the state directory replaced by a file, the exit code is non-zero.

Every phase is bounded in time; every process and socket it opens is closed at the end, pass or fail.
"""
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("MODELWATCH_BIN", os.path.join(ROOT, "target", "debug", "modelwatch"))
WORK = tempfile.mkdtemp(prefix="modelwatch-slow-")
PHASE_SECONDS = float(os.environ.get("SLOW_CLIENTS_SECONDS", "25"))
ANSWER_LIMIT = 2.0
PROCS = []
FAILURES = []

MODEL = """
[[model]]
name = "m"
task = "regression"
"""


def step(msg):
    print(f"== {msg}", flush=True)


def check(ok, msg):
    print(("ok   " if ok else "FAIL ") + msg, flush=True)
    if not ok:
        FAILURES.append(msg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(name, server_toml, nofile=1024):
    port = free_port()
    config = os.path.join(WORK, f"{name}.toml")
    with open(config, "w") as f:
        f.write(f'[server]\nlisten = "127.0.0.1:{port}"\n{server_toml}\n{MODEL}')
    log_path = os.path.join(WORK, f"{name}.log")
    log = open(log_path, "wb")
    args = [BIN, "serve", "--config", config]
    if nofile:
        args = ["prlimit", f"--nofile={nofile}:{nofile}", "--"] + args
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    PROCS.append(p)
    deadline = time.time() + 30
    while time.time() < deadline:
        if p.poll() is not None:
            sys.exit(f"modelwatch exited at start; see {log_path}:\n" + open(log_path).read())
        try:
            if request(port, "GET", "/healthz", timeout=1)[0] == 200:
                return p, port, log_path
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("modelwatch did not start within 30 s")


def stop_server(p, sig=signal.SIGTERM, timeout=20):
    """Stops a server; returns (exit code or None if it had to be killed, seconds taken)."""
    if p.poll() is not None:
        return p.returncode, 0.0
    started = time.time()
    p.send_signal(sig)
    try:
        code = p.wait(timeout)
        return code, time.time() - started
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None, time.time() - started


def request(port, method, path, body=b"", timeout=ANSWER_LIMIT):
    """One request on a fresh connection; returns (status, seconds). Raises on timeout."""
    started = time.time()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(max(0.01, timeout - (time.time() - started)))
        head = (
            f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        s.sendall(head.encode() + body)
        data = b""
        while True:
            s.settimeout(max(0.01, timeout - (time.time() - started)))
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = line.split(" ")
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, time.time() - started


class Tricklers:
    """`count` connections that each send `opening` once, then `drip` every `every` seconds,
    reconnecting when the server closes one. Runs in a thread until stop()."""

    def __init__(self, port, count, opening, drip, every=5.0):
        self.port, self.count, self.opening, self.drip, self.every = port, count, opening, drip, every
        self.socks = []
        self.reconnects = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def connect(self):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", self.port))
            s.sendall(self.opening)
            s.setblocking(False)
            return s
        except OSError:
            s.close()
            return None

    def start(self):
        for _ in range(self.count):
            s = self.connect()
            if s is not None:
                self.socks.append(s)
        self.thread.start()
        return self

    def run(self):
        while not self.stopping.wait(self.every):
            alive = []
            for s in self.socks:
                try:
                    s.send(self.drip)
                    alive.append(s)
                except BlockingIOError:
                    alive.append(s)
                except OSError:
                    s.close()
            lost = self.count - len(alive)
            for _ in range(lost):
                if self.stopping.is_set():
                    break
                s = self.connect()
                if s is not None:
                    alive.append(s)
                    self.reconnects += 1
            self.socks = alive

    def stop(self):
        self.stopping.set()
        self.thread.join(10)
        for s in self.socks:
            s.close()
        self.socks = []


def probe_for(port, seconds, probes):
    """Runs every probe every 0.5 s for `seconds`; returns {name: [(status, seconds or None)]}."""
    results = {name: [] for name, _ in probes}
    end = time.time() + seconds
    while time.time() < end:
        for name, (method, path, body) in probes:
            try:
                results[name].append(request(port, method, path, body))
            except OSError as e:
                results[name].append((str(e) or type(e).__name__, None))
        time.sleep(0.5)
    return results


def report(results, want):
    for name, rs in results.items():
        answered = [t for status, t in rs if t is not None and want(status)]
        worst = max((t for _, t in rs if t is not None), default=float("nan"))
        bad = [(status, t) for status, t in rs if t is None or not want(status) or t > ANSWER_LIMIT]
        check(
            bool(rs) and not bad,
            f"{name}: {len(answered)}/{len(rs)} answered in time, slowest {worst:.3f} s"
            + (f"; failures {bad[:5]}" if bad else ""),
        )


ONE_EVENT = b'{"prediction": 1.5}'


def header_trickling():
    step("1,100 connections trickling headers (server fd limit 1024)")
    p, port, log = start_server("headers", "")
    attack = Tricklers(
        port, 1100, b"GET /healthz HTTP/1.1\r\nhost: x\r\n", b"x-trickle: 1\r\n"
    ).start()
    print(f"   {len(attack.socks)} connections open", flush=True)
    try:
        results = probe_for(
            port,
            PHASE_SECONDS,
            [
                ("/healthz", ("GET", "/healthz", b"")),
                ("/metrics", ("GET", "/metrics", b"")),
                ("ingest", ("POST", "/v1/models/m/predictions", ONE_EVENT)),
            ],
        )
    finally:
        attack.stop()
    report(results, lambda s: s == 200)
    print(f"   the tricklers reconnected {attack.reconnects} times", flush=True)
    code, _ = stop_server(p)
    text = open(log, errors="replace").read()
    spins = text.count("Too many open files")
    check(spins <= 5, f"accept errors for lack of file descriptors logged {spins} times (at most 5)")
    check(code == 0, f"exit code {code} after SIGTERM")


def body_trickling():
    step("600 connections trickling bodies (Content-Length: 1000, one byte every 5 s)")
    p, port, _ = start_server("bodies", "")
    attack = Tricklers(
        port,
        600,
        b"POST /v1/models/m/predictions HTTP/1.1\r\nhost: x\r\n"
        b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n[",
        b" ",
    ).start()
    print(f"   {len(attack.socks)} connections open", flush=True)
    try:
        results = probe_for(
            port, PHASE_SECONDS, [("ingest", ("POST", "/v1/models/m/predictions", ONE_EVENT))]
        )
    finally:
        attack.stop()
    report(results, lambda s: 200 <= s < 300)
    code, _ = stop_server(p)
    check(code == 0, f"exit code {code} after SIGTERM")


def shutdown(grace=3.0):
    step(f"SIGTERM with a client trickling headers and one holding a request (shutdown_grace {grace:g}s)")
    state_dir = os.path.join(WORK, "state")
    for broken in (False, True):
        shutil.rmtree(state_dir, ignore_errors=True)
        os.makedirs(state_dir)
        snapshot = os.path.join(state_dir, "state.bin")
        p, port, _ = start_server(
            "shutdown-broken" if broken else "shutdown",
            f'shutdown_grace = "{grace:g}s"\nbody_read_timeout = "60s"\nrequest_timeout = "60s"\n'
            f'header_read_timeout = "60s"\n[server.state]\npath = "{snapshot}"\n',
        )
        assert request(port, "POST", "/v1/models/m/predictions", ONE_EVENT)[0] == 200
        headers = Tricklers(port, 1, b"GET /healthz HTTP/1.1\r\n", b"x-trickle: 1\r\n", 1.0).start()
        body = Tricklers(
            port,
            1,
            b"POST /v1/models/m/predictions HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n[",
            b" ",
            1.0,
        ).start()
        time.sleep(1.5)
        if broken:
            # Nothing can be written where the state directory was.
            shutil.rmtree(state_dir)
            open(state_dir, "w").close()
        try:
            code, took = stop_server(p, timeout=grace + 20)
        finally:
            headers.stop()
            body.stop()
        if code is None:
            check(False, f"still running {took:.1f} s after SIGTERM (killed)")
        elif broken:
            check(code != 0, f"final snapshot impossible: exit code {code} after {took:.2f} s")
        else:
            check(
                took <= grace + 3 and code == 0 and os.path.exists(snapshot),
                f"exited {took:.2f} s after SIGTERM with code {code}, snapshot written: "
                f"{os.path.exists(snapshot)}",
            )
        if os.path.isfile(state_dir):
            os.remove(state_dir)


def main():
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not found; run cargo build --bin modelwatch")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    try:
        header_trickling()
        body_trickling()
        shutdown()
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(WORK, ignore_errors=True)
    if FAILURES:
        print(f"slow_clients: {len(FAILURES)} failure(s)", flush=True)
        sys.exit(1)
    print("slow_clients: all passed", flush=True)


if __name__ == "__main__":
    main()
