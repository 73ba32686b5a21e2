#!/usr/bin/env bash
# Ingest, memory and scrape across window sizes: the sweep of docs/performance.md.
#
# For each window size (count windows, default 1000 16384 100000 1000000 events) it starts modelwatch
# with one model of 20 numeric features and that window, and:
#   - reads the resident set size of the empty process, fills the window with NDJSON batches, reads it
#     again: bytes per retained numeric value = (RSS full - RSS empty) / (events x 20);
#   - alternates, in rounds, the two ceilings of examples/ceiling.rs and modelwatch with wrk (as
#     bench/load/run.sh does): single-event POSTs against the minimal handler, NDJSON batches of 1000
#     events against the serde_json parse ceiling; a share is the median of the per-round shares;
#   - times GET /metrics (median of 31 scrapes) on the full window.
# Usage: bench/load/sweep.sh [seconds per run, default 5] [rounds, default 3] [sizes...]
# MODELWATCH=path/to/binary measures another build (the ceiling is always this tree's).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-5}
rounds=${2:-3}
shift $(($# < 2 ? $# : 2))
sizes=("${@:-1000 16384 100000 1000000}")
read -r -a sizes <<<"${sizes[*]}"
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
if [[ -z "${MODELWATCH:-}" ]]; then
  cargo build --release --bin modelwatch --example ceiling 2>&1 | tail -1
  MODELWATCH=target/release/modelwatch
else
  cargo build --release --example ceiling 2>&1 | tail -1
fi
export NUMERIC=20

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"' EXIT

cport=$(free_port)
./target/release/examples/ceiling "127.0.0.1:$cport" 2>/dev/null & pids+=($!)
wait_up "http://127.0.0.1:$cport/sink"

run() { # name script url connections
  local line
  line=$(wrk -t2 -c"$4" -d"${secs}s" --latency -s "$2" "$3" | grep '^RESULT')
  echo "$1 $line"
}

all=""
for size in "${sizes[@]}"; do
  {
    printf '[[model]]\nname = "bench"\ntask = "binary_classification"\nmax_pending = 100000\n'
    printf '[[model.window]]\nname = "w"\nevents = %d\n' "$size"
    for i in $(seq 0 19); do printf '[[model.feature]]\nname = "n%d"\ntype = "numeric"\n' "$i"; done
  } >"$tmp/sweep.toml"
  mport=$(free_port)
  "$MODELWATCH" serve --config "$tmp/sweep.toml" --listen "127.0.0.1:$mport" 2>/dev/null & mpid=$!
  pids+=($mpid)
  wait_up "http://127.0.0.1:$mport/healthz"
  empty=$(rss_kb "$mpid")
  # Fill the window (and a little more, so that it has evicted) with the batches wrk sends.
  python3 - "$mport" "$size" <<'PY'
import http.client, sys
port, size = int(sys.argv[1]), int(sys.argv[2])
lines = []
for k in range(1, 1001):
    parts = [f'"n{i}":{(k * 7 + i) % 1000}.{(k * 13 + i * 7) % 1000:03d}' for i in range(20)]
    lines.append('{"features":{%s},"score":0.%03d,"latency_ms":4.2,"label":%d}' % (",".join(parts), k % 1000, k % 2))
body = ("\n".join(lines) + "\n").encode()
conn = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(size // 1000 + 2):
    conn.request("POST", "/v1/models/bench/predictions", body, {"Content-Type": "application/x-ndjson"})
    r = conn.getresponse(); r.read()
    assert r.status < 300, r.status
PY
  full=$(rss_kb "$mpid")
  scrape=$(python3 - "$mport" <<'PY'
import http.client, statistics, sys, time
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
times = []
for _ in range(31):
    t = time.perf_counter(); conn.request("GET", "/metrics"); conn.getresponse().read()
    times.append(time.perf_counter() - t)
print(f"{1000 * statistics.median(times):.3f}")
PY
)
  all+="$size rss empty_kb=$empty full_kb=$full scrape_ms=$scrape"$'\n'
  for round in $(seq "$rounds"); do
    all+="$size $(run "http_ceiling/$round" bench/load/event.lua "http://127.0.0.1:$cport/sink" 64)"$'\n'
    all+="$size $(run "modelwatch_single/$round" bench/load/event.lua "http://127.0.0.1:$mport/v1/models/bench/predictions" 64)"$'\n'
    all+="$size $(run "parse_ceiling/$round" bench/load/batch.lua "http://127.0.0.1:$cport/parse" 4)"$'\n'
    all+="$size $(run "modelwatch_batch/$round" bench/load/batch.lua "http://127.0.0.1:$mport/v1/models/bench/predictions" 4)"$'\n'
  done
  kill "$mpid"; wait "$mpid" 2>/dev/null || true
done
echo "$all"
python3 - "$all" <<'PY'
import re, statistics, sys
rows = {}
for line in sys.argv[1].splitlines():
    if not line.strip():
        continue
    size, name, rest = line.split(" ", 2)
    rows[(int(size), name)] = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", rest)}
sizes = sorted({s for s, _ in rows})
print("| window | batch events/s | parse ceiling events/s | batch share | single req/s | single p99 ms "
      "| minimal handler req/s | single share | bytes per value | scrape ms |")
print("|---|---|---|---|---|---|---|---|---|---|")
errors = 0
for s in sizes:
    rounds = sorted({int(n.split("/")[1]) for (z, n) in rows if z == s and "/" in n})
    med = lambda n, k: statistics.median(rows[(s, f"{n}/{r}")][k] for r in rounds)
    share = lambda a, b, k: statistics.median(rows[(s, f"{a}/{r}")][k] / rows[(s, f"{b}/{r}")][k] for r in rounds)
    rss = rows[(s, "rss")]
    per_value = (rss["full_kb"] - rss["empty_kb"]) * 1024 / (s * 20)
    errors += sum(rows[(s, f"{n}/{r}")]["errors_status"] for r in rounds
                  for n in ("modelwatch_single", "modelwatch_batch"))
    print(f"| {s:,} | {med('modelwatch_batch', 'events_per_s'):,.0f} | {med('parse_ceiling', 'events_per_s'):,.0f} "
          f"| {share('modelwatch_batch', 'parse_ceiling', 'events_per_s'):.2f} "
          f"| {med('modelwatch_single', 'rps'):,.0f} | {med('modelwatch_single', 'p99_us') / 1000:.2f} "
          f"| {med('http_ceiling', 'rps'):,.0f} | {share('modelwatch_single', 'http_ceiling', 'rps'):.2f} "
          f"| {per_value:.1f} | {rss['scrape_ms']:.2f} |")
print(f"non-2xx responses: {errors:.0f}")
sys.exit(1 if errors else 0)
PY
