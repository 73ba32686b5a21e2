#!/usr/bin/env bash
# HTTP load on loopback with wrk: modelwatch against the two ceilings of examples/ceiling.rs.
#   - single-event POST throughput and latency: modelwatch vs the minimal "read the body, answer 200"
#     handler;
#   - NDJSON batch ingest (1000 events per request) in events/s: modelwatch vs a handler that only parses
#     the same NDJSON into borrowed typed structs.
# Both servers run on the same machine as wrk (2 cores here), one at a time. The machine's speed drifts
# from minute to minute, so the measurements alternate: each round measures the ceiling and modelwatch
# back to back, and a share is the median of the per-round shares.
# Usage: bench/load/run.sh [seconds per run, default 10] [rounds, default 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
rounds=${2:-5}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
cargo build --release --bin modelwatch --example ceiling 2>&1 | tail -1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

cport=$(free_port)
./target/release/examples/ceiling "127.0.0.1:$cport" 2>/dev/null & pids+=($!)
mport=$(free_port)
./target/release/modelwatch serve --config bench/load/bench.toml --listen "127.0.0.1:$mport" 2>/dev/null & pids+=($!)
wait_up "http://127.0.0.1:$cport/sink"
wait_up "http://127.0.0.1:$mport/healthz"

run() { # name script url connections
  local line
  line=$(wrk -t2 -c"$4" -d"${secs}s" --latency -s "$2" "$3" | grep '^RESULT')
  echo "$1 $line"
}

echo "== $rounds rounds of ${secs}s per run, wrk -t2 on the same 2 cores as the server"
results=$(
  for round in $(seq "$rounds"); do
    run "http_ceiling/$round" bench/load/event.lua "http://127.0.0.1:$cport/sink" 64
    run "modelwatch_single/$round" bench/load/event.lua "http://127.0.0.1:$mport/v1/models/bench/predictions" 64
    run "parse_ceiling/$round" bench/load/batch.lua "http://127.0.0.1:$cport/parse" 4
    run "modelwatch_batch/$round" bench/load/batch.lua "http://127.0.0.1:$mport/v1/models/bench/predictions" 4
  done
)
echo "$results"
python3 - "$results" <<'PY'
import re, statistics, sys
rows = {}
for line in sys.argv[1].splitlines():
    name, rest = line.split(" ", 1)
    rows[name] = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", rest)}
rounds = sorted({int(name.split("/")[1]) for name in rows})
def shares(ours, ceiling, key):
    return [rows[f"{ours}/{r}"][key] / rows[f"{ceiling}/{r}"][key] for r in rounds]
def median(name, key):
    return statistics.median(rows[f"{name}/{r}"][key] for r in rounds)
single = shares("modelwatch_single", "http_ceiling", "rps")
batch = shares("modelwatch_batch", "parse_ceiling", "events_per_s")
fmt = lambda xs: ", ".join(f"{100 * x:.0f}" for x in xs)
print(f"single-event POST: modelwatch median {median('modelwatch_single', 'rps'):.0f} req/s "
      f"(p50 {median('modelwatch_single', 'p50_us') / 1000:.2f} ms, p99 {median('modelwatch_single', 'p99_us') / 1000:.2f} ms), "
      f"ceiling median {median('http_ceiling', 'rps'):.0f} req/s; share per round: {fmt(single)}%; "
      f"median {100 * statistics.median(single):.0f}% of the HTTP ceiling")
print(f"NDJSON batches of 1000: modelwatch median {median('modelwatch_batch', 'events_per_s'):.0f} events/s, "
      f"parse ceiling median {median('parse_ceiling', 'events_per_s'):.0f} events/s; share per round: {fmt(batch)}%; "
      f"median {100 * statistics.median(batch):.0f}% of the parse ceiling")
errors = sum(r["errors_status"] for r in rows.values())
print(f"non-2xx responses: {errors:.0f}")
sys.exit(1 if errors else 0)
PY
