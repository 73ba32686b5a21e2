"""The examples in `examples/`, run for real: each serves the scikit-learn model, logs to a live
modelwatch, and modelwatch's metrics must match the same predictions scored by scikit-learn."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from conftest import MODEL, Server, free_port

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
N = 300

@pytest.fixture
def examples_on_path(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("MODELWATCH_URL", server.url)
    monkeypatch.setenv("MODELWATCH_MODEL", MODEL)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    yield server

def traffic() -> list[tuple[float, float, int]]:
    sys.path.insert(0, str(EXAMPLES))
    from fraud_model import synthetic

    x, y = synthetic(N, seed=1)
    return [(float(a), float(b), int(label)) for (a, b), label in zip(x, y)]

def check_modelwatch(server: Server, scores: list[float], labels: list[int]) -> None:
    """modelwatch got every prediction and label, and scores them as scikit-learn does."""
    deadline = time.monotonic() + 20
    while server.status()["counters"]["labels_total"] < N and time.monotonic() < deadline:
        time.sleep(0.1)
    status = server.status()
    assert status["counters"]["predictions_total"] == N
    assert status["counters"]["labels_total"] == N
    assert status["counters"]["rejected_events_total"] == {}
    metrics = status["windows"][0]["metrics"]
    predicted = [int(s >= 0.5) for s in scores]
    assert metrics["accuracy"] == pytest.approx(accuracy_score(labels, predicted), abs=1e-12)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert server.metric("modelwatch_prediction_latency_seconds_count", model=MODEL) == N

def test_fastapi_app(examples_on_path: Server) -> None:
    from fastapi.testclient import TestClient

    sys.modules.pop("fastapi_app", None)
    app_module: Any = importlib.import_module("fastapi_app")
    scores, labels = [], []
    with TestClient(app_module.app) as client:  # runs the lifespan: closing it closes the Monitor
        for amount, age, label in traffic():
            answer = client.post("/predict", json={"amount": amount, "age": age}).json()
            scores.append(answer["score"])
            labels.append(label)
            assert client.post("/feedback", json={"id": answer["id"], "label": label}).status_code == 200
    stats = app_module.mw.stats()
    assert stats.accepted == 2 * N and stats.rejected == {} and stats.dropped == {}
    check_modelwatch(examples_on_path, scores, labels)

def post_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())

def test_bentoml_service(examples_on_path: Server, tmp_path: Path) -> None:
    bentoml = Path(sys.executable).with_name("bentoml")
    if not bentoml.exists():
        pytest.fail("bentoml is not installed in this environment (clients/python/ci.sh installs it)")
    port = free_port()
    env = dict(os.environ, BENTOML_DO_NOT_TRACK="True", BENTOML_HOME=str(tmp_path / "bentoml"))
    log = open(tmp_path / "bentoml.log", "wb")
    proc = subprocess.Popen(
        [str(bentoml), "serve", "bentoml_service:Fraud", "--host", "127.0.0.1", "--port", str(port)],
        cwd=EXAMPLES, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, tmp_path / "bentoml.log")
        scores, labels = [], []
        for amount, age, label in traffic():
            answer = post_json(f"{base}/predict", {"amount": amount, "age": age})
            scores.append(answer["score"])
            labels.append(label)
            post_json(f"{base}/feedback", {"id": answer["id"], "label": label})
    finally:
        # SIGTERM to the server's process group: its shutdown hook closes the Monitor.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
    check_modelwatch(examples_on_path, scores, labels)

def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"bentoml exited with {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"bentoml did not become ready: {log.read_text()[-3000:]}")
