#!/usr/bin/env python3
"""Peer comparison: modelwatch's drift evaluation beside scipy and Evidently, on the same data.

One run of this script
  1. generates a seeded data set (numpy): `--features` numeric columns of `--n` values per side, the
     reference drawn from N(0, 1) and the current sample shifted or rescaled per column, so that some
     columns do not drift, some drift slightly and some clearly; the last two columns are integer counts
     (Poisson) with many ties;
  2. writes both samples as header-less little-endian f64, column-major, for the Rust example;
  3. times scipy.stats.ks_2samp(reference, current) over the columns;
  4. times Evidently's DataDriftPreset report on the same columns as pandas DataFrames (unless
     --skip-evidently);
  5. runs `examples/drift_eval.rs` (release build), which times modelwatch's per-column statistics and
     a full `Model::evaluate_drift` on the same files, once with every core and once pinned to one core
     (unless --no-single-core);
  6. checks that modelwatch's KS statistics and p-values equal scipy's, and prints a table.

Every time quoted is a median of repeated runs; the table also shows the fastest run.

    python bench/peers/compare.py [--n 100000] [--features 20] [--repeat 3] [--skip-evidently]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy
from scipy.stats import ks_2samp

REPO = Path(__file__).resolve().parents[2]
# The example builds where cargo would build it (CARGO_TARGET_DIR, or the repository's `target/`);
# --target-dir picks another directory, so that the run never waits on the cargo lock of another build.
DEFAULT_TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))

# modelwatch against scipy: statistic to 1e-12 absolute; p-value to 1e-6 relative, or 1e-12 absolute
# when scipy's p-value is below 1e-300 (there both sides are at the edge of underflow).
STAT_ABS = 1e-12
P_REL = 1e-6
P_TINY = 1e-300
P_TINY_ABS = 1e-12


def column_plan(features: int) -> list[tuple[str, float, float]]:
    """(kind, shift, scale) of each column of the current sample; the reference is always unshifted.

    The mix is meant to look like a real drift check: most features steady, a few with a drift too small
    to matter, a few that clearly moved (in location or in spread), and integer-valued counts with ties.
    With 100k values per side a shift of 0.01 sd is near the limit of what KS detects.
    """
    normal = [
        ("normal", 0.0, 1.0),
        ("normal", 0.0, 1.0),
        ("normal", 0.0, 1.0),
        ("normal", 0.0, 1.0),
        ("normal", 0.0, 1.0),
        ("normal", 0.0, 1.0),
        ("normal", 0.005, 1.0),
        ("normal", 0.01, 1.0),
        ("normal", 0.01, 1.0),
        ("normal", 0.02, 1.0),
        ("normal", 0.03, 1.0),
        ("normal", 0.05, 1.0),
        ("normal", 0.05, 1.0),
        ("normal", 0.1, 1.0),
        ("normal", 0.2, 1.0),
        ("normal", 0.0, 1.05),
        ("normal", 0.0, 1.2),
        ("normal", 0.5, 1.0),
    ]
    # Counts: a steady one and one whose rate went up by 3 %.
    counts = [("poisson", 0.0, 1.0), ("poisson", 0.09, 1.0)]
    if features <= len(counts):
        return counts[:features]
    body = features - len(counts)
    # Other widths repeat the pattern of the normal columns.
    return [normal[i % len(normal)] for i in range(body)] + counts


def generate(n: int, features: int, seed: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Two (features, n) float64 arrays: reference and current."""
    rng = np.random.default_rng(seed)
    plan = column_plan(features)
    reference = np.empty((features, n), dtype=np.float64)
    current = np.empty((features, n), dtype=np.float64)
    for i, (kind, shift, scale) in enumerate(plan):
        if kind == "poisson":
            # Rate 3 gives ~10 distinct values: nearly every value is tied with thousands of others.
            reference[i] = rng.poisson(3.0, n)
            current[i] = rng.poisson(3.0 + shift, n)
        else:
            reference[i] = rng.standard_normal(n)
            current[i] = rng.standard_normal(n) * scale + shift
    return reference, current, plan


def write_samples(directory: Path, reference: np.ndarray, current: np.ndarray) -> None:
    # Row i of a C-ordered (features, n) array is column i, so the file is column-major as the example
    # expects; '<f8' makes it little-endian whatever the host.
    reference.astype("<f8").tofile(directory / "reference.f64")
    current.astype("<f8").tofile(directory / "current.f64")


def time_repeated(repeat: int, fn) -> tuple[list[float], object]:
    """Times `fn()` `repeat` times; returns the seconds of each run and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def run_scipy(reference: np.ndarray, current: np.ndarray, repeat: int):
    # ks_2samp gets the unsorted samples, as a caller has them, and sorts them itself; one untimed call
    # first so no run pays for a first-use cost.
    ks_2samp(reference[0], current[0])

    def loop():
        return [ks_2samp(r, c) for r, c in zip(reference, current, strict=True)]

    times, results = time_repeated(repeat, loop)
    return times, [(float(r.statistic), float(r.pvalue)) for r in results]


def run_evidently(reference: np.ndarray, current: np.ndarray, repeat: int):
    """Times Evidently's default data-drift report (DataDriftPreset) on the same columns."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    names = [f"f{i}" for i in range(reference.shape[0])]
    ref_df = pd.DataFrame(dict(zip(names, reference, strict=True)))
    cur_df = pd.DataFrame(dict(zip(names, current, strict=True)))
    # The columns are declared numeric, as modelwatch's config declares them, so Evidently does not
    # spend time (or guess differently) inferring types; its own default test per column is kept.
    definition = DataDefinition(numerical_columns=names)

    def one():
        report = Report([DataDriftPreset()])
        # `run` computes every metric and returns the snapshot; turning it into a dict reads the
        # results, the least any caller does with a report.
        snapshot = report.run(
            Dataset.from_pandas(cur_df, data_definition=definition),
            Dataset.from_pandas(ref_df, data_definition=definition),
        )
        return snapshot.dict()

    times, result = time_repeated(repeat, one)
    # The first metric of the preset is the count of drifted columns.
    drifted = result["metrics"][0].get("value", {})
    import evidently

    return times, drifted, evidently.__version__


def build_example(target: Path) -> Path:
    env = dict(os.environ, CARGO_TARGET_DIR=str(target))
    subprocess.run(
        ["cargo", "build", "--release", "--example", "drift_eval"],
        cwd=REPO,
        env=env,
        check=True,
    )
    return target / "release" / "examples" / "drift_eval"


def run_modelwatch(binary: Path, directory: Path, features: int, runs: int, one_core: bool) -> dict:
    cmd = [str(binary), str(directory), "--features", str(features), "--runs", str(runs)]
    if one_core:
        # Rust's available_parallelism follows the CPU affinity mask, so under `taskset -c 0`
        # modelwatch judges the columns on one thread.
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def check_ks(label: str, scipy_ks, stats, pvalues) -> list[str]:
    """The columns where modelwatch's KS result differs from scipy's beyond the tolerances."""
    if not len(scipy_ks) == len(stats) == len(pvalues):
        return [f"{label}: {len(stats)} statistics and {len(pvalues)} p-values for {len(scipy_ks)} columns"]
    bad = []
    for i, ((d_sp, p_sp), d_mw, p_mw) in enumerate(zip(scipy_ks, stats, pvalues, strict=True)):
        d_mw = float("nan") if d_mw is None else d_mw
        p_mw = float("nan") if p_mw is None else p_mw
        d_ok = abs(d_mw - d_sp) <= STAT_ABS
        if p_sp < P_TINY:
            p_ok = abs(p_mw - p_sp) <= P_TINY_ABS
        else:
            p_ok = abs(p_mw - p_sp) <= P_REL * abs(p_sp)
        if not (d_ok and p_ok):
            bad.append(f"{label} f{i}: D {d_mw!r} vs scipy {d_sp!r}, p {p_mw!r} vs scipy {p_sp!r}")
    return bad


def max_p_rel_error(scipy_ks, pvalues) -> float:
    errs = [abs(p - sp) / sp for (_, sp), p in zip(scipy_ks, pvalues, strict=True) if sp >= P_TINY]
    return max(errs, default=0.0)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def threads(n: int) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


def load() -> str:
    """The 1/5/15-minute load averages: on a shared 2-core machine they tell a clean run from a noisy one."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="values per column and side")
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of scipy and Evidently")
    ap.add_argument("--mw-runs", type=int, default=10, help="timed runs of each modelwatch measurement")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--skip-evidently", action="store_true")
    ap.add_argument(
        "--no-single-core", action="store_true", help="skip the modelwatch run pinned to one core"
    )
    ap.add_argument("--target-dir", type=Path, default=DEFAULT_TARGET, help="cargo target directory")
    ap.add_argument("--binary", type=Path, help="a drift_eval binary already built (skips cargo)")
    ap.add_argument("--keep-data", type=Path, help="write the samples here and keep them")
    args = ap.parse_args()

    print(
        f"machine: {os.cpu_count()} cpus, {cpu_model()}; python {platform.python_version()}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}; load average {load()}",
        flush=True,
    )
    binary = args.binary or build_example(args.target_dir)

    reference, current, plan = generate(args.n, args.features, args.seed)
    tmp = None
    if args.keep_data:
        directory = args.keep_data
        directory.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="mw-peers-")
        directory = Path(tmp.name)
    write_samples(directory, reference, current)
    print(f"data: {args.features} columns x {args.n} values per side, seed {args.seed}", flush=True)

    # modelwatch first: its runs are short, and the Python runs after it do not heat up its caches.
    mw = run_modelwatch(binary, directory, args.features, args.mw_runs, one_core=False)
    mw1 = None
    if not args.no_single_core and shutil.which("taskset"):
        mw1 = run_modelwatch(binary, directory, args.features, args.mw_runs, one_core=True)

    sp_times, scipy_ks = run_scipy(reference, current, args.repeat)
    print(f"scipy ks_2samp: {[round(t, 4) for t in sp_times]} s", flush=True)

    ev = None
    if not args.skip_evidently:
        ev_times, drifted, ev_version = run_evidently(reference, current, args.repeat)
        ev = (ev_times, drifted, ev_version)
        print(f"evidently {ev_version}: {[round(t, 3) for t in ev_times]} s; drifted {drifted}", flush=True)

    if tmp is not None:
        tmp.cleanup()

    # --- correctness: modelwatch's KS against scipy's, on both paths -----------------------------------
    bad = check_ks("core", scipy_ks, mw["ks_statistic"], mw["ks_p_value"])
    bad += check_ks("full", scipy_ks, mw["full_ks_statistic"], mw["full_ks_p_value"])
    print("\ncolumn  kind     shift  scale   scipy D           scipy p            modelwatch p")
    for i, ((kind, shift, scale), (d, p)) in enumerate(zip(plan, scipy_ks, strict=True)):
        print(f"f{i:<6} {kind:<8} {shift:<6} {scale:<6} {d:<17.12g} {p:<18.10g} {mw['ks_p_value'][i]:.10g}")

    # --- timings ---------------------------------------------------------------------------------------
    base = mw["full_evaluation_s"]
    rows = [
        (
            f"modelwatch full evaluate_drift ({threads(mw['full_threads'])})",
            base,
            min(mw["full_evaluation_runs_s"]),
        ),
    ]
    rows.append(
        (
            f"  same, {mw['updates_between_evaluations']} new events merged first ({threads(mw['full_threads'])})",
            mw["full_evaluation_after_updates_s"],
            min(mw["full_evaluation_after_updates_runs_s"]),
        )
    )
    if mw1 is not None:
        rows.append(
            (
                f"modelwatch full evaluate_drift ({threads(mw1['full_threads'])}, taskset)",
                mw1["full_evaluation_s"],
                min(mw1["full_evaluation_runs_s"]),
            )
        )
    rows += [
        (
            "modelwatch statistics, presorted (1 thread)",
            mw["core_without_sort_s"],
            min(mw["core_without_sort_runs_s"]),
        ),
        ("modelwatch statistics + sort (1 thread)", mw["core_with_sort_s"], min(mw["core_with_sort_runs_s"])),
        ("scipy ks_2samp loop", statistics.median(sp_times), min(sp_times)),
    ]
    if ev is not None:
        rows.append((f"evidently {ev[2]} DataDriftPreset", statistics.median(ev[0]), min(ev[0])))

    print(
        f"\n{args.features} features, {mw['n_current']} current vs {mw['n_reference']} reference; "
        f"median of {args.repeat} runs (Python), {mw['runs']} runs (modelwatch)"
    )
    print(f"{'tool':<58} {'median s':>10} {'best s':>10} {'x mw full':>10}")
    for name, med, best in rows:
        print(f"{name:<58} {med:>10.5f} {best:>10.5f} {med / base:>10.1f}")

    sp_med = statistics.median(sp_times)
    print(f"\nscipy / modelwatch full ({threads(mw['full_threads'])}): {sp_med / base:.0f}x")
    print(
        f"scipy / modelwatch full after {mw['updates_between_evaluations']} new events "
        f"({threads(mw['full_threads'])}): {sp_med / mw['full_evaluation_after_updates_s']:.0f}x"
    )
    if mw1 is not None:
        print(f"scipy / modelwatch full (1 thread):  {sp_med / mw1['full_evaluation_s']:.0f}x")
    print(f"scipy / modelwatch statistics + sort (1 thread): {sp_med / mw['core_with_sort_s']:.0f}x")
    print(
        f"modelwatch setup, not timed above: reference CSV parse {mw['reference_parse_s']:.3f} s, "
        f"NDJSON parse + ingest {mw['current_parse_and_ingest_s']:.3f} s"
    )

    print(f"load average at the end: {load()}")

    if bad:
        print("\nKS MISMATCH against scipy:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    worst = max(max_p_rel_error(scipy_ks, mw["ks_p_value"]), max_p_rel_error(scipy_ks, mw["full_ks_p_value"]))
    print(
        f"KS check: all {len(scipy_ks)} statistics within {STAT_ABS:g} of scipy's, p-values within "
        f"{P_REL:g} relative (largest relative difference {worst:.2e}), on both modelwatch paths"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
