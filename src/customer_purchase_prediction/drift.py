"""Drift: does a scored batch still look like the sessions the model learned from?

Training stores a **reference profile** in the artifact (``build_profile``): for
each input column of the column spec, what its test needs (numbers: a grid of
99 quantiles with the share of training values at or below each, ten bins of
about equal training mass, the median and the missing rate; labels: each
level's share and the missing rate), the same for the model's scores on the
test part, and the training file's reject rates. It is plain lists, dicts and
floats: a few kilobytes, saved by skops without any new trusted type.

Every scored batch is compared with it (``drift_report``):

- **PSI** (population stability index) per column and for the score, on the
  profile's bins (numbers) or levels (labels): ``sum((b - r) * ln(b / r))``
  over the bins' shares, each floored at ``PSI_FLOOR``;
- a **two-sample KS test** for numbers, against the profile's quantile grid
  (the statistic is the largest gap between the two distribution functions at
  the grid's points, the p-value Kolmogorov's limit law);
- a **chi-square test** for labels (reference counts against batch counts);
- the change in each column's **missing rate** and **reject rate** (rows the
  contract refused for that column), and in the batch's reject rate, each with
  a two-proportion z-test.

A part is ``warn`` or ``alert`` when its size reaches the threshold
(``monitoring.psi``, ``monitoring.missing_rate``, ``monitoring.reject_rate``)
*and* its test says it is not chance (p below ``monitoring.p_value``): a small
batch's PSI is noisy, a large batch's test is always significant, and both
together are neither. A column's status is its worst part's, the batch's its
worst column's (the score and the reject rate included); each non-ok part
says why in words. A batch with fewer than ``monitoring.min_rows`` scored
sessions, or a model without a profile, is ``not_judged``, with the reason.

The statistics are ours, on numpy and scipy: Evidently, NannyML and alibi-detect
do not install or import against this project's pins (see docs/monitoring.md).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from scipy import stats

from customer_purchase_prediction.columns import BY_NAME, FEATURES
from customer_purchase_prediction.contract import count_reject_columns
from customer_purchase_prediction.errors import RunParameterError

PROFILE_FORMAT = 1
# The profile's resolution is part of its format: a grid of 99 quantiles for the
# KS test, PSI on ten bins of about equal training mass.
GRID_QUANTILES = np.arange(1, 100) / 100
PSI_BINS = 10
PSI_FLOOR = 1e-4
SCORE = "score"

Status = Literal["ok", "warn", "alert", "not_judged"]
JUDGED: tuple[str, ...] = ("ok", "warn", "alert")
NOT_JUDGED = "not_judged"
_RANK = {"ok": 0, "warn": 1, "alert": 2}


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Params):
    """Sizes of a change at which a part is ``warn`` and ``alert``."""

    warn: float = Field(gt=0)
    alert: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if not self.warn < self.alert:
            raise ValueError(
                f"warn must be < alert; got warn={self.warn}, alert={self.alert}"
            )
        return self

    def level(self, size: float) -> str:
        """``ok``, ``warn`` or ``alert`` for a change of ``size``."""
        if size >= self.alert:
            return "alert"
        return "warn" if size >= self.warn else "ok"


class RealisedParams(_Params):
    """Knobs of realised performance (the ``monitoring`` pipeline)."""

    calibration_bins: int = Field(
        10, ge=2, le=100, description="Groups of equal size by probability."
    )


class MonitoringParams(_Params):
    """The ``monitoring:`` parameters: drift thresholds and what fails a run."""

    psi: Thresholds = Field(default_factory=lambda: Thresholds(warn=0.1, alert=0.25))
    missing_rate: Thresholds = Field(
        default_factory=lambda: Thresholds(warn=0.05, alert=0.10)
    )
    reject_rate: Thresholds = Field(
        default_factory=lambda: Thresholds(warn=0.02, alert=0.05)
    )
    p_value: float = Field(
        0.01, gt=0, lt=1, description="A change is not chance when p is below this."
    )
    min_rows: int = Field(
        100, ge=1, description="Fewer scored sessions are too few to judge."
    )
    fail_on: Literal["warn", "alert"] | None = None
    realised: RealisedParams = Field(default_factory=RealisedParams)


def project_monitoring(
    project_path: str | os.PathLike[str], *, env: str | None = None
) -> MonitoringParams:
    """The ``monitoring`` parameters of a project's ``conf`` (``base``, then
    ``env`` or ``local``), validated; the defaults where it sets none.

    Raises:
        RunParameterError: a ``monitoring`` key is invalid, naming it and the
            project's conf folder.
    """
    from kedro.config import (  # noqa: PLC0415 - config only when asked
        MissingConfigException,
        OmegaConfigLoader,
    )

    conf = Path(project_path) / "conf"
    loader = OmegaConfigLoader(
        conf_source=str(conf),
        env=env,
        base_env="base",
        default_run_env="local",
        merge_strategy={"parameters": "soft"},
    )
    try:
        section = loader["parameters"].get("monitoring") or {}
    except MissingConfigException:
        section = {}
    try:
        return MonitoringParams.model_validate(dict(section))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(["monitoring", *(str(part) for part in error["loc"])])
        raise RunParameterError(
            f"{where} in {conf}: {error['msg']} (got {error.get('input')!r}); "
            "see conf/base/parameters_monitoring.yml for the allowed values"
        ) from None


# ---------------------------------------------------------------- the profile


def number_profile(values: Any) -> dict[str, Any]:
    """What drift needs of a number column: quantile grid, bins, median, missing."""
    array = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
    present = np.sort(array[~np.isnan(array)])
    rows = len(array)
    profile: dict[str, Any] = {
        "kind": "number",
        "rows": rows,
        "values": len(present),
        "missing_rate": _share(rows - len(present), rows),
    }
    if not len(present):
        return {**profile, "grid": [], "cdf": [], "edges": [], "frequencies": []}
    grid = np.unique(np.quantile(present, GRID_QUANTILES))
    cdf = np.searchsorted(present, grid, side="right") / len(present)
    edges = _psi_edges(grid, cdf)
    return {
        **profile,
        "median": float(np.median(present)),
        "grid": grid.tolist(),
        "cdf": cdf.tolist(),
        "edges": edges.tolist(),
        "frequencies": _bin_shares(present, edges).tolist(),
    }


def label_profile(values: Any, levels: Sequence[str]) -> dict[str, Any]:
    """What drift needs of a label column: each level's share and the missing rate."""
    series = pd.Series(values, dtype="object")
    present = series[series.notna()]
    counts = present.value_counts()
    return {
        "kind": "label",
        "rows": len(series),
        "values": len(present),
        "missing_rate": _share(len(series) - len(present), len(series)),
        "levels": list(levels),
        "frequencies": [
            _share(int(counts.get(level, 0)), len(present)) for level in levels
        ],
    }


def build_profile(
    sessions: pd.DataFrame,
    scores: Any,
    *,
    rows_in: int,
    rejected: int,
    rejects_by_column: Mapping[str, int],
) -> dict[str, Any]:
    """The reference profile of validated training sessions and test-part scores.

    Args:
        sessions: The validated training rows (the columns of the column spec).
        scores: The model's probabilities on the test part.
        rows_in: Rows of the training file, rejected ones included.
        rejected: Rows of the training file the contract rejected.
        rejects_by_column: The training file's rejected rows by the column
            their rules name, each row once per column
            (``contract.count_reject_columns``), as a batch's are counted.
    """
    columns = {
        column.name: (
            number_profile(sessions[column.name])
            if column.is_number
            else label_profile(sessions[column.name], column.levels)
        )
        for column in FEATURES
    }
    return {
        "format": PROFILE_FORMAT,
        "rows": len(sessions),
        "columns": columns,
        SCORE: number_profile(scores),
        "reject_rate": {
            "rows_in": int(rows_in),
            "batch": _share(rejected, int(rows_in)),
            "columns": {
                column.name: _share(
                    int(rejects_by_column.get(column.name, 0)), int(rows_in)
                )
                for column in FEATURES
            },
        },
    }


def _psi_edges(grid: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Grid points that cut the training values into ``PSI_BINS`` of similar mass."""
    targets = np.arange(1, PSI_BINS) / PSI_BINS
    picked = np.searchsorted(cdf, targets - 1e-12, side="left")
    picked = picked[picked < len(grid) - 1]  # the last point leaves no top bin
    return np.unique(grid[picked])


def _bin_shares(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of values in the bins ``<= e1, (e1, e2], ..., > ek`` (sorted input)."""
    below = np.searchsorted(sorted_values, edges, side="right")
    counts = np.diff(np.concatenate(([0], below, [len(sorted_values)])))
    return counts / max(len(sorted_values), 1)


# ---------------------------------------------------------------- statistics


def psi(reference: Sequence[float], batch: Sequence[float]) -> float:
    """Population stability index of two sets of bin shares (floored at 1e-4)."""
    ref = np.maximum(np.asarray(reference, dtype=float), PSI_FLOOR)
    new = np.maximum(np.asarray(batch, dtype=float), PSI_FLOOR)
    return float(np.sum((new - ref) * np.log(new / ref)))


def ks_against_profile(
    profile: Mapping[str, Any],
    values: np.ndarray,
    cdf: np.ndarray | None = None,
) -> tuple[float, float]:
    """KS statistic and p-value of a batch against a profile's quantile grid
    (``cdf``: the batch's ``grid_cdf``, when already computed)."""
    grid = np.asarray(profile["grid"], dtype=float)
    if not len(grid) or not len(values):
        return 0.0, 1.0
    batch_cdf = grid_cdf(grid, values) if cdf is None else cdf
    statistic = float(np.max(np.abs(batch_cdf - np.asarray(profile["cdf"]))))
    n, m = int(profile["values"]), len(values)
    effective = n * m / (n + m)
    p_value = float(stats.kstwobign.sf(statistic * math.sqrt(effective)))
    return statistic, min(max(p_value, 0.0), 1.0)


def grid_cdf(grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Share of ``values`` at or below each grid point: one pass, no sort."""
    below = np.searchsorted(grid, values, side="left")  # grid points < value
    counts = np.bincount(below, minlength=len(grid) + 1)
    return np.cumsum(counts[: len(grid)]) / max(len(values), 1)


def chi_square(reference_counts: Any, batch_counts: Any) -> tuple[float, float]:
    """Chi-square statistic and p-value of two samples' counts over the same levels."""
    table = np.vstack([reference_counts, batch_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():  # noqa: PLR2004
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def two_proportions(count_a: int, rows_a: int, count_b: int, rows_b: int) -> float:
    """Two-sided p-value that two shares differ only by chance (z-test)."""
    if rows_a <= 0 or rows_b <= 0:
        return 1.0
    pooled = (count_a + count_b) / (rows_a + rows_b)
    if pooled in (0.0, 1.0):
        return 1.0
    spread = math.sqrt(pooled * (1 - pooled) * (1 / rows_a + 1 / rows_b))
    z = (count_b / rows_b - count_a / rows_a) / spread
    return float(2 * stats.norm.sf(abs(z)))


# ---------------------------------------------------------------- the report


def drift_report(
    sessions: pd.DataFrame,
    scores: Any,
    profile: Mapping[str, Any] | None,
    params: MonitoringParams,
    *,
    rows_in: int,
    rejects: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Compare a scored batch with the reference profile; statuses with reasons.

    Args:
        sessions: The batch's validated (scored) sessions.
        scores: Their purchase probabilities.
        profile: The model's reference profile; ``None`` for an artifact
            trained before profiles existed.
        params: Thresholds, significance level and the minimum batch size.
        rows_in: Rows of the batch, rejected ones included.
        rejects: The batch's rejected rows, with ``reject_rule``.
    """
    rejected = 0 if rejects is None else len(rejects)
    header = {
        "rows": {"in": int(rows_in), "scored": len(sessions), "rejected": rejected},
        "thresholds": params.model_dump(
            include={"psi", "missing_rate", "reject_rate", "p_value", "min_rows"}
        ),
    }
    if profile is None:
        return _not_judged(
            header,
            "no reference profile: the model was trained before drift profiles "
            "existed; retrain it (kedro run) to monitor its batches",
        )
    if len(sessions) < params.min_rows:
        return _not_judged(
            header,
            f"too small to judge: {len(sessions)} sessions scored, at least "
            f"{params.min_rows} needed (monitoring.min_rows)",
        )
    by_column = (
        count_reject_columns(rejects) if rejected and rejects is not None else {}
    )
    reference_rejects = profile["reject_rate"]
    columns = {
        column.name: _column_drift(
            column.name,
            sessions[column.name],
            profile["columns"][column.name],
            params,
            rejected=by_column.get(column.name, 0),
            rows_in=int(rows_in),
            reference_rejects=(
                reference_rejects["columns"].get(column.name, 0.0),
                reference_rejects["rows_in"],
            ),
        )
        for column in FEATURES
    }
    score = _number_drift(
        SCORE, np.asarray(scores, dtype=float), profile[SCORE], params
    )
    batch_rejects = _rate_change(
        "reject rate",
        (reference_rejects["batch"], reference_rejects["rows_in"]),
        (rejected, int(rows_in)),
        params.reject_rate,
        params.p_value,
    )
    return {
        **header,
        **_verdict(columns, score, batch_rejects),
        "columns": columns,
        SCORE: score,
        "reject_rate": batch_rejects,
    }


def _not_judged(header: dict[str, Any], reason: str) -> dict[str, Any]:
    return {
        **header,
        "status": NOT_JUDGED,
        "reason": reason,
        "alerting": [],
        "warning": [],
        "columns": {},
    }


def _verdict(
    columns: Mapping[str, dict[str, Any]],
    score: Mapping[str, Any],
    batch_rejects: Mapping[str, Any],
) -> dict[str, Any]:
    parts = {**columns, SCORE: score, "reject_rate": batch_rejects}
    alerting = [name for name, part in parts.items() if part["status"] == "alert"]
    warning = [name for name, part in parts.items() if part["status"] == "warn"]
    status = "alert" if alerting else "warn" if warning else "ok"
    if status == "ok":
        reason = "no column, score or reject rate moved beyond its thresholds"
    else:
        named = alerting or warning
        reason = f"{status} on " + "; ".join(
            f"{name} ({parts[name]['reasons'][0]})" for name in named
        )
    return {
        "status": status,
        "reason": reason,
        "alerting": alerting,
        "warning": warning,
    }


def _column_drift(
    name: str,
    values: pd.Series,
    profile: Mapping[str, Any],
    params: MonitoringParams,
    *,
    rejected: int,
    rows_in: int,
    reference_rejects: tuple[float, int],
) -> dict[str, Any]:
    rows = len(values)
    missing = int(values.isna().sum())
    if profile["kind"] == "number":
        array = np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float)
        part = _number_drift(name, array[~np.isnan(array)], profile, params)
    else:
        part = _label_drift(name, values, profile, params)
    missing_part = _rate_change(
        "missing rate",
        (profile["missing_rate"], profile["rows"]),
        (missing, rows),
        params.missing_rate,
        params.p_value,
    )
    reject_part = _rate_change(
        "reject rate",
        reference_rejects,
        (rejected, rows_in),
        params.reject_rate,
        params.p_value,
    )
    subparts = (part, missing_part, reject_part)
    worst = max(subparts, key=lambda p: _RANK[p["status"]])
    reasons = [r for p in subparts if p["status"] != "ok" for r in p["reasons"]]
    return {
        **part,
        "status": worst["status"],
        "reasons": reasons or part["reasons"],
        "missing_rate": missing_part,
        "reject_rate": reject_part,
    }


def _number_drift(
    name: str, values: np.ndarray, profile: Mapping[str, Any], params: MonitoringParams
) -> dict[str, Any]:
    grid = np.asarray(profile["grid"], dtype=float)
    edges = np.asarray(profile["edges"], dtype=float)
    # The bins' edges are grid points: their shares come from the grid's CDF.
    cdf = grid_cdf(grid, values) if len(grid) else np.zeros(0)
    below_edges = cdf[np.searchsorted(grid, edges)] if len(edges) else np.zeros(0)
    shares = np.diff(np.concatenate(([0.0], below_edges, [1.0])))
    if not len(values):
        shares = np.zeros(len(edges) + 1)
    index = psi(profile["frequencies"], shares)
    statistic, p_value = ks_against_profile(profile, values, cdf)
    status = _judged(params.psi.level(index), p_value, params.p_value)
    median = float(np.median(values)) if len(values) else None
    unit = BY_NAME[name].unit if name in BY_NAME else None
    bound = "" if status == "ok" else _bound(index, params.psi)
    said = f"PSI {index:.3f}{bound}, KS {statistic:.3f} (p {_p(p_value)})"
    if status == "ok":
        reason = f"values as in training: {said}"
    else:
        moved = _moved(profile.get("median"), median, unit)
        reason = f"values moved: {said}; {moved}"
    return {
        "status": status,
        "reasons": [reason],
        "test": "ks",
        "psi": round(index, 6),
        "statistic": round(statistic, 6),
        "p_value": p_value,
        "median": {"reference": profile.get("median"), "batch": median},
        "bins": _bin_labels(edges),
        "reference_frequencies": list(profile["frequencies"]),
        "batch_frequencies": [round(float(s), 6) for s in shares],
    }


def _label_drift(
    name: str, values: pd.Series, profile: Mapping[str, Any], params: MonitoringParams
) -> dict[str, Any]:
    del name
    levels = list(profile["levels"])
    counts = values.value_counts(dropna=True)  # the column's own dtype: no copy
    batch_counts = np.array([int(counts.get(level, 0)) for level in levels])
    shares = batch_counts / max(int(counts.sum()), 1)
    reference = np.asarray(profile["frequencies"], dtype=float)
    index = psi(reference, shares)
    statistic, p_value = chi_square(
        np.round(reference * profile["values"]), batch_counts
    )
    status = _judged(params.psi.level(index), p_value, params.p_value)
    bound = "" if status == "ok" else _bound(index, params.psi)
    said = f"PSI {index:.3f}{bound}, chi-square {statistic:.1f} (p {_p(p_value)})"
    if status == "ok":
        reason = f"level shares as in training: {said}"
    else:
        biggest = int(np.argmax(np.abs(shares - reference)))
        reason = (
            f"level shares changed: {said}; "
            f"{levels[biggest]} {reference[biggest]:.0%} -> {shares[biggest]:.0%}"
        )
    return {
        "status": status,
        "reasons": [reason],
        "test": "chi_square",
        "psi": round(index, 6),
        "statistic": round(statistic, 6),
        "p_value": p_value,
        "bins": levels,
        "reference_frequencies": list(profile["frequencies"]),
        "batch_frequencies": [round(float(s), 6) for s in shares],
    }


def _rate_change(
    what: str,
    reference: tuple[float, int],
    batch: tuple[int, int],
    thresholds: Thresholds,
    alpha: float,
) -> dict[str, Any]:
    ref_rate, ref_rows = float(reference[0]), int(reference[1])
    count, rows = batch
    rate = _share(count, rows)
    change = rate - ref_rate
    p_value = two_proportions(round(ref_rate * ref_rows), ref_rows, count, rows)
    status = _judged(thresholds.level(abs(change)), p_value, alpha)
    said = f"{what} {ref_rate:.1%} in training, {rate:.1%} here (p {_p(p_value)})"
    if status != "ok":
        limit = _limit(abs(change), thresholds)
        said += f": a change of {abs(change):.1%} points >= {limit:.1%}"
    return {
        "status": status,
        "reasons": [said],
        "reference": round(ref_rate, 6),
        "batch": round(rate, 6),
        "change": round(change, 6),
        "p_value": p_value,
    }


def _judged(level: str, p_value: float, alpha: float) -> str:
    """A large change counts only when its test says it is not chance."""
    return level if p_value < alpha else "ok"


def _limit(size: float, thresholds: Thresholds) -> float:
    return thresholds.alert if size >= thresholds.alert else thresholds.warn


def _bound(index: float, thresholds: Thresholds) -> str:
    return f" >= {_limit(index, thresholds):g}"


def _moved(reference: float | None, batch: float | None, unit: str | None) -> str:
    if reference is None or batch is None:
        return "no values to compare"
    suffix = f" {unit}" if unit else ""
    return f"median {reference:.4g} -> {batch:.4g}{suffix}"


def _bin_labels(edges: np.ndarray) -> list[str]:
    if not len(edges):
        return ["all"]
    cuts = [f"{edge:.4g}" for edge in edges]
    middle = [f"{low}-{high}" for low, high in itertools.pairwise(cuts)]
    return [f"<= {cuts[0]}", *middle, f"> {cuts[-1]}"]


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"  # noqa: PLR2004


def _share(count: int, rows: int) -> float:
    return float(count) / rows if rows else 0.0


def worst(statuses: Sequence[str]) -> str:
    """The worst of judged statuses (``ok`` when none is judged)."""
    judged = [s for s in statuses if s in _RANK]
    return max(judged, key=_RANK.__getitem__) if judged else "ok"


def fails(report: Mapping[str, Any], fail_on: str | None) -> bool:
    """Whether a report's status reaches ``fail_on`` (``warn`` or ``alert``)."""
    if fail_on is None or report.get("status") not in _RANK:
        return False
    return _RANK[str(report["status"])] >= _RANK[fail_on]


def summary_of(report: Mapping[str, Any]) -> dict[str, Any]:
    """What the run summary says of the drift report: status, who, why."""
    return {
        "status": report.get("status"),
        "alerting": list(report.get("alerting", [])),
        "warning": list(report.get("warning", [])),
        "reason": report.get("reason"),
    }
