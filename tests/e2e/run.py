#!/usr/bin/env python3
"""End-to-end suite: modelwatch, Prometheus, Alertmanager, an SMTP sink and a webhook sink, all real, all
on 127.0.0.1 with free ports.

1. Starts everything with the repository's prometheus.yml, rules and alertmanager.yml, rewritten only for
   ports, 1 s intervals and zero `for:` durations (a copy; the shipped files are untouched).
2. Runs the validators: promtool check config / rules / metrics, promtool test rules, amtool check-config.
3. Sends steady traffic (no drift alert may fire), then drifted traffic.
4. Asserts: the target is up; every dashboard query returns data; FeatureDrift fires in Prometheus, reaches
   Alertmanager, produces an email naming the model and the feature, and reaches the webhook.
5. Restarts modelwatch after SIGTERM (nothing lost) and after kill -9 (at most one snapshot interval lost).

Every process it starts is stopped by PID at the end, pass or fail.
"""
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("MODELWATCH_BIN", os.path.join(ROOT, "target", "debug", "modelwatch"))
WORK = tempfile.mkdtemp(prefix="modelwatch-e2e-")
PROCS = []


def step(msg):
    print(f"== {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name, args, env=None, cwd=None):
    log = open(os.path.join(WORK, f"{name}.log"), "ab")
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    PROCS.append((name, p))
    return p


def stop(p, sig=signal.SIGTERM, timeout=15):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def stop_all():
    for _, p in reversed(PROCS):
        stop(p)


def dump_logs():
    for name, _ in PROCS:
        path = os.path.join(WORK, f"{name}.log")
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                tail = f.read()[-3000:]
            print(f"---- {name}.log (tail) ----\n{tail}")


def http(method, url, body=None, content_type="application/json"):
    data = None
    headers = {}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def wait_until(what, fn, timeout=60, interval=0.5):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def run(args, **kw):
    print("$", " ".join(args), flush=True)
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    out = (r.stdout + r.stderr).strip()
    if out:
        print("  " + out.replace("\n", "\n  ")[:3000])
    if r.returncode != 0:
        raise AssertionError(f"{args[0]} failed with {r.returncode}")
    return r.stdout


# ---------------------------------------------------------------------------------------------- traffic

def sigmoid(z):
    return 1 / (1 + math.exp(-z))


class Traffic:
    """Deterministic traffic for three models; `drifted` moves inputs and the label relationship."""

    def __init__(self, base, seed=7):
        self.base = base
        self.rng = random.Random(seed)
        self.n = 0
        self.pending = []

    def post(self, model, kind, events):
        status, body = http("POST", f"{self.base}/v1/models/{model}/{kind}", events)
        assert status == 200, f"{model} {kind}: {status} {body}"
        assert body["rejected"] == 0, body
        return body

    def demo(self, count, drifted):
        r = self.rng
        events = []
        for _ in range(count):
            self.n += 1
            amount = r.lognormvariate(3.0 + (1.2 if drifted else 0.0), 0.5)
            tenure = r.uniform(0, 100)
            country = r.choices(["DE", "FR", "IT", "BR"], [0.5, 0.3, 0.2, 0.6 if drifted else 0.0])[0]
            z = -1.0 + 0.8 * math.log(amount / 20) + (0.8 if country == "IT" else 0.0) - 0.01 * tenure
            score = sigmoid(z)
            truth = sigmoid(z + (2.0 if drifted else 0.0))
            label = int(r.random() < truth)
            e = {"id": f"d{self.n}", "features": {"amount": round(amount, 2), "country": country,
                                                  "tenure": round(tenure, 1)},
                 "score": round(score, 4), "latency_ms": round(r.uniform(2, 30), 2)}
            if drifted and r.random() < 0.3:
                e["features"]["amount"] = None
            if r.random() < 0.01:
                e = {"id": e["id"], "features": e["features"], "error": True, "latency_ms": 5}
            elif r.random() < 0.5:
                e["label"] = label
            else:
                self.pending.append({"id": e["id"], "label": label})
            events.append(e)
        self.post("demo", "predictions", events)
        # Delayed labels for the previous batch's pending predictions.
        labels, self.pending = self.pending, []
        if labels:
            self.post("demo", "labels", labels)

    def price(self, count, drifted):
        r = self.rng
        events = []
        for _ in range(count):
            size = r.gauss(150 if drifted else 100, 20)
            city = r.choice(["berlin", "paris", "rome"] + (["lagos"] * 3 if drifted else []))
            label = 2 * size + r.gauss(0, 10)
            events.append({"features": {"size": round(size, 2), "city": city},
                           "prediction": round(2 * (size if not drifted else 100) + r.gauss(0, 5), 2),
                           "label": round(label, 2), "latency_ms": 3})
        self.post("price", "predictions", events)

    def animals(self, count, drifted):
        r = self.rng
        events = []
        classes = ["cat", "dog", "bird"]
        for _ in range(count):
            label = r.choices(classes, [0.2, 0.3, 0.5] if drifted else [0.5, 0.3, 0.2])[0]
            weight = r.gauss({"cat": 4, "dog": 20, "bird": 0.3}[label] * (1.5 if drifted else 1.0), 1)
            raw = [r.random() + (1.5 if c == label else 0) for c in classes]
            total = sum(raw)
            scores = {c: round(v / total, 4) for c, v in zip(classes, raw)}
            events.append({"features": {"weight": round(weight, 3)}, "scores": scores, "label": label})
        self.post("animals", "predictions", events)

    def phase(self, drifted, rounds):
        for _ in range(rounds):
            self.demo(100, drifted)
            self.price(70, drifted)
            self.animals(70, drifted)


# ---------------------------------------------------------------------------------------------- sinks

class Webhook(BaseHTTPRequestHandler):
    payloads = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Webhook.payloads.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


# ---------------------------------------------------------------------------------------------- config

def modelwatch_config(port, state=None, interval="1s"):
    state_section = f'[server.state]\npath = "{state}"\nsnapshot_interval = "{interval}"\n' if state else ""
    return f"""
[server]
listen = "127.0.0.1:{port}"
{state_section}
[[model]]
name = "demo"
task = "binary_classification"
[model.reference]
warmup = 300
[model.drift]
interval = "1s"
[model.alerts]
accuracy_min = 0.95
roc_auc_min = 0.6
latency_p95_max_ms = 1000
error_rate_max = 0.5
missing_ratio_max = 0.2
[[model.window]]
name = "last_300"
events = 300
[[model.window]]
name = "10m"
duration = "10m"
[[model.feature]]
name = "amount"
type = "numeric"
[[model.feature]]
name = "country"
type = "categorical"
[[model.feature]]
name = "tenure"
type = "numeric"

[[model]]
name = "price"
task = "regression"
[model.reference]
moving = true
[model.drift]
interval = "1s"
[model.alerts]
mae_max = 100
rmse_max = 100
[[model.window]]
name = "last_200"
events = 200
[[model.feature]]
name = "size"
type = "numeric"
[[model.feature]]
name = "city"
type = "categorical"

[[model]]
name = "animals"
task = "multiclass_classification"
classes = ["cat", "dog", "bird"]
[model.reference]
warmup = 200
[model.drift]
interval = "1s"
[model.alerts]
f1_min = 0.5
[[model.window]]
name = "last_200"
events = 200
[[model.feature]]
name = "weight"
type = "numeric"
"""


def prometheus_config(mw, am, out_dir):
    with open(os.path.join(ROOT, "prometheus.yml")) as f:
        text = f.read()
    for old, new in [("modelwatch:8090", f"127.0.0.1:{mw}"), ("alertmanager:9093", f"127.0.0.1:{am}")]:
        assert old in text, f"prometheus.yml no longer mentions {old}"
        text = text.replace(old, new)
    text = re.sub(r"(scrape_interval|evaluation_interval): \S+", r"\1: 1s", text)
    os.makedirs(os.path.join(out_dir, "config"), exist_ok=True)
    shutil.copy(os.path.join(ROOT, "config", "recording_rules.yml"), os.path.join(out_dir, "config"))
    run([sys.executable, os.path.join(ROOT, "tests", "e2e", "fast_rules.py"),
         os.path.join(ROOT, "config", "alert_rules.yml"), os.path.join(out_dir, "config", "alert_rules.yml")])
    path = os.path.join(out_dir, "prometheus.yml")
    with open(path, "w") as f:
        f.write(text)
    return path


def alertmanager_config(smtp, hook, out_dir):
    with open(os.path.join(ROOT, "alertmanager.yml")) as f:
        text = f.read()
    for old, new in [("mailpit:1025", f"127.0.0.1:{smtp}"),
                     ("http://retrainer:8080/alerts", f"http://127.0.0.1:{hook}/alerts")]:
        assert old in text, f"alertmanager.yml no longer mentions {old}"
        text = text.replace(old, new)
    text = re.sub(r"group_wait: \S+", "group_wait: 1s", text)
    text = re.sub(r"group_interval: \S+", "group_interval: 2s", text)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "alertmanager.yml")
    with open(path, "w") as f:
        f.write(text)
    return path


# ---------------------------------------------------------------------------------------------- checks

def prom_query(prom, expr):
    status, body = http("GET", f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert status == 200 and body["status"] == "success", (expr, status, body)
    return body["data"]["result"]


def firing(prom, alertname):
    _, body = http("GET", f"{prom}/api/v1/alerts")
    return [a for a in body["data"]["alerts"] if a["labels"]["alertname"] == alertname and a["state"] == "firing"]


def metric_value(base, name, labels):
    _, text = http("GET", f"{base}/metrics")
    want = [f'{k}="{v}"' for k, v in labels.items()]
    for line in text.splitlines():
        if line.startswith(name + "{") and all(w in line for w in want):
            return float(line.rsplit(" ", 1)[1])
    return None


def persistence(port_base):
    """SIGTERM loses nothing; kill -9 loses at most the events of the last snapshot interval."""
    state = os.path.join(WORK, "state", "state.bin")
    port = free_port()
    cfg = os.path.join(WORK, "persist.toml")
    with open(cfg, "w") as f:
        f.write(modelwatch_config(port, state=state, interval="1s"))
    base = f"http://127.0.0.1:{port}"

    def boot():
        p = start("modelwatch-persist", [BIN, "serve", "--config", cfg])
        wait_until("persistence instance ready", lambda: http("GET", f"{base}/readyz")[0] == 200, 30)
        return p

    def total():
        return metric_value(base, "modelwatch_predictions_total", {"model": "demo"})

    p = boot()
    traffic = Traffic(base, seed=11)
    traffic.demo(400, False)
    before = metric_value(base, "modelwatch_window_samples", {"model": "demo", "window": "last_300"})
    stop(p, signal.SIGTERM)
    p = boot()
    assert total() == 400, f"after SIGTERM: {total()} predictions, expected 400"
    after = metric_value(base, "modelwatch_window_samples", {"model": "demo", "window": "last_300"})
    assert after == before, f"window samples {before} -> {after} across SIGTERM"
    print("  SIGTERM: 400 of 400 predictions and every window sample kept")
    traffic.demo(100, False)
    time.sleep(2.5)  # at least one snapshot interval (1 s) passes
    traffic.demo(50, False)
    stop(p, signal.SIGKILL)
    p = boot()
    kept = total()
    assert 500 <= kept <= 550, f"after kill -9: {kept} predictions, expected 500 to 550"
    print(f"  kill -9: {kept} of 550 predictions kept (at most one 1 s interval may be lost)")
    stop(p, signal.SIGTERM)


def main():
    for tool in ["prometheus", "promtool", "prometheus-alertmanager", "amtool"]:
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed; run tests/e2e/run.sh, which installs it")
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} does not exist; build it with `cargo build`")
    mw, prom_port, am, smtp, hook = (free_port() for _ in range(5))
    prom, amurl, base = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am}", f"http://127.0.0.1:{mw}"

    step("validators on the shipped files")
    run(["promtool", "check", "config", "prometheus.yml"], cwd=ROOT)
    run(["promtool", "check", "rules", "config/recording_rules.yml", "config/alert_rules.yml"], cwd=ROOT)
    run(["promtool", "test", "rules", "tests/prometheus/alerts.test.yml"], cwd=ROOT)
    run(["amtool", "check-config", "alertmanager.yml"], cwd=ROOT)

    step("starting modelwatch, the SMTP and webhook sinks, Alertmanager and Prometheus")
    cfg = os.path.join(WORK, "modelwatch.toml")
    with open(cfg, "w") as f:
        f.write(modelwatch_config(mw))
    run([BIN, "check-config", cfg])
    start("modelwatch", [BIN, "serve", "--config", cfg], env=dict(os.environ, RUST_LOG="info"))
    mail_dir = os.path.join(WORK, "mail")
    start("smtp", ["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp}",
                   "-c", "smtp_sink.MailDir", mail_dir],
          env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tests", "e2e")))
    webhook = ThreadingHTTPServer(("127.0.0.1", hook), Webhook)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()
    am_cfg = alertmanager_config(smtp, hook, os.path.join(WORK, "am"))
    run(["amtool", "check-config", am_cfg])
    start("alertmanager", ["prometheus-alertmanager", f"--config.file={am_cfg}",
                           f"--storage.path={os.path.join(WORK, 'am-data')}",
                           f"--web.listen-address=127.0.0.1:{am}", "--cluster.listen-address="])
    prom_cfg = prometheus_config(mw, am, os.path.join(WORK, "prom"))
    run(["promtool", "check", "config", prom_cfg])
    start("prometheus", ["prometheus", f"--config.file={prom_cfg}",
                         f"--storage.tsdb.path={os.path.join(WORK, 'prom-data')}",
                         f"--web.listen-address=127.0.0.1:{prom_port}", "--web.enable-lifecycle"])
    for url in [f"{base}/readyz", f"{amurl}/-/ready", f"{prom}/-/ready"]:
        wait_until(url, lambda u=url: http("GET", u)[0] == 200, 60)

    step("steady traffic: no drift alert may fire")
    traffic = Traffic(base)
    traffic.phase(drifted=False, rounds=6)
    wait_until("the target to be up", lambda: prom_query(prom, 'up{job="modelwatch"} == 1'), 60)
    wait_until("Prometheus to see the drift evaluation",
               lambda: prom_query(prom, 'modelwatch_drift_detected{model="demo", feature="amount"} == 0'), 60)
    time.sleep(4)
    for alert in ["FeatureDrift", "DatasetDrift"]:
        assert not [a for a in firing(prom, alert) if a["labels"]["model"] == "demo"], f"{alert} fired on steady traffic"
    print("  no drift alert on steady traffic")

    step("promtool check metrics on a real scrape")
    _, text = http("GET", f"{base}/metrics")
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    print("  " + (r.stdout + r.stderr).strip().replace("\n", "\n  ")[:2000])
    assert r.returncode == 0, "promtool check metrics failed"

    step("drifted traffic")
    keep_sending = threading.Event()

    def background():
        while not keep_sending.is_set():
            try:
                traffic.phase(drifted=True, rounds=1)
            except Exception as e:  # noqa: BLE001 - reported, not fatal, while the checks run
                print(f"  background traffic: {e}")
            time.sleep(0.5)

    traffic.phase(drifted=True, rounds=4)
    sender = threading.Thread(target=background, daemon=True)
    sender.start()
    try:
        alerts = wait_until("FeatureDrift on demo/amount to fire in Prometheus",
                            lambda: [a for a in firing(prom, "FeatureDrift")
                                     if a["labels"]["model"] == "demo" and a["labels"]["feature"] == "amount"], 90)
        print(f"  Prometheus: {alerts[0]['labels']}")
        wait_until("FeatureDrift to reach Alertmanager",
                   lambda: [a for a in http("GET", f"{amurl}/api/v2/alerts")[1]
                            if a["labels"]["alertname"] == "FeatureDrift" and a["labels"].get("feature") == "amount"], 60)
        print("  Alertmanager has it")

        def mail():
            if not os.path.isdir(mail_dir):
                return None
            for name in sorted(os.listdir(mail_dir)):
                with open(os.path.join(mail_dir, name), errors="replace") as f:
                    content = f.read()
                if "FeatureDrift" in content and "demo" in content and "amount" in content:
                    return name, content
            return None

        name, content = wait_until("an email about FeatureDrift naming demo and amount", mail, 90)
        subject = re.search(r"^Subject: (.*)$", content, re.M)
        print(f"  email {name}: {subject.group(1) if subject else '(no subject line)'}")
        hooks = wait_until("the retraining webhook to receive FeatureDrift",
                           lambda: [p for p in Webhook.payloads
                                    if any(a["labels"]["alertname"] == "FeatureDrift" for a in p["alerts"])], 60)
        print(f"  webhook payload: status={hooks[0]['status']} alerts={len(hooks[0]['alerts'])} "
              f"groupLabels={hooks[0]['groupLabels']}")

        step("every dashboard query parses and returns data")
        wait_until("ALERTS to be queryable", lambda: prom_query(prom, 'ALERTS{alertstate="firing"}'), 30)
        sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
        import check_dashboards
        failures = check_dashboards.check(os.path.join(ROOT, "grafana", "dashboards"), prom)
        for f in failures:
            print("  FAIL", f)
        assert not failures, f"{len(failures)} dashboard queries failed"
    finally:
        keep_sending.set()
        sender.join(10)

    step("state snapshots: SIGTERM and kill -9")
    persistence(base)
    step("end-to-end suite passed")


if __name__ == "__main__":
    import urllib.parse  # noqa: E402 - used by prom_query
    ok = False
    try:
        main()
        ok = True
    except Exception as e:  # noqa: BLE001 - any failure fails the suite, with the logs
        print(f"FAILED: {type(e).__name__}: {e}", flush=True)
    finally:
        stop_all()
        if not ok:
            dump_logs()
        shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(0 if ok else 1)
