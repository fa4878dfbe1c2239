"""Bounded hyperparameter search and cross-validation of one candidate.

Cost grows about linearly with the data: the search and the cross-validation run
on a stratified subsample of at most ``search.max_rows`` training rows, and the
search is successive halving (every sampled configuration starts on
``search.min_resources`` rows; only the best ``1/halving_factor`` go on to
``halving_factor`` times more rows). Each fold refits the whole transformer +
model pipeline, so no statistic leaks across folds. Only the final refit of the
chosen configuration sees every training row.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score
from sklearn.model_selection import (
    HalvingGridSearchCV,
    ParameterSampler,
    StratifiedKFold,
    cross_val_predict,
    train_test_split,
)
from sklearn.pipeline import Pipeline

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.calibration import cross_fitted
from customer_purchase_prediction.candidates import get_candidate
from customer_purchase_prediction.columns import LABEL_COLUMN
from customer_purchase_prediction.estimators import greedy_weights
from customer_purchase_prediction.evaluation import (
    classification_metrics,
    tune_threshold,
)
from customer_purchase_prediction.features import SessionFeatures
from customer_purchase_prediction.params import (
    CandidateParams,
    Distribution,
    ModellingParams,
)
from customer_purchase_prediction.results import TuningSummary

logger = logging.getLogger(__name__)

# How a blend weighs its members (``modelling.ensemble.weights`` but ``auto``).
BlendMethod = Literal["equal", "greedy"]

SEARCH_SCORES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "roc_auc": roc_auc_score,
    "average_precision": average_precision_score,
    "neg_log_loss": lambda y, proba: -log_loss(y, proba, labels=[0, 1]),
}


@dataclass(frozen=True)
class TuningResult:
    """The chosen configuration of one candidate and how it cross-validated.

    ``out_of_fold`` holds the raw (uncalibrated) out-of-fold probability of
    each row of the cross-validation sample, in its order.
    """

    name: str
    params: dict[str, Any]
    cv_threshold: float
    selection_score: float
    cv_metrics: dict[str, dict[str, float]]
    trials: pd.DataFrame
    out_of_fold: np.ndarray

    def summary(self) -> TuningSummary:
        """What selection and the reports need (without the trials table)."""
        return TuningSummary(
            params=self.params,
            cv_threshold=self.cv_threshold,
            selection_score=self.selection_score,
            cv=self.cv_metrics,
        )


def candidate_pipeline(
    name: str,
    hyperparameters: dict[str, Any],
    transformer: SessionFeatures,
    params: ModellingParams,
    positive_share: float,
    *,
    n_jobs: int | None = None,
) -> Pipeline:
    """The transformer (as given) and an unfitted estimator for one configuration."""
    estimator = get_candidate(name).build(
        hyperparameters,
        seed=params.seed,
        n_jobs=params.n_jobs if n_jobs is None else n_jobs,
        positive_share=positive_share if params.class_weighting else None,
    )
    # Search and cross-validation clone the whole pipeline, so each fold refits
    # its own copy of the transformer; the final refit uses this one as it is.
    return Pipeline([("features", transformer), ("model", estimator)])


def sample_configurations(
    spec: CandidateParams, n: int, seed: int
) -> list[dict[str, Any]]:
    """The candidate's defaults, then ``n - 1`` configurations sampled from its space."""
    space = {key: _distribution(value) for key, value in spec.space.items()}
    sampled = (
        list(ParameterSampler(space, n_iter=n - 1, random_state=seed)) if space else []
    )
    configurations = [dict(spec.defaults)]
    for sample in sampled:
        configuration = {**spec.defaults, **{k: _plain(v) for k, v in sample.items()}}
        if configuration not in configurations:
            configurations.append(configuration)
    return configurations


def cv_sample(train: pd.DataFrame, params: ModellingParams) -> pd.DataFrame:
    """The stratified sample every candidate is searched and cross-validated on."""
    return stratified_subsample(train, params.search.max_rows, params.seed)


def cv_folds(sample: pd.DataFrame, params: ModellingParams) -> list[np.ndarray]:
    """The test rows of each cross-validation fold (positions in ``sample``)."""
    folds = StratifiedKFold(params.cv_folds, shuffle=True, random_state=params.seed)
    y = sample[LABEL_COLUMN].to_numpy()
    return [test for _, test in folds.split(sample, y)]


def tune_candidate(
    name: str,
    train: pd.DataFrame,
    transformer: SessionFeatures,
    params: ModellingParams,
    business: BusinessParams | None = None,
) -> TuningResult:
    """Search the candidate's space, then cross-validate the best configuration."""
    sample = cv_sample(train, params)
    y = sample[LABEL_COLUMN].to_numpy()
    positive_share = float(train[LABEL_COLUMN].mean())
    spec = params.candidate_params(name)
    configurations = sample_configurations(
        spec, params.search.n_candidates, params.seed
    )
    folds = StratifiedKFold(params.cv_folds, shuffle=True, random_state=params.seed)
    # A candidate whose single fit parallelises poorly on small data (Python
    # overhead per tree or per solver run) runs one fold per core instead.
    over_folds = get_candidate(name).parallel_over_folds
    fit_jobs, fold_jobs = (1, params.n_jobs) if over_folds else (params.n_jobs, 1)
    base = candidate_pipeline(
        name, spec.defaults, transformer, params, positive_share, n_jobs=fit_jobs
    )
    search = HalvingGridSearchCV(
        base,
        [{f"model__{k}": [v] for k, v in c.items()} for c in configurations],
        factor=params.search.halving_factor,
        resource="n_samples",
        min_resources=halving_start(
            len(sample),
            len(configurations),
            params.search.min_resources,
            params.search.halving_factor,
        ),
        cv=folds,
        scoring=params.search.scoring,
        refit=False,
        random_state=params.seed,
        error_score="raise",
        n_jobs=fold_jobs,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tiny last halving rounds
        search.fit(sample, y)
    searched = {
        k.removeprefix("model__"): _plain(v) for k, v in search.best_params_.items()
    }

    def out_of_fold(configuration: dict[str, Any]) -> np.ndarray:
        pipeline = candidate_pipeline(
            name, configuration, transformer, params, positive_share, n_jobs=fit_jobs
        )
        return cross_val_predict(
            pipeline, sample, y, cv=folds, method="predict_proba", n_jobs=fold_jobs
        )[:, 1]

    fold_indices = cv_folds(sample, params)
    best, proba = {**spec.defaults, **searched}, None
    if best != spec.defaults:
        # The defaults stand unless the search beats them by more than one
        # standard error: a smaller CV edge is noise, and would not carry over.
        proba = out_of_fold(best)
        default_proba = out_of_fold(spec.defaults)
        found = _fold_scores(params.search.scoring, y, proba, fold_indices)
        default = _fold_scores(params.search.scoring, y, default_proba, fold_indices)
        margin = np.std(found, ddof=1) / np.sqrt(len(found))
        if np.mean(found) - np.mean(default) <= margin:
            best, proba = dict(spec.defaults), default_proba
    if proba is None:
        proba = out_of_fold(best)
    threshold, score, cv_metrics = cross_validated(
        y, proba, fold_indices, params, business
    )
    logger.info(
        "%s: chose %s of %d configurations%s; CV %s %.4f (%d rows, %d folds)",
        name,
        best,
        len(configurations),
        " (the defaults)" if best == spec.defaults else "",
        params.selection_metric,
        score,
        len(sample),
        params.cv_folds,
    )
    selection_score = cv_metrics[params.selection_metric]["mean"]
    return TuningResult(
        name,
        best,
        threshold,
        selection_score,
        cv_metrics,
        _trials(name, search),
        proba,
    )


def cross_validated(
    y: np.ndarray,
    raw: np.ndarray,
    folds: list[np.ndarray],
    params: ModellingParams,
    business: BusinessParams | None,
) -> tuple[float, float, dict[str, dict[str, float]]]:
    """The CV threshold, its selection score and every metric's fold mean and std,
    from raw out-of-fold probabilities calibrated as the artifact calibrates.

    Each fold's probabilities are calibrated by a calibrator fitted on the other
    folds, so a calibrated model's CV metrics stay honest.
    """
    proba = cross_fitted(params.calibration.method, raw, y, folds)
    threshold, score = tune_threshold(
        y, proba, params.selection_metric, params.threshold, business
    )
    fold_metrics = [
        classification_metrics(y[test], proba[test], threshold, business)
        for test in folds
    ]
    cv_metrics = {
        metric: {
            "mean": float(np.mean([fold[metric] for fold in fold_metrics])),
            "std": float(np.std([fold[metric] for fold in fold_metrics], ddof=1)),
        }
        for metric in fold_metrics[0]
    }
    return threshold, score, cv_metrics


def tune_blend(
    name: str,
    members: list[TuningResult],
    train: pd.DataFrame,
    params: ModellingParams,
    business: BusinessParams | None = None,
) -> TuningResult:
    """A blend's weights (``modelling.ensemble.weights``: equal, greedy
    selection on its members' out-of-fold probabilities, or auto: whichever of
    the two cross-validates better), and how the blend
    cross-validates with weights it did not choose on the rows it is scored on.

    Its parameters are ``{"weights": {member: weight}}``, chosen on every
    out-of-fold row (the artifact's blend). Its out-of-fold probabilities, and
    so its CV metrics, calibrator and threshold, are cross-fitted
    (``cross_fitted_blend``): each fold is blended with weights chosen on the
    other folds' rows only, so its CV figures are as honest as a single
    candidate's rather than flattered by weights fitted to the same rows. (The
    members' hyperparameters were searched on every fold, for them as for the
    blend.)

    With ``weights: auto`` both equal and greedy weights are cross-fitted so,
    and the one with the lower honest CV value of ``weighting_metric`` is
    kept (``choose_weighting``); its parameters then also hold
    ``"weighting"``: the setting, the choice, the metric and both honest CV
    values. With few rows greedy weights are noise and the honest CV shows it;
    with many they are reliable.
    """
    sample = cv_sample(train, params)
    y = sample[LABEL_COLUMN].to_numpy()
    oof = {member.name: member.out_of_fold for member in members}
    setting, rounds = params.ensemble.weights, params.ensemble.rounds
    folds = cv_folds(sample, params)
    methods: tuple[BlendMethod, ...] = (
        ("equal", "greedy") if setting == "auto" else (setting,)
    )
    honest = {}  # per weighting: cross-fitted probabilities, fold weights, CV
    for method in methods:
        blended, fold_weights = cross_fitted_blend(oof, y, folds, rounds, method=method)
        cv = cross_validated(y, blended, folds, params, business)
        honest[method] = (blended, fold_weights, cv)
    metric = weighting_metric(params)
    scores = {m: cv[2][metric]["mean"] for m, (_, _, cv) in honest.items()}
    chosen = choose_weighting(scores)
    raw, per_fold, (threshold, score, cv_metrics) = honest[chosen]
    weights = blend_weights(oof, y, rounds, method=chosen)
    chosen_params: dict[str, Any] = {"weights": weights}
    if setting == "auto":
        chosen_params["weighting"] = {
            "setting": setting,
            "chosen": chosen,
            "metric": metric,
            "honest_cv": scores,
        }
    logger.info(
        "%s: %s weights%s %s (per CV fold %s); CV %s %.4f",
        name,
        chosen,
        (
            f" (weights: auto, honest CV {metric} "
            + ", ".join(f"{m} {v:.4f}" for m, v in scores.items())
            + ")"
        )
        if setting == "auto"
        else "",
        weights,
        per_fold,
        params.selection_metric,
        score,
    )
    trials = pd.DataFrame(
        {
            "candidate": [name],
            "iteration": [0],
            "n_rows": [len(y)],
            "params": [", ".join(f"{k}={v:g}" for k, v in weights.items())],
            "mean_score": [SEARCH_SCORES[params.search.scoring](y, raw)],
            "std_score": [float("nan")],
            "rank": [1],
        }
    )
    return TuningResult(
        name,
        chosen_params,
        threshold,
        cv_metrics[params.selection_metric]["mean"],
        cv_metrics,
        trials,
        raw,
    )


def weighting_metric(params: ModellingParams) -> str:
    """The probability metric ``ensemble.weights: auto`` compares the weightings
    on: the tie-break's when it is a probability metric (brier, log_loss), else
    the Brier score (``tie_break: ensemble`` falls back to it, too)."""
    return params.tie_break if params.tie_break in {"brier", "log_loss"} else "brier"


def choose_weighting(honest_cv: dict[BlendMethod, float]) -> BlendMethod:
    """The weighting with the lowest honest CV value (lower is better); an
    exact tie goes to the simpler, ``equal``."""
    order = [m for m in ("equal", "greedy") if m in honest_cv]
    return min(order, key=lambda method: honest_cv[method])


def blend_weights(
    probabilities: dict[str, np.ndarray],
    y: np.ndarray,
    rounds: int,
    *,
    method: BlendMethod = "greedy",
) -> dict[str, float]:
    """A blend's weights: ``equal`` (the plain average; nothing is fitted, so on
    a few hundred rows no noise of chosen weights) or ``greedy``
    (``greedy_weights``, ``rounds`` additions, on ``probabilities`` and ``y``)."""
    if method == "equal":
        return {name: 1.0 / len(probabilities) for name in probabilities}
    if method == "greedy":
        return greedy_weights(probabilities, y, rounds)
    raise ValueError(
        f"blend weights are 'equal' or 'greedy' ('auto' chooses between them in "
        f"tune_blend); got {method!r}"
    )


def cross_fitted_blend(
    probabilities: dict[str, np.ndarray],
    y: np.ndarray,
    folds: list[np.ndarray],
    rounds: int,
    *,
    method: BlendMethod = "greedy",
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Blended out-of-fold probabilities, each fold with weights chosen
    (``blend_weights``: ``method``, ``rounds`` additions) on the other folds'
    rows only.

    Args:
        probabilities: Each member's out-of-fold probabilities, same rows.
        y: The labels of those rows.
        folds: The positions of each fold's rows; together every row once.

    Returns:
        The blended probability of every row, and each fold's weights.

    Raises:
        ValueError: If the folds do not cover every row exactly once.
    """
    positions = np.sort(np.concatenate(folds)) if folds else np.array([], int)
    if len(folds) < 2 or not np.array_equal(positions, np.arange(len(y))):  # noqa: PLR2004
        raise ValueError(
            f"cross_fitted_blend needs at least two folds covering each of the "
            f"{len(y)} rows exactly once; got {len(folds)} folds of "
            f"{[len(f) for f in folds]} rows"
        )
    blended = np.zeros(len(y))
    per_fold = []
    for test in folds:
        others = np.setdiff1d(np.arange(len(y)), test)
        weights = blend_weights(
            {name: proba[others] for name, proba in probabilities.items()},
            y[others],
            rounds,
            method=method,
        )
        for member, weight in weights.items():
            blended[test] += weight * probabilities[member][test]
        per_fold.append(weights)
    return blended, per_fold


def _fold_scores(
    scoring: str, y: np.ndarray, proba: np.ndarray, folds: list[np.ndarray]
) -> np.ndarray:
    """The search's score on each fold, from out-of-fold probabilities."""
    return np.array([SEARCH_SCORES[scoring](y[test], proba[test]) for test in folds])


def halving_start(rows: int, configurations: int, min_rows: int, factor: int) -> int:
    """Rows of the first halving round, so that the last round uses every row.

    As many rounds as both the rows (starting from at least ``min_rows``) and the
    configurations (a ``1/factor`` survive each round) allow; one round is every
    configuration on every row.
    """
    if rows <= min_rows:
        return rows
    by_rows = 1 + math.floor(math.log(rows / min_rows, factor))
    by_configurations = 1 + math.floor(math.log(max(configurations, 1), factor))
    rounds = min(by_rows, by_configurations)
    return math.ceil(rows / factor ** (rounds - 1))


def stratified_subsample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows of ``frame``, stratified by the label."""
    if len(frame) <= max_rows:
        return frame
    # A stratified split leaves at least one row of each class out: with fewer
    # rows over the limit than classes, it keeps one row fewer per extra class.
    classes = frame[LABEL_COLUMN].nunique()
    kept = min(max_rows, len(frame) - classes)
    sample, _ = train_test_split(
        frame, train_size=kept, stratify=frame[LABEL_COLUMN], random_state=seed
    )
    return sample.sort_index()


def _trials(name: str, search: HalvingGridSearchCV) -> pd.DataFrame:
    results = pd.DataFrame(search.cv_results_)
    return pd.DataFrame(
        {
            "candidate": name,
            "iteration": results["iter"],
            "n_rows": results["n_resources"],
            "params": results["params"].map(
                lambda p: ", ".join(
                    f"{k.removeprefix('model__')}={v}" for k, v in p.items()
                )
            ),
            "mean_score": results["mean_test_score"],
            "std_score": results["std_test_score"],
            "rank": results["rank_test_score"],
        }
    )


def _distribution(value: list[Any] | Distribution) -> Any:
    if isinstance(value, list):
        return value
    if value.distribution == "randint":
        return stats.randint(int(value.low), int(value.high))
    if value.distribution == "loguniform":
        return stats.loguniform(value.low, value.high)
    return stats.uniform(value.low, value.high - value.low)


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones, floats rounded, so JSON and YAML stay clean."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(f"{float(value):.6g}")
    return value
