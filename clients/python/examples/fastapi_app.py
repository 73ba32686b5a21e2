"""A FastAPI model server that logs every prediction, and every label that comes back, to modelwatch.

    MODELWATCH_URL=http://127.0.0.1:8090 uvicorn fastapi_app:app --port 8000
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

from fraud_model import FEATURES, train
from modelwatch import Monitor

model = train()
mw = Monitor(
    os.environ.get("MODELWATCH_URL", "http://127.0.0.1:8090"),
    model=os.environ.get("MODELWATCH_MODEL", "fraud"),
    token=os.environ.get("MODELWATCH_TOKEN"),
    feature_names=FEATURES,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    mw.close()  # sends what is still queued


app = FastAPI(lifespan=lifespan)


class Transaction(BaseModel):
    amount: float
    age: float


class Feedback(BaseModel):
    id: str
    label: int


@app.post("/predict")
def predict(tx: Transaction) -> dict[str, object]:
    start = time.perf_counter()
    x = np.array([[tx.amount, tx.age]])
    score = float(model.predict_proba(x)[0, 1])
    req_id = uuid.uuid4().hex
    mw.log_prediction(id=req_id, features=x[0], score=score,
                      latency_ms=(time.perf_counter() - start) * 1000)
    return {"id": req_id, "score": score}


@app.post("/feedback")
def feedback(fb: Feedback) -> dict[str, bool]:
    mw.log_label(id=fb.id, label=fb.label)
    return {"ok": True}
