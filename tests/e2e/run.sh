#!/usr/bin/env bash
# The end-to-end suite (run by .ci/run). Installs what it needs on a fresh Debian machine, validates
# docker-compose.yml, builds modelwatch and runs tests/e2e/run.py against real Prometheus and Alertmanager.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
/usr/bin/python3 -c "import aiosmtpd" 2>/dev/null || need+=(python3-aiosmtpd)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  echo "== installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# A Compose implementation that works without a Docker engine, only to validate the file.
venv=target/e2e-venv
if [ ! -x "$venv/bin/docker-compose" ]; then
  echo "== installing docker-compose 1.29 (validation only)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "cython<3" wheel setuptools
  "$venv/bin/pip" install -q --no-build-isolation pyyaml==5.4.1
  "$venv/bin/pip" install -q docker-compose==1.29.2
fi
echo "== docker-compose config -q"
"$venv/bin/docker-compose" -f docker-compose.yml config -q

echo "== static checks of the monitoring stack"
bash tests/prometheus/validate.sh

cargo build --bin modelwatch
python3 tests/e2e/run.py
python3 tests/e2e/slow_clients.py
python3 tests/e2e/reload_storm.py
