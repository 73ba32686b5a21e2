"""What one `log_prediction` call costs the caller, per call, while the background thread is sending.

    python bench/log_prediction.py --url http://127.0.0.1:8090 --model fraud

Each call is timed on its own with `time.perf_counter_ns` (the figures include the timer's own cost,
printed too), in rounds of 20,000 calls for each shape of features; the percentiles are over all calls
of all rounds. `timeit` figures (the mean of 1,000 back-to-back calls, median over rounds) are printed
alongside. Point it at a live modelwatch (`modelwatch serve`) to include the sender's competition for
the GIL; the model needs numeric features `amount` and `age`.
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
from typing import Any

import numpy as np
import pandas as pd

from modelwatch import Monitor


def percentiles(samples: list[int]) -> str:
    samples.sort()
    at = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))] / 1000  # noqa: E731
    return f"p50 {at(0.50):.2f} µs  p90 {at(0.90):.2f} µs  p99 {at(0.99):.2f} µs"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8090")
    parser.add_argument("--model", default="fraud")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()

    mw = Monitor(args.url, model=args.model, feature_names=["amount", "age"])
    shapes: dict[str, Any] = {
        "dict of floats": {"amount": 12.5, "age": 31.0},
        "numpy row": np.array([12.5, 31.0]),
        "pandas row": pd.DataFrame({"amount": [12.5], "age": [31.0]}).iloc[0],
    }
    now = time.perf_counter_ns
    overhead = []
    for _ in range(args.calls):
        t0 = now()
        overhead.append(now() - t0)
    print(f"timer alone: {percentiles(overhead)}")
    for name, features in shapes.items():
        samples: list[int] = []
        for r in range(args.rounds):
            for i in range(args.calls):
                t0 = now()
                mw.log_prediction(id=f"{name[0]}{r}-{i}", features=features, score=0.93, latency_ms=4.2)
                samples.append(now() - t0)
            mw.flush(timeout=60)  # keep the queue from filling between rounds
        timer = timeit.Timer(
            "mw.log_prediction(features=features, score=0.93, latency_ms=4.2)",
            globals={"mw": mw, "features": features},
        )
        means = [t / 1000 * 1e6 for t in timer.repeat(repeat=args.rounds, number=1000)]
        print(f"log_prediction, {name}: {percentiles(samples)}; "
              f"timeit median of means {statistics.median(means):.2f} µs")
    label_samples: list[int] = []
    for i in range(args.calls):
        t0 = now()
        mw.log_label(id=f"d0-{i}", label=1)
        label_samples.append(now() - t0)
    print(f"log_label: {percentiles(label_samples)}")
    mw.flush(timeout=60)
    print(mw.stats())
    mw.close()


if __name__ == "__main__":
    main()
