"""What the drift report costs next to scoring: ``python -m
customer_purchase_prediction.drift_benchmark --rows 1000000 --model FILE``.

Generates sessions, validates them once, then times, ``--repeat`` times each,
scoring the valid rows (``PurchaseModel.score``) and the inference pipeline's
drift step on them (``report_drift``: the report and its HTML page), and
prints the medians and the ratio as JSON. The model is an artifact file
(``--model``) that carries a reference profile.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from customer_purchase_prediction.contract import validate_sessions
from customer_purchase_prediction.drift import MonitoringParams
from customer_purchase_prediction.pipelines.monitoring.nodes import report_drift
from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.synthetic import generate_sessions


def _median_seconds(work: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(rows: int, *, model_path: Path, repeat: int = 3) -> dict[str, Any]:
    """Median seconds of scoring and of the drift step on ``rows`` sessions."""
    model = PurchasePredictor(model_path).model
    raw, _ = generate_sessions(rows, seed=1, labelled=False)
    result = validate_sessions(raw, labelled=False)
    scored = model.score(result.valid)
    read = {"source": "generated", "rows_in": result.rows_in}
    params = MonitoringParams()
    scoring = _median_seconds(lambda: model.score(result.valid), repeat)
    drift = _median_seconds(
        lambda: report_drift(
            result.valid, scored, result.rejects, read, model, params, "benchmark"
        ),
        repeat,
    )
    return {
        "rows": rows,
        "scored_rows": len(result.valid),
        "model": model.name,
        "scoring_seconds": round(scoring, 3),
        "drift_seconds": round(drift, 3),
        "drift_over_scoring": round(drift / scoring, 3),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m " + __spec__.name)  # type: ignore[name-defined]
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", type=Path, required=True, help="an artifact")
    args = parser.parse_args(argv)
    figures = measure(args.rows, model_path=args.model, repeat=args.repeat)
    sys.stdout.write(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
