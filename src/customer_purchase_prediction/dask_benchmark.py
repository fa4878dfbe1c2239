"""Benchmark of scale-out scoring: memory stays flat as the batch grows.

    python -m customer_purchase_prediction.dask_benchmark PROJECT --sizes 5000000 \
        --pandas-sizes 1000000

With ``--train-sizes 10000000`` it also trains on that many labelled
sessions in partitions (``kedro run --env=dask``, every training pipeline);
``--train-params`` adds run-time parameters to that run, e.g. a smaller search
or only XGBoost enabled (so that its ``xgboost.dask`` refit is what is timed),
and the result line repeats them. A training line also gives the seconds of
each phase (``TRAINING_PHASES``), from the times Kedro logs each node done.

``PROJECT`` is a trained project folder. For each size, sessions are generated
partition by partition (``write_partitions``: the generator never holds more
than one partition) and scored with ``kedro run --env=dask``; the pandas path
scores one file of each ``--pandas-sizes`` size. Wall time, rows/s and the
peak resident memory of the whole process tree (the kedro process and every
worker, sampled with psutil) are written as one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from customer_purchase_prediction.columns import ID_COLUMN
from customer_purchase_prediction.synthetic import generate_sessions, write_frame

PARTITION_ROWS = 500_000
SAMPLE_S = 0.2
# Kedro's line as each node ends (kedro.runner, at INFO in conf/logging.yml).
COMPLETED = "Completed node: "
# The training run's nodes by phase; every other node counts as reporting
# (calibration, selection, test, packaging, registration, reports).
TRAINING_PHASES = {
    "validation": ("validate_training_sessions", "build_data_quality_report"),
    "sample_and_split": ("check_training_data", "split_sessions"),
    "feature_statistics": ("fit_feature_transformer", "build_feature_table"),
    "search": ("tune_candidates",),
    "refit": ("fit_candidates",),
}


def write_partitions(
    folder: Path,
    rows: int,
    *,
    partition_rows: int = PARTITION_ROWS,
    seed: int = 7,
    labelled: bool = False,
) -> list[Path]:
    """``rows`` unlabelled sessions as Parquet files of ``partition_rows`` each.

    Each partition is generated on its own, with its own seed and id range, so
    ids are distinct across partitions except the generator's own repeats.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for part, start in enumerate(range(0, rows, partition_rows)):
        size = min(partition_rows, rows - start)
        raw, _ = generate_sessions(
            size, seed + part, labelled=labelled, id_start=1_000_000 + start
        )
        path = folder / f"part-{part:05d}.parquet"
        write_frame(raw, path)
        written.append(path)
    return written


def peak_tree_rss(process: psutil.Process, stop: threading.Event) -> list[int]:
    """Sample the summed RSS of ``process`` and its descendants until ``stop``."""
    peak = [0]

    def sample() -> None:
        while not stop.is_set():
            total = 0
            with_children = [process]
            try:
                with_children += process.children(recursive=True)
            except psutil.Error:
                pass
            for each in with_children:
                try:
                    total += each.memory_info().rss
                except psutil.Error:
                    continue
            peak[0] = max(peak[0], total)
            stop.wait(SAMPLE_S)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    return peak


def node_seconds(lines: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds of each node from the times its "Completed node" line arrived:
    since the node before ended (the first: since the run started, so Kedro's
    and the cluster's start-up count in it). Kedro's runner runs one node at a
    time, so these add up to the run's wall time but for its tail."""
    seconds: dict[str, float] = {}
    before = 0.0
    for at, line in lines:
        if COMPLETED not in line:
            continue
        name = line.split(COMPLETED, 1)[1].split()[0]
        seconds[name] = round(at - before, 2)
        before = at
    return seconds


def phase_seconds(nodes: dict[str, float]) -> dict[str, float]:
    """``node_seconds`` summed by ``TRAINING_PHASES`` (the rest: reporting)."""
    phase_of = {n: phase for phase, names in TRAINING_PHASES.items() for n in names}
    phases = dict.fromkeys([*TRAINING_PHASES, "reporting"], 0.0)
    for name, seconds in nodes.items():
        phase = phase_of.get(name, "reporting")
        phases[phase] = round(phases[phase] + seconds, 2)
    return phases


def exit_status(returncode: int) -> str:
    """A process's return code in words: ``exit 1`` or ``killed by SIGKILL``."""
    if returncode >= 0:
        return f"exit {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"


def run_kedro(project: Path, arguments: list[str]) -> dict[str, Any]:
    """``kedro run ARGUMENTS`` in ``project``: wall seconds, peak tree RSS and
    the seconds of each node (``node_seconds``)."""
    kedro = Path(sys.executable).with_name("kedro")
    # A wide console, so that Kedro's rich log lines are not wrapped; a fatal
    # signal in the kedro process (a crash in native code) prints its Python
    # stacks instead of ending it without a word.
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "COLUMNS": "400",
        "PYTHONFAULTHANDLER": "1",
    }
    started = time.perf_counter()
    process = psutil.Popen(
        [str(kedro), "run", *arguments],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    stop = threading.Event()
    peak = peak_tree_rss(process, stop)
    lines = [
        (time.perf_counter() - started, raw.decode(errors="replace"))
        for raw in process.stdout
    ]
    process.wait()
    stop.set()
    seconds = time.perf_counter() - started
    measured = {
        "wall_s": round(seconds, 2),
        "peak_rss_gib": round(peak[0] / 2**30, 3),
        "node_s": node_seconds(lines),
    }
    if process.returncode != 0:
        measured["exit"] = exit_status(process.returncode)
        output = "".join(line for _, line in lines)
        # The whole output (a failure's cause may be far from the end) and
        # what was measured up to it.
        log = project / "data/08_reporting/dask_benchmark_failed_run.log"
        log.write_text(output)
        sys.stderr.write(output[-4000:])
        sys.stderr.write(json.dumps({"failed": arguments, **measured}) + "\n")
        raise SystemExit(
            f"kedro run {' '.join(arguments)} failed ({measured['exit']}); "
            f"output in {log}"
        )
    return measured


def bench_dask(project: Path, rows: int) -> dict[str, object]:
    """Score ``rows`` generated sessions in partitions with ``--env=dask``."""
    folder = project / "data/01_raw" / f"bench_{rows}"
    write_partitions(folder, rows)
    out = f"data/07_model_output/bench_{rows}"
    measured = run_kedro(
        project,
        [
            "--env=dask",
            "--pipelines=inference",
            f"--params=inference_input_path={folder},inference_output_path={out}",
        ],
    )
    summary = json.loads((project / f"{out}_summary.json").read_text())
    return {"path": "dask", "rows": rows, **measured, "summary_rows": summary["rows"]}


def bench_training(
    project: Path, rows: int, extra_params: str = ""
) -> dict[str, object]:
    """Train (``kedro run --env=dask``, every training pipeline) on ``rows``
    generated labelled sessions in partitions, with ``extra_params`` (``k=v``
    pairs, comma-separated) added to the run's parameters."""
    folder = project / "data/01_raw" / f"bench_train_{rows}"
    started = time.perf_counter()
    write_partitions(folder, rows, labelled=True)
    generation = round(time.perf_counter() - started, 2)
    params = ",".join(filter(None, [f"raw_sessions_path={folder}", extra_params]))
    measured = run_kedro(project, ["--env=dask", f"--params={params}"])
    card = project / "data/08_reporting/model_card.md"
    fitted = [
        line for line in card.read_text().splitlines() if "**Fitted on:**" in line
    ]
    metrics = json.loads((project / "data/08_reporting/model_metrics.json").read_text())
    return {
        "path": "dask-train",
        "rows": rows,
        "params": params,
        **measured,
        "phase_s": {"generation": generation, **phase_seconds(measured["node_s"])},
        "rows_per_s": round(rows / float(measured["wall_s"])),
        "selected_model": metrics["selected_model"],
        "threshold": metrics.get("threshold"),
        "fitted_on": fitted[0] if fitted else None,
    }


def bench_pandas(project: Path, rows: int) -> dict[str, object]:
    """Score one Parquet file of ``rows`` generated sessions, the pandas path."""
    path = project / "data/01_raw" / f"bench_{rows}.parquet"
    raw, _ = generate_sessions(rows, 7, labelled=False)
    write_frame(raw, path)
    del raw
    out = f"data/07_model_output/bench_{rows}.parquet"
    measured = run_kedro(
        project,
        [
            "--pipelines=inference",
            f"--params=inference_input_path={path},inference_output_path={out}",
        ],
    )
    rows_out = len(pd.read_parquet(project / out, columns=[ID_COLUMN]))
    return {"path": "pandas", "rows": rows, **measured, "scored": rows_out}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; one JSON line per run on standard output."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--sizes", type=int, nargs="*", default=[5_000_000])
    parser.add_argument("--pandas-sizes", type=int, nargs="*", default=[1_000_000])
    parser.add_argument(
        "--train-sizes",
        type=int,
        nargs="*",
        default=[],
        help="also train with --env=dask on this many labelled sessions",
    )
    parser.add_argument(
        "--train-params",
        default="",
        help="run-time parameters added to the training run, e.g. "
        "modelling.search.n_candidates=4 (comma-separated key=value pairs)",
    )
    arguments = parser.parse_args(argv)
    for rows in arguments.pandas_sizes:
        result = bench_pandas(arguments.project, rows)
        result["rows_per_s"] = round(rows / float(result["wall_s"]))
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    for rows in arguments.sizes:
        result = bench_dask(arguments.project, rows)
        result["rows_per_s"] = round(rows / float(result["wall_s"]))
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    for rows in arguments.train_sizes:
        result = bench_training(arguments.project, rows, arguments.train_params)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
