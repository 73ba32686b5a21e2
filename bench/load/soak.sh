#!/usr/bin/env bash
# Soak test: single-event ingestion at a fixed share of the measured maximum rate (default 80%) for a
# fixed time (default 300 s), while scraping /metrics twice a second. Requires: zero non-2xx responses,
# resident memory flat within 10% after the first minute, /metrics p99 under 100 ms.
# Usage: bench/load/soak.sh [seconds, default 300] [share of max, default 0.8]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-300}
share=${2:-0.8}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
cargo build --release --bin modelwatch 2>&1 | tail -1

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
work=$(mktemp -d)
./target/release/modelwatch serve --config bench/load/bench.toml --listen "127.0.0.1:$port" 2>"$work/server.log" &
pid=$!
samplers=()
trap 'kill $pid "${samplers[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
url="http://127.0.0.1:$port/v1/models/bench/predictions"

max=$(wrk -t2 -c64 -d15s -s bench/load/event.lua "$url" | sed -n 's/^RESULT.*rps=\([0-9.]*\).*/\1/p')
rate=$(python3 -c "print(int($max * $share))")
echo "== measured maximum ${max} req/s; target ${rate} req/s (${share} of it)"

# wrk paces a connection only by a whole-millisecond pause before each request, and the response time
# adds to it. With many connections the pause is long enough for whole milliseconds to be fine steps;
# start from the pause that ignores the response time and shorten it until the target is reached.
conns=256
pause=$(python3 -c "print(max(1, int($conns * 1000 / $rate)))")
for _ in 1 2 3 4 5 6 7 8; do
  got=$(PAUSE_MS=$pause wrk -t2 -c$conns -d10s -s bench/load/event.lua "$url" | sed -n 's/^RESULT.*rps=\([0-9.]*\).*/\1/p')
  echo "   pause ${pause} ms per connection: ${got} req/s"
  if python3 -c "import sys; sys.exit(0 if $got >= 0.97 * $rate or $pause <= 1 else 1)"; then break; fi
  pause=$((pause - 1))
done
echo "== soaking at ${got} req/s ($(python3 -c "print(f'{$got / $max:.0%}')") of the maximum) for ${secs}s"

# Memory and scrape latency samplers.
( while kill -0 $pid 2>/dev/null; do
    echo "$(date +%s) $(awk '/VmRSS/ {print $2}' /proc/$pid/status)" >> "$work/rss"; sleep 5; done ) &
samplers+=($!)
( while kill -0 $pid 2>/dev/null; do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/metrics" >> "$work/scrape" || true; sleep 0.5; done ) &
samplers+=($!)

PAUSE_MS=$pause wrk -t2 -c$conns -d"${secs}s" --timeout 5s -s bench/load/event.lua "$url" | tee "$work/wrk"
kill "${samplers[@]}" 2>/dev/null || true
python3 - "$work" "$secs" "$max" <<'PY'
import re, sys, statistics
work, secs, top = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
wrk = open(f"{work}/wrk").read()
res = dict((k, float(v)) for k, v in re.findall(r"(\w+)=([\d.]+)", wrk.split("RESULT", 1)[1]))
non2xx = res["errors_status"]
rss = [(int(t), int(kb)) for t, kb in (l.split() for l in open(f"{work}/rss") if len(l.split()) == 2)]
t0 = rss[0][0]
after = [kb for t, kb in rss if t - t0 >= 60]
lo, hi, mean = min(after), max(after), statistics.mean(after)
spread = (hi - lo) / mean
scrapes = sorted(float(x) for x in open(f"{work}/scrape") if x.strip())
p99 = scrapes[int(0.99 * (len(scrapes) - 1))]
print(f"requests {res['requests']:.0f} at {res['rps']:.0f} req/s ({res['rps'] / top:.0%} of the maximum {top:.0f}), p50 {res['p50_us']/1000:.2f} ms, p99 {res['p99_us']/1000:.2f} ms")
print(f"non-2xx responses: {non2xx:.0f}")
print(f"RSS after the first minute: {lo/1024:.1f} to {hi/1024:.1f} MiB (spread {100*spread:.1f}% of the mean)")
print(f"/metrics: {len(scrapes)} scrapes, p50 {1000*scrapes[len(scrapes)//2]:.1f} ms, p99 {1000*p99:.1f} ms")
ok = non2xx == 0 and spread <= 0.10 and p99 < 0.1
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
