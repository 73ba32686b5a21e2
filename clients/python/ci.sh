#!/usr/bin/env bash
# The Python client's CI (run by .ci/run): a venv under target/ with the pinned test dependencies, the
# package installed from its sources, mypy --strict, then pytest against a live modelwatch, which also
# runs the FastAPI and BentoML examples. Exits non-zero on any failure, and when pytest collects no test.
set -euo pipefail
cd "$(dirname "$0")/../.."
client=clients/python
venv=${PYCLIENT_VENV:-target/pyclient-venv}
stamp="$venv/.ci-requirements"
want=$(cat "$client/requirements-ci.txt" "$client/constraints-ci.txt" | sha256sum | cut -d' ' -f1)

if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== installing the Python client's test dependencies into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -r "$client/requirements-ci.txt" -c "$client/constraints-ci.txt"
  echo "$want" > "$stamp"
fi
# The package itself, built by its own backend like a user's install (not editable), every run.
"$venv/bin/pip" install -q --no-deps --no-build-isolation --force-reinstall "./$client"

cargo build --bin modelwatch

echo "== mypy --strict"
(cd "$client" && "../../$venv/bin/mypy")

echo "== pytest (client and examples against a live modelwatch)"
status=0
(cd "$client" && MODELWATCH_BIN="$PWD/../../target/debug/modelwatch" \
  "../../$venv/bin/python" -m pytest -p no:cacheprovider -q tests) || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
