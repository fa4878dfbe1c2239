"""Benchmark of scale-out scoring: memory stays flat as the batch grows.

    python -m customer_purchase_prediction.dask_benchmark PROJECT --sizes 5000000 \
        --pandas-sizes 1000000

With ``--train-sizes 10000000`` it also trains on that many labelled
sessions in partitions (``kedro run --env=dask``, every training pipeline).

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
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import psutil

from customer_purchase_prediction.columns import ID_COLUMN
from customer_purchase_prediction.synthetic import generate_sessions, write_frame

PARTITION_ROWS = 500_000
SAMPLE_S = 0.2


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


def run_kedro(project: Path, arguments: list[str]) -> dict[str, float]:
    """``kedro run ARGUMENTS`` in ``project``: wall seconds and peak tree RSS."""
    kedro = Path(sys.executable).with_name("kedro")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    started = time.perf_counter()
    process = psutil.Popen(
        [str(kedro), "run", *arguments],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    stop = threading.Event()
    peak = peak_tree_rss(process, stop)
    _, error = process.communicate()
    stop.set()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.stderr.write(error.decode(errors="replace")[-4000:])
        raise SystemExit(f"kedro run {' '.join(arguments)} failed")
    return {"wall_s": round(seconds, 2), "peak_rss_gib": round(peak[0] / 2**30, 3)}


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


def bench_training(project: Path, rows: int) -> dict[str, object]:
    """Train (``kedro run --env=dask``, every training pipeline) on ``rows``
    generated labelled sessions in partitions."""
    folder = project / "data/01_raw" / f"bench_train_{rows}"
    write_partitions(folder, rows, labelled=True)
    measured = run_kedro(
        project, ["--env=dask", f"--params=raw_sessions_path={folder}"]
    )
    card = project / "data/08_reporting/model_card.md"
    fitted = [
        line for line in card.read_text().splitlines() if "**Fitted on:**" in line
    ]
    metrics = json.loads((project / "data/08_reporting/model_metrics.json").read_text())
    return {
        "path": "dask-train",
        "rows": rows,
        **measured,
        "selected_model": metrics["selected_model"],
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
        result = bench_training(arguments.project, rows)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
