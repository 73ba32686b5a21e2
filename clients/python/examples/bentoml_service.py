"""A BentoML service that logs every prediction, and every label that comes back, to modelwatch.

    MODELWATCH_URL=http://127.0.0.1:8090 bentoml serve bentoml_service:Fraud --port 3000
"""

from __future__ import annotations

import os
import time
import uuid

import bentoml
import numpy as np

from fraud_model import FEATURES, train
from modelwatch import Monitor


@bentoml.service
class Fraud:
    def __init__(self) -> None:
        self.model = train()
        # One Monitor per worker process, created in the worker (never before a fork).
        self.mw = Monitor(
            os.environ.get("MODELWATCH_URL", "http://127.0.0.1:8090"),
            model=os.environ.get("MODELWATCH_MODEL", "fraud"),
            token=os.environ.get("MODELWATCH_TOKEN"),
            feature_names=FEATURES,
        )

    @bentoml.api
    def predict(self, amount: float, age: float) -> dict[str, object]:
        start = time.perf_counter()
        x = np.array([[amount, age]])
        score = float(self.model.predict_proba(x)[0, 1])
        req_id = uuid.uuid4().hex
        self.mw.log_prediction(id=req_id, features=x[0], score=score,
                               latency_ms=(time.perf_counter() - start) * 1000)
        return {"id": req_id, "score": score}

    @bentoml.api
    def feedback(self, id: str, label: int) -> dict[str, bool]:
        self.mw.log_label(id=id, label=label)
        return {"ok": True}

    @bentoml.on_shutdown
    def close(self) -> None:
        self.mw.close()  # sends what is still queued
