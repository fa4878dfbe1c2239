"""Benchmarks that print figures: model quality, training cost, scoring speed.

Run from the project root (each builds a throw-away project copy under a
temporary folder and never touches ``data/``)::

    python -m customer_purchase_prediction.benchmarks quality --rows 1000 \\
        --train-seeds 1 2 3 4 5 6 7 8 9 10
    python -m customer_purchase_prediction.benchmarks training --rows 1000 100000 1000000
    python -m customer_purchase_prediction.benchmarks inference --rows 1000000
    python -m customer_purchase_prediction.benchmarks latency
    python -m customer_purchase_prediction.benchmarks explain --rows 1000000

Figures go to standard output as Markdown tables (the format of
``docs/performance.md``). They are measurements, not tests: nothing here
passes or fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import Version
from sklearn.metrics import roc_auc_score

from customer_purchase_prediction import treelite_adapter
from customer_purchase_prediction.artifact import ModelArtifactDataset, SkopsDataset
from customer_purchase_prediction.columns import ID_COLUMN, LABEL_COLUMN
from customer_purchase_prediction.contract import validate_sessions
from customer_purchase_prediction.explain import explain
from customer_purchase_prediction.model import PurchaseModel, pipeline_proba
from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.synthetic import generate_sessions
from customer_purchase_prediction.tuning import candidate_pipeline

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TRAINING = "data_processing,feature_engineering,modelling"
FRESH_SEED = 2024


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    quality = commands.add_parser(
        "quality", help="Brier, log-loss, AP, F1, ROC AUC next to the oracle"
    )
    quality.add_argument("--rows", type=int, nargs="+", default=[1_000, 10_000])
    quality.add_argument("--fresh-rows", type=int, default=20_000)
    quality.add_argument(
        "--train-seeds",
        type=int,
        nargs="+",
        default=[42],
        help="generator seeds of the training files (more seeds: how robust)",
    )
    quality.add_argument(
        "--params",
        nargs="*",
        default=[],
        help="extra kedro run parameters, e.g. modelling.class_weighting=false",
    )
    training = commands.add_parser("training", help="wall time and memory of kedro run")
    training.add_argument(
        "--rows", type=int, nargs="+", default=[1_000, 100_000, 1_000_000]
    )
    training.add_argument(
        "--pipelines", default=None, help="default: the whole training run"
    )
    inference = commands.add_parser("inference", help="batch scoring speed")
    inference.add_argument("--rows", type=int, default=1_000_000)
    inference.add_argument("--train-rows", type=int, default=1_000)
    latency = commands.add_parser("latency", help="one-record prediction latency")
    latency.add_argument("--calls", type=int, default=5_000)
    latency.add_argument("--train-rows", type=int, default=1_000)
    explaining = commands.add_parser(
        "explain", help="what reasons cost: one record and a batch, per model"
    )
    explaining.add_argument("--rows", type=int, default=1_000_000)
    explaining.add_argument("--calls", type=int, default=2_000)
    explaining.add_argument("--train-rows", type=int, default=1_000)
    args = parser.parse_args(argv)
    _print_machine()
    if args.command == "quality":
        bench_quality(args.rows, args.fresh_rows, args.train_seeds, args.params)
    elif args.command == "training":
        bench_training(args.rows, args.pipelines)
    elif args.command == "inference":
        bench_inference(args.rows, args.train_rows)
    elif args.command == "explain":
        bench_explain(args.rows, args.calls, args.train_rows)
    else:
        bench_latency(args.calls, args.train_rows)
    return 0


QUALITY_METRICS = ("brier", "log_loss", "ece", "average_precision", "f1", "roc_auc")
# The rules that can choose among selection's contenders (modelling.tie_break).
TIE_BREAKS = ("ensemble", "brier", "log_loss", "roc_auc")


def bench_quality(
    train_sizes: Sequence[int],
    fresh_rows: int,
    train_seeds: Sequence[int] = (42,),
    kedro_params: Sequence[str] = (),
) -> None:
    """Every model of each training run next to the oracle, on the same fresh rows.

    For each training file (a size and a generator seed): the selected model;
    the model selection would have chosen without the ensemble; each tuned,
    calibrated candidate (the ensemble included); each candidate with its
    default parameters and no calibration (wave 1's models); and the oracle
    (the generator's true probability). Brier, log-loss, expected calibration
    error, average precision, F1 at the model's own threshold and ROC AUC, with
    the mean prediction against the purchase rate. Then the calibration methods
    and the threshold rows compared on the same fitted models.
    """
    fresh, truth = generate_sessions(fresh_rows, FRESH_SEED, messy_fraction=0.0)
    fresh_valid = validate_sessions(fresh, labelled=True).valid
    y = fresh_valid[LABEL_COLUMN].to_numpy()
    true_proba = (
        truth.set_index(ID_COLUMN)
        .loc[fresh_valid[ID_COLUMN], "true_probability"]
        .to_numpy()
    )
    rows: list[dict[str, Any]] = []
    calibration_rows: list[dict[str, Any]] = []
    threshold_rows: list[dict[str, Any]] = []
    # The nodes' progress lines would drown the tables.
    logging.getLogger("kedro").setLevel(logging.WARNING)
    logging.getLogger("customer_purchase_prediction").setLevel(logging.WARNING)
    for size in train_sizes:
        for seed in train_seeds:
            catalog = train_in_memory(size, seed, kedro_params)
            run = quality_of_run(catalog, fresh_valid, y)
            sys.stderr.write(
                json.dumps({"rows": size, "seed": seed, **run}, default=str) + "\n"
            )
            oracle_threshold = _best_f1_threshold(y, true_proba)
            run["models"]["oracle"] = {
                "name": "oracle",
                **_quality(y, true_proba, oracle_threshold),
            }
            for model, figures in run["models"].items():
                rows.append({"rows": size, "seed": seed, "model": model, **figures})
            calibration_rows += [
                {"rows": size, "seed": seed, **r} for r in run["calibration"]
            ]
            threshold_rows += [
                {"rows": size, "seed": seed, **r} for r in run["thresholds"]
            ]
    rate = float(y.mean())
    title = f"{len(y):,} fresh rows (seed {FRESH_SEED}, purchase rate {rate:.4f})"
    _print_table(f"Quality per training file, on {title}", rows)
    _print_table("Quality: mean over training files", _means(rows, "model"))
    _print_table("Selected model against the candidates", _wins(rows))
    _print_table(
        "Selected model against the best uncalibrated candidate (one, fixed)",
        _against_fixed(rows),
    )
    _print_table(
        "Calibration methods (the same fitted models)",
        _means(calibration_rows, "candidate", "method"),
    )
    _print_table(
        "Threshold rows (the selected model)",
        _means(threshold_rows, "tuned on"),
    )


def train_in_memory(rows: int, seed: int, overrides: Sequence[str] = ()) -> Any:
    """The training pipelines on ``rows`` generated sessions (generator seed
    ``seed``), in this process, on a memory catalog that keeps every dataset.

    The same nodes and the project's ``conf/base`` parameters (with ``key=value``
    overrides) as ``kedro run``, without its hooks (tracking, registry), whose
    cost says nothing about the models. The data contract keeps the same rows
    as ``data_processing`` would.
    """
    from kedro.io import DataCatalog, MemoryDataset  # noqa: PLC0415
    from kedro.runner import SequentialRunner  # noqa: PLC0415
    from omegaconf import OmegaConf  # noqa: PLC0415

    from customer_purchase_prediction.business import (  # noqa: PLC0415
        BusinessParams,
    )
    from customer_purchase_prediction.params import (  # noqa: PLC0415
        DataProcessingParams,
        FeatureParams,
        ModellingParams,
    )
    from customer_purchase_prediction.pipelines import (  # noqa: PLC0415
        feature_engineering,
        modelling,
    )
    from customer_purchase_prediction.pipelines.data_processing import (  # noqa: PLC0415
        nodes as processing,
    )
    from customer_purchase_prediction.scale_out import (  # noqa: PLC0415
        NotPartitioned,
    )

    conf = OmegaConf.merge(
        *(
            OmegaConf.load(path)
            for path in sorted((PROJECT_ROOT / "conf/base").glob("parameters_*.yml"))
        ),
        OmegaConf.from_dotlist(list(overrides)),
    )
    params = OmegaConf.to_container(conf)
    raw, _ = generate_sessions(rows, seed)
    checked = validate_sessions(raw, labelled=True)
    quality = processing.build_data_quality_report(
        checked.valid,
        checked.rejects,
        {"source": "memory", "rows_in": len(raw), "ignored_columns": []},
        DataProcessingParams(),
    )

    class Kept(MemoryDataset):
        def _release(self) -> None:
            pass

    pipeline = feature_engineering.create_pipeline() + modelling.create_pipeline()
    catalog = DataCatalog(
        {name: Kept(copy_mode="assign") for name in pipeline.datasets()}
        | {
            "sessions": Kept(checked.valid, copy_mode="assign"),
            "data_quality_report": Kept(quality),
            "params:modelling": Kept(
                ModellingParams.model_validate(params["modelling"])
            ),
            "params:feature_engineering": Kept(
                FeatureParams.model_validate(params["feature_engineering"])
            ),
            "params:business": Kept(BusinessParams.model_validate(params["business"])),
            # Read by the dask environment only (conf/base: NotPartitioned).
            "training_rows": NotPartitioned(),
        }
    )
    SequentialRunner().run(pipeline, catalog)
    return catalog


def quality_of_run(catalog: Any, fresh: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
    """Every model of a training run (its catalog), scored on the fresh rows."""
    from customer_purchase_prediction.calibration import (  # noqa: PLC0415
        fit_calibrator,
    )
    from customer_purchase_prediction.evaluation import (  # noqa: PLC0415
        choose_candidate,
        tune_threshold,
    )

    params = catalog.load("params:modelling")
    business = catalog.load("params:business")
    fitted = catalog.load("candidate_models")
    calibrators = catalog.load("candidate_calibrators")
    selection = catalog.load("model_selection")
    # The selected model as package_model builds the artifact from these
    # (the same bits; independent of which version a registry calls current).
    name = selection.selected_model
    model = PurchaseModel(
        fitted[name],
        threshold=selection.thresholds[name],
        confidence_margins=(0.25, 0.1),
        metadata={"model_name": name},
        calibrator=calibrators[name],
    )
    tuning = catalog.load("candidate_tuning")
    oof = catalog.load("out_of_fold_predictions")
    validation = catalog.load("validation_sessions")
    models: dict[str, dict[str, Any]] = {
        "selected": {
            "name": model.name,
            **_quality(y, model.predict_proba(fresh), model.threshold),
        }
    }
    singles = {
        n: tuning[n].cv_dict() for n in tuning if n in params.searched_candidates()
    }
    alone, _ = choose_candidate(
        singles,
        params.selection_metric,
        params.cv_folds,
        within_standard_error=params.tie_break_within_standard_error,
        tie_break=params.tie_break,
    )
    raw = {n: pipeline_proba(n, p, fresh) for n, p in fitted.items()}
    models["selected without ensemble"] = {
        "name": alone,
        **_quality(
            y, calibrators[alone].transform(raw[alone]), selection.thresholds[alone]
        ),
    }
    # Each tie-break rule on the same fitted candidates: only the pick differs.
    for rule in TIE_BREAKS:
        picked, _ = choose_candidate(
            {n: tuning[n].cv_dict() for n in fitted},
            params.selection_metric,
            params.cv_folds,
            within_standard_error=params.tie_break_within_standard_error,
            tie_break=rule,
        )
        models[f"selected, tie-break {rule}"] = {
            "name": picked,
            **_quality(
                y,
                calibrators[picked].transform(raw[picked]),
                selection.thresholds[picked],
            ),
        }
    for name in fitted:
        models[f"tuned {name}"] = {
            "name": name,
            **_quality(
                y, calibrators[name].transform(raw[name]), selection.thresholds[name]
            ),
        }
    for name in params.searched_candidates():
        models[f"uncalibrated {name}"] = {
            "name": name,
            **_quality(y, raw[name], selection.thresholds[name]),
        }
    for name, proba, threshold in default_candidates(catalog, fresh):
        models[f"default {name}"] = {"name": name, **_quality(y, proba, threshold)}
    calibration, thresholds = [], []
    y_rows = np.concatenate([oof[LABEL_COLUMN].to_numpy(), validation[LABEL_COLUMN]])
    for name, pipeline in fitted.items():
        val_raw = pipeline_proba(name, pipeline, validation)
        rows_raw = np.concatenate([oof[name].to_numpy(), val_raw])
        for method in ("none", "sigmoid", "isotonic"):
            proba = fit_calibrator(method, rows_raw, y_rows).transform(raw[name])
            calibration.append(
                {
                    "candidate": name,
                    "method": method,
                    **_probability_quality(y, proba),
                }
            )
        if name != model.name:
            continue
        calibrator = calibrators[name]
        choices = {
            "validation": (validation[LABEL_COLUMN], calibrator.transform(val_raw)),
            "out_of_fold_and_validation": (y_rows, calibrator.transform(rows_raw)),
        }
        for rows_name, (labels, proba) in choices.items():
            threshold, _ = tune_threshold(
                np.asarray(labels), proba, "f1", params.threshold, business
            )
            fresh_proba = calibrator.transform(raw[name])
            thresholds.append(
                {
                    "tuned on": rows_name,
                    "threshold": threshold,
                    "f1": _quality(y, fresh_proba, threshold)["f1"],
                }
            )
    return {"models": models, "calibration": calibration, "thresholds": thresholds}


def default_candidates(
    catalog: Any, fresh: pd.DataFrame
) -> Iterator[tuple[str, np.ndarray, float]]:
    """Each searched candidate as wave 1 trained it: default parameters, classes
    weighted, uncalibrated, fitted on the same training part, with the F1
    threshold tuned on the validation part; its probabilities on ``fresh``."""
    from customer_purchase_prediction.evaluation import (  # noqa: PLC0415
        tune_threshold,
    )

    params = catalog.load("params:modelling").model_copy(
        update={"class_weighting": True}
    )
    train = catalog.load("train_sessions")
    validation = catalog.load("validation_sessions")
    transformer = catalog.load("feature_transformer")
    for name in params.searched_candidates():
        spec = params.candidate_params(name)
        pipeline = candidate_pipeline(
            name, spec.defaults, transformer, params, float(train[LABEL_COLUMN].mean())
        )
        pipeline.fit(train, train[LABEL_COLUMN].to_numpy())
        threshold, _ = tune_threshold(
            validation[LABEL_COLUMN].to_numpy(),
            pipeline_proba(name, pipeline, validation),
            "f1",
            params.threshold,
        )
        # Scored as the artifact scores, so the same model gets the same figures.
        yield name, pipeline_proba(name, pipeline, fresh), threshold


def _probability_quality(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    from customer_purchase_prediction.evaluation import (  # noqa: PLC0415
        probability_metrics,
    )

    return {
        **probability_metrics(y, proba),
        "roc_auc": float(roc_auc_score(y, proba)),
        "mean prediction - rate": float(np.mean(proba) - np.mean(y)),
    }


def _quality(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, Any]:
    from customer_purchase_prediction.evaluation import (  # noqa: PLC0415
        classification_metrics,
    )

    metrics = classification_metrics(y, proba, threshold)
    return {
        **{k: metrics[k] for k in QUALITY_METRICS},
        "mean prediction - rate": float(np.mean(proba) - np.mean(y)),
        "threshold": float(threshold),
    }


def _best_f1_threshold(y: np.ndarray, proba: np.ndarray) -> float:
    from customer_purchase_prediction.evaluation import (  # noqa: PLC0415
        tune_threshold,
    )
    from customer_purchase_prediction.params import ThresholdParams  # noqa: PLC0415

    return tune_threshold(y, proba, "f1", ThresholdParams())[0]


def _means(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    """Mean (and standard deviation) of each figure over seeds, per size and keys."""
    frame = pd.DataFrame(rows)
    figures = [
        c
        for c in frame.columns
        if c not in {"rows", "seed", "name", *keys}
        and pd.api.types.is_numeric_dtype(frame[c])
    ]
    out = []
    for group, part in frame.groupby(["rows", *keys], sort=False):
        row = dict(zip(["rows", *keys], group, strict=True))
        row["files"] = len(part)
        for figure in figures:
            row[figure] = float(part[figure].mean())
        for figure in ("roc_auc", "f1"):
            if figure in part and len(part) > 1:
                row[f"{figure} sd"] = float(part[figure].std(ddof=1))
        if "name" in part:
            counts = part["name"].value_counts()
            row["chosen"] = ", ".join(f"{k} {v}" for k, v in counts.items())
        out.append(row)
    return out


def _wins(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """On how many files each selection rule's model has a Brier below every
    default candidate's, a Brier and a log-loss at or below every tuned single
    candidate's (calibrated or not), and its mean prediction within 2 points."""
    frame = pd.DataFrame(rows)
    out = []
    for (size, model), part in frame.groupby(["rows", "model"], sort=False):
        if not str(model).startswith("selected"):
            continue
        counts = dict.fromkeys(("defaults", "brier", "log_loss", "within"), 0)
        for seed, mine in part.groupby("seed"):
            run = frame[(frame["rows"] == size) & (frame["seed"] == seed)]
            by_model = run.set_index("model")
            singles = by_model[
                by_model.index.str.match(r"^(tuned|uncalibrated) ")
                & (by_model.index != "tuned ensemble")
            ]
            defaults = by_model[by_model.index.str.startswith("default ")]["brier"]
            chosen = mine.iloc[0]
            counts["defaults"] += int(chosen["brier"] < defaults.min())
            counts["brier"] += int(chosen["brier"] <= singles["brier"].min())
            counts["log_loss"] += int(chosen["log_loss"] <= singles["log_loss"].min())
            gap = abs(chosen["mean prediction - rate"])
            counts["within"] += int(gap <= 0.02)  # noqa: PLR2004
        out.append(
            {
                "rows": size,
                "model": model,
                "files": len(part),
                "Brier below every default candidate": counts["defaults"],
                "Brier at or below every tuned single candidate": counts["brier"],
                "log-loss at or below every tuned single candidate": counts["log_loss"],
                "mean prediction within 2 points": counts["within"],
            }
        )
    return out


def _against_fixed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each selection rule's model against one fixed candidate per size: the
    tuned single candidate, uncalibrated, with the lowest mean Brier over the
    files; mean Brier and log-loss of both, and on how many files the selected
    model's is no worse."""
    frame = pd.DataFrame(rows)
    out = []
    for size, run in frame.groupby("rows", sort=False):
        uncalibrated = run[run["model"].str.startswith("uncalibrated ")]
        if uncalibrated.empty:
            continue
        best = uncalibrated.groupby("model")["brier"].mean().idxmin()
        fixed = run[run["model"] == best].set_index("seed")
        for model, part in run.groupby("model", sort=False):
            if not str(model).startswith("selected"):
                continue
            mine = part.set_index("seed")
            seeds = mine.index.intersection(fixed.index)
            out.append(
                {
                    "rows": size,
                    "model": model,
                    "against": best,
                    "files": len(seeds),
                    "brier": float(mine.loc[seeds, "brier"].mean()),
                    "its brier": float(fixed.loc[seeds, "brier"].mean()),
                    "log_loss": float(mine.loc[seeds, "log_loss"].mean()),
                    "its log_loss": float(fixed.loc[seeds, "log_loss"].mean()),
                    "files Brier no worse": int(
                        (mine.loc[seeds, "brier"] <= fixed.loc[seeds, "brier"]).sum()
                    ),
                    "files log-loss no worse": int(
                        (
                            mine.loc[seeds, "log_loss"] <= fixed.loc[seeds, "log_loss"]
                        ).sum()
                    ),
                }
            )
    return out


def bench_training(sizes: Sequence[int], pipelines: str | None) -> None:
    """Wall time and peak memory of the training run at each size."""
    rows = []
    for size in sizes:
        with project_copy() as project:
            started = time.perf_counter()
            raw, _ = generate_sessions(size, 42)
            raw.to_csv(project / "data/01_raw/bench_sessions.csv", index=False)
            generated = time.perf_counter() - started
            extra = ["--pipelines", pipelines] if pipelines else []
            seconds, peak = run_kedro(
                project,
                [
                    *extra,
                    "--params",
                    "raw_sessions_path=data/01_raw/bench_sessions.csv",
                ],
            )
            model = current_model(project)
        rows.append(
            {
                "rows": size,
                "kedro run wall (s)": seconds,
                "peak memory (GiB)": peak / 2**30,
                "selected": model.name,
                "data generation (s, not included)": generated,
            }
        )
    _print_table(
        f"Training: kedro run{' --pipelines=' + pipelines if pipelines else ''}", rows
    )


def bench_inference(size: int, train_rows: int) -> None:
    """End-to-end batch scoring, and the scoring step against the bare booster."""
    with project_copy() as project:
        train_in(project, train_rows)
        new, _ = generate_sessions(size, 7, labelled=False)
        new.to_csv(project / "data/01_raw/bench_new.csv", index=False)
        params = "inference_input_path=data/01_raw/bench_new.csv,inference_output_path=data/07_model_output/bench_predictions.csv"
        seconds, peak = run_kedro(
            project, ["--pipelines", "inference", "--params", params]
        )
        summary = json.loads(
            (project / "data/07_model_output/inference_summary.json").read_text()
        )
        selected = current_model(project)
        candidates = _load(project / "data/06_models/candidate_models.skops")
    valid = validate_sessions(new, labelled=False).valid
    rows = [
        {
            "rows in": summary["rows"]["in"],
            "scored": summary["rows"]["scored"],
            "rejected": summary["rows"]["rejected"],
            "selected model": selected.name,
            "kedro run --pipelines=inference wall (s)": seconds,
            "peak memory (GiB)": peak / 2**30,
        }
    ]
    _print_table(f"Batch scoring: {size:,} rows, end to end", rows)
    step_rows = []
    for name, pipeline in candidates.items():
        model = _bare_artifact(name, pipeline)
        step_s = _best_of(3, lambda model=model: model.predict_proba(valid))
        ready = model.features.transform(valid)
        # Like for like: the model's own fastest predict on the transformed rows
        # (the bare booster's inplace_predict for XGBoost).
        bare = model.scorer.bare(model.estimator)
        bare_s = _best_of(3, lambda bare=bare, ready=ready: bare(ready))
        step_rows.append(
            {
                "model": name + (" (selected)" if name == selected.name else ""),
                "scoring step (s)": step_s,
                "rows/s": len(valid) / step_s,
                "bare model predict (s)": bare_s,
                "throughput ratio (bare s / step s)": bare_s / step_s,
            }
        )
    _print_table(
        "Scoring step (transform + predict, rows in memory) vs each model's own "
        "bare predict on the transformed rows",
        step_rows,
    )


def _bare_artifact(name: str, pipeline: Any) -> PurchaseModel:
    """A candidate pipeline as an artifact (threshold 0.5), for timing it."""
    return PurchaseModel(
        pipeline,
        threshold=0.5,
        confidence_margins=(0.25, 0.1),
        metadata={"model_name": name},
    )


def bench_latency(calls: int, train_rows: int) -> None:
    """predict(dict) next to the artifact's plain scikit-learn predict_proba."""
    with project_copy() as project:
        train_in(project, train_rows)
        selected = current_model(project)
        candidates = _load(project / "data/06_models/candidate_models.skops")
    records = generate_sessions(calls, 11, labelled=False, messy_fraction=0.0)[0]
    records = (
        records.astype(object).where(records.notna(), None).to_dict(orient="records")
    )
    rows = []
    for name, pipeline in candidates.items():
        model = _bare_artifact(name, pipeline)
        predictor = PurchasePredictor(model)
        frames = [
            validate_sessions(pd.DataFrame([r]), labelled=False).valid
            for r in records[:500]
        ]
        ours = _latencies(lambda i: predictor.predict(records[i % len(records)]), calls)
        plain = _latencies(
            lambda i: pipeline.predict_proba(frames[i % len(frames)]), min(calls, 2_000)
        )
        matrices = [model.features.transform(frame) for frame in frames]
        floor = _latencies(
            lambda i: model.predict_proba_matrix(matrices[i % len(matrices)]), calls
        )
        # What treelite_adapter's private call buys: the same, through the
        # public treelite.gtil.predict.
        with _public_treelite():
            public = _latencies(
                lambda i: model.predict_proba_matrix(matrices[i % len(matrices)]),
                calls,
            )
        rows.append(
            {
                "model": name + (" (selected)" if name == selected.name else ""),
                "predict(dict) p50 (ms)": ours[0],
                "predict(dict) p99 (ms)": ours[1],
                "sklearn predict_proba p50 (ms)": plain[0],
                "sklearn predict_proba p99 (ms)": plain[1],
                "speed-up at p50": plain[0] / ours[0],
                "of which the model itself, p50 (ms)": floor[0],
                "model with public treelite API, p50 (ms)": public[0],
            }
        )
    _print_table(
        f"Single-record latency ({calls:,} calls; plain call on a one-row validated DataFrame)",
        rows,
    )


def bench_explain(size: int, calls: int, train_rows: int) -> None:
    """Reasons' cost: predict(dict, explain=True) against predict(dict), and the
    batch explain step against the scoring step, for each candidate and the
    selected model (calibrated, as it is served)."""
    with project_copy() as project:
        train_in(project, train_rows)
        selected = current_model(project)
        candidates = _load(project / "data/06_models/candidate_models.skops")
    models = {
        name: _bare_artifact(name, pipeline) for name, pipeline in candidates.items()
    }
    models[f"{selected.name} (selected, calibrated)"] = selected
    records = generate_sessions(calls, 11, labelled=False, messy_fraction=0.0)[0]
    records = (
        records.astype(object).where(records.notna(), None).to_dict(orient="records")
    )
    new, _ = generate_sessions(size, 7, labelled=False, messy_fraction=0.0)
    valid = validate_sessions(new, labelled=False).valid
    rows = []
    for name, model in models.items():
        predictor = PurchasePredictor(model)
        plain = _latencies(lambda i, p=predictor: p.predict(records[i % calls]), calls)
        explained = _latencies(
            lambda i, p=predictor: p.predict(records[i % calls], explain=True), calls
        )
        started = time.perf_counter()
        probability = model.predict_proba(valid)
        scoring = time.perf_counter() - started
        started = time.perf_counter()
        explain(model, valid, probability=probability)
        explaining = time.perf_counter() - started
        rows.append(
            {
                "model": name,
                "predict(dict) p50 (ms)": plain[0],
                "predict(dict, explain=True) p50 (ms)": explained[0],
                "explain=True p99 (ms)": explained[1],
                f"scoring step, {len(valid):,} rows (s)": scoring,
                "explain step (s)": explaining,
                "explain / scoring": explaining / scoring,
            }
        )
    _print_table(
        f"Explanations: {calls:,} single records; a batch of {len(valid):,} rows",
        rows,
    )


@contextmanager
def _public_treelite() -> Iterator[None]:
    """Compiled trees through treelite's public predict instead of the adapter's."""
    import treelite.gtil  # noqa: PLC0415

    fast = treelite_adapter.predict

    def public(model: Any, features: np.ndarray, *, margin: bool) -> Any:
        return treelite.gtil.predict(model, features, nthread=1, pred_margin=margin)

    treelite_adapter.predict = public
    try:
        yield
    finally:
        treelite_adapter.predict = fast


def train_in(
    project: Path, rows: int, seed: int = 42, params: Sequence[str] = ()
) -> tuple[float, int]:
    """Train on ``rows`` generated sessions (generator seed ``seed``) in a project
    copy, with any extra ``key=value`` run parameters."""
    raw, _ = generate_sessions(rows, seed)
    raw.to_csv(project / "data/01_raw/bench_sessions.csv", index=False)
    return run_kedro(
        project,
        [
            "--pipelines",
            TRAINING,
            "--params",
            ",".join(["raw_sessions_path=data/01_raw/bench_sessions.csv", *params]),
        ],
    )


@contextmanager
def project_copy() -> Iterator[Path]:
    """A temporary copy of the project's configuration to run Kedro in."""
    with tempfile.TemporaryDirectory(prefix="cpp-bench-") as folder:
        root = Path(folder)
        shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
        shutil.copytree(
            PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local")
        )
        (root / "conf" / "local").mkdir()
        (root / "src").mkdir()
        (root / "data" / "01_raw").mkdir(parents=True)
        yield root


def run_kedro(project: Path, arguments: list[str]) -> tuple[float, int]:
    """Run ``kedro run`` in ``project``; return wall seconds and peak RSS bytes."""
    kedro = Path(sys.executable).with_name("kedro")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    started = time.perf_counter()
    finished = subprocess.run(  # noqa: S603 - our own kedro, fixed arguments
        [str(kedro), "run", *arguments],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        sys.stderr.write(finished.stdout[-4000:] + finished.stderr[-4000:])
        raise SystemExit(f"kedro run {' '.join(arguments)} failed")
    # ru_maxrss is in KiB on Linux: the largest child so far.
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def current_model(project: Path) -> PurchaseModel:
    """The newest ``purchase_model`` of a project copy: the model its one training
    run wrote (a tracked run records its champion in the registry, not the
    manifest, so the manifest's current version may be unset)."""
    folder = project / "data/06_models/purchase_model.skops"
    newest = max(path.name for path in folder.iterdir())
    dataset = ModelArtifactDataset(
        filepath=str(folder),
        manifest=str(project / "data/06_models/model_manifest.json"),
        version=Version(newest, None),
    )
    return dataset.load()


def _load(path: Path) -> Any:
    return SkopsDataset(filepath=str(path)).load()


def _best_of(repeats: int, action: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def _latencies(action: Callable[[int], Any], calls: int) -> tuple[float, float]:
    for i in range(min(200, calls)):  # warm-up
        action(i)
    timings = np.empty(calls)
    for i in range(calls):
        started = time.perf_counter()
        action(i)
        timings[i] = time.perf_counter() - started
    return float(np.percentile(timings, 50) * 1e3), float(
        np.percentile(timings, 99) * 1e3
    )


def _print_machine() -> None:
    sys.stdout.write(
        f"Machine: {platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores\n\n"
    )


def _print_table(title: str, rows: list[dict[str, Any]]) -> None:
    headers = list(rows[0])
    lines = [
        f"### {title}",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(h, "")) for h in headers) + " |")
    sys.stdout.write("\n".join(lines) + "\n\n")
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.1f}"  # noqa: PLR2004
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())
