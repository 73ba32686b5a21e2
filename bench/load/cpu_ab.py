#!/usr/bin/env python3
"""Server CPU per single-event request, for comparing builds on a noisy machine.

Each argument is a server: `label=command`, where the command may contain PORT. The servers start once,
then get loaded in turn with wrk (bench/load/event.lua, 2 threads, 64 connections) for SECS seconds
each, ROUNDS times. For each server it prints the median user and system CPU time per request (read
from /proc/PID/stat around each run), requests/s, wrk's own CPU per request and the machine's idle
share; for every server after the first, the median of its per-round throughput over the first's.
A server whose command names `ceiling` gets the `/sink` path, the others modelwatch's predictions.

    cargo build --release --bin modelwatch --example ceiling
    ROUNDS=8 SECS=5 bench/load/cpu_ab.py \\
        "ceiling=target/release/examples/ceiling 127.0.0.1:PORT" \\
        "old=/tmp/modelwatch-old serve --config bench/load/bench.toml --listen 127.0.0.1:PORT" \\
        "new=target/release/modelwatch serve --config bench/load/bench.toml --listen 127.0.0.1:PORT"
"""
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])  # utime, stime


def machine_ticks():
    return [int(x) for x in open("/proc/stat").readline().split()[1:]]


def main():
    rounds = int(os.environ.get("ROUNDS", "5"))
    secs = int(os.environ.get("SECS", "5"))
    tick = os.sysconf("SC_CLK_TCK")
    servers = []
    for spec in sys.argv[1:]:
        label, command = spec.split("=", 1)
        port = free_port()
        argv = command.replace("PORT", str(port)).split()
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        path = "/sink" if "ceiling" in argv[0] else "/v1/models/bench/predictions"
        servers.append({"label": label, "proc": proc, "url": f"http://127.0.0.1:{port}{path}", "rows": []})
    if not servers:
        sys.exit(__doc__)
    time.sleep(2)
    try:
        for _ in range(rounds):
            for s in servers:
                u0, s0 = cpu_ticks(s["proc"].pid)
                w0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                m0 = machine_ticks()
                out = subprocess.run(
                    ["wrk", "-t2", "-c64", f"-d{secs}s", "-s", "bench/load/event.lua", s["url"]],
                    cwd=ROOT, capture_output=True, text=True, check=True).stdout
                u1, s1 = cpu_ticks(s["proc"].pid)
                w1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                m1 = machine_ticks()
                n = int(re.search(r"requests=(\d+)", out).group(1))
                if re.search(r"errors_status=(\d+)", out).group(1) != "0":
                    sys.exit(f"{s['label']}: non-2xx answers:\n{out}")
                d = [b - a for a, b in zip(m0, m1)]
                wrk_cpu = (w1.ru_utime - w0.ru_utime) + (w1.ru_stime - w0.ru_stime)
                s["rows"].append({
                    "user": (u1 - u0) / tick * 1e6 / n,
                    "sys": (s1 - s0) / tick * 1e6 / n,
                    "rps": n / secs,
                    "wrk": wrk_cpu * 1e6 / n,
                    "idle": (d[3] + d[4]) / sum(d),
                })
        for s in servers:
            med = lambda key: statistics.median(r[key] for r in s["rows"])
            total = statistics.median(r["user"] + r["sys"] for r in s["rows"])
            print(f"{s['label']:>12}: user {med('user'):5.1f} + system {med('sys'):5.1f} = {total:5.1f} µs per request,"
                  f" {med('rps'):7.0f} req/s, wrk {med('wrk'):5.1f} µs per request, idle {100 * med('idle'):.0f}%")
        first = servers[0]
        for s in servers[1:]:
            shares = sorted(r["rps"] / f["rps"] for r, f in zip(s["rows"], first["rows"]))
            listed = ", ".join(f"{100 * x:.0f}" for x in shares)
            print(f"{s['label']:>12}: share of {first['label']} per round {listed}%;"
                  f" median {100 * statistics.median(shares):.0f}%")
    finally:
        for s in servers:
            s["proc"].kill()


if __name__ == "__main__":
    main()
