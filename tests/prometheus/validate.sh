#!/usr/bin/env bash
# Static checks of the monitoring stack's files with the real tools (Debian: prometheus,
# prometheus-alertmanager). No server is started; tests/e2e/ runs the live stack.
#
#   tests/prometheus/validate.sh
#
# Checks: promtool check config / rules, promtool test rules (every alert), amtool check-config,
# Alertmanager's routing tree for each kind of alert, the production render of alertmanager.yml that the
# README documents, the fast-rules copy used by the end-to-end suite, and that the dashboards are JSON.
set -uo pipefail
cd "$(dirname "$0")/../.."

for tool in promtool amtool python3; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install prometheus prometheus-alertmanager)"; exit 2; }
done

passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() {
  local name=$1
  shift
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
    echo "ok    $name"
  else
    failed=$((failed + 1))
    echo "FAIL  $name"
    echo "$out" | sed 's/^/      /'
  fi
}

check "promtool check config prometheus.yml" promtool check config prometheus.yml
check "promtool check rules" promtool check rules config/recording_rules.yml config/alert_rules.yml
check "promtool test rules" promtool test rules tests/prometheus/*.test.yml
check "amtool check-config alertmanager.yml" amtool check-config alertmanager.yml

# Routing: which receivers each kind of alert reaches.
route() {
  local want=$1
  shift
  check "route $* -> $want" amtool config routes test --config.file=alertmanager.yml --verify.receivers="$want" "$@"
}
for drift in FeatureDrift DatasetDrift PredictionDrift LabelDrift; do
  route retraining-webhook,team-email alertname=$drift severity=warning model=demo
done
for page in ModelwatchDown ModelMetricBelowThreshold ModelErrorAboveThreshold HighModelErrorRate; do
  route oncall-email alertname=$page severity=critical model=demo
done
for ticket in NoPredictions LabelsNotArriving SnapshotFailing HighPredictionLatency HighMissingRatio NewCategories; do
  route team-email alertname=$ticket severity=warning model=demo
done

# Every alert rule has a severity the routes know, and summary and description annotations.
check "every alert has severity, summary and description" python3 - <<'EOF'
import re, sys
text = open("config/alert_rules.yml").read()
rules = re.split(r"\n\s*- alert: ", text)[1:]
bad = []
for r in rules:
    name = r.split("\n", 1)[0].strip()
    if not re.search(r"\n\s+severity: (critical|warning)\n", r):
        bad.append(name + ": severity")
    for a in ("summary", "description"):
        if not re.search(r"\n\s+%s: " % a, r):
            bad.append(name + ": " + a)
print("%d alerts" % len(rules))
sys.exit("\n".join(bad) if bad else 0)
EOF

# The production render documented in the README ("Monitoring stack").
render() {
  SMTP_SMARTHOST=smtp.example.org:587 ALERT_FROM=modelwatch@example.org TEAM_EMAIL=ml-team@example.org \
  ONCALL_EMAIL=ml-oncall@example.org SMTP_USER=modelwatch RETRAIN_WEBHOOK_URL=https://retrainer.example.org/alerts \
  bash -c 'sed -e "s|\"mailpit:1025\"|\"$SMTP_SMARTHOST\"|" \
      -e "s|\"modelwatch@example.com\"|\"$ALERT_FROM\"|" \
      -e "s|\"ml-team@example.com\"|\"$TEAM_EMAIL\"|" \
      -e "s|\"ml-oncall@example.com\"|\"$ONCALL_EMAIL\"|" \
      -e "s|\"http://retrainer:8080/alerts\"|\"$RETRAIN_WEBHOOK_URL\"|" \
      -e "s|smtp_require_tls: false|smtp_require_tls: true|" \
      -e "s|# smtp_auth_username: .*|smtp_auth_username: \"$SMTP_USER\"|" \
      -e "s|# smtp_auth_password_file:|smtp_auth_password_file:|" \
      alertmanager.yml' > "$tmp/alertmanager.prod.yml"
  amtool check-config "$tmp/alertmanager.prod.yml" &&
    ! grep -v "^\s*#" "$tmp/alertmanager.prod.yml" | grep -qE "mailpit|example\.com|retrainer:8080|smtp_require_tls: false" &&
    grep -q "smtp_auth_password_file: /etc/alertmanager/secrets/smtp_password" "$tmp/alertmanager.prod.yml"
}
check "production render of alertmanager.yml" render

# The end-to-end suite's copy of the rules with `for: 0s`.
fast() {
  mkdir -p "$tmp/fast" &&
    python3 tests/e2e/fast_rules.py config/alert_rules.yml "$tmp/fast/alert_rules.yml" &&
    promtool check rules "$tmp/fast/alert_rules.yml" &&
    ! grep -E "^\s*for:" "$tmp/fast/alert_rules.yml" | grep -v "for: 0s"
}
check "tests/e2e/fast_rules.py" fast

for f in grafana/dashboards/*.json; do
  check "$f is JSON" python3 -m json.tool "$f"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
