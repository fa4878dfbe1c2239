"""Exact contributions of each model-matrix column to one row's score.

A ``Contributions`` holds, for each row, a base value and one contribution per
model-matrix column that add up to the model's own score of the row: its
margin (log-odds) for a linear model and boosted trees, its probability for a
random forest. The candidate registry (``candidates.py``) names the function
of each candidate; ``explain.py`` turns the result into reasons.

- Linear model: ``coef * (value - reference)``, the reference being the mean
  training row, so the base is the score of the mean training row.
- Boosted trees (XGBoost): the booster's own ``pred_contribs`` with
  ``approx_contribs`` (the same path decomposition as the forest's, exact for
  the margin), single-threaded for a few rows (a thread pool costs more than
  one row takes). A batch is explained once per distinct path signature: a
  row's contributions depend only on the leaf it reaches in each tree, and
  rows on the same side of every split threshold reach the same leaves, so
  the booster explains one row of each such group and the others take its
  values (the same bits as explaining every row).
- Random forest: the exact tree-path decomposition (Saabas): along a row's
  path in a tree, each split moves the node's positive share from the parent's
  to the child's, and that change is the split feature's; averaged over the
  trees, the changes and the root shares add up to the forest's probability.
- ``to_probability`` brings log-odds contributions to the probability scale
  keeping their proportions: each is scaled by ``(p - p_base) / (margin -
  base)``, so they add up to ``p`` from ``p_base`` (the ensemble's members, a
  calibrated model's probability).
"""

from __future__ import annotations

import json
import os
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import xgboost
from scipy.special import expit

Scale = Literal["log-odds", "probability"]
SCALES: tuple[Scale, ...] = ("log-odds", "probability")
# Up to this many rows, XGBoost explains on one thread (faster than a pool).
_SINGLE_THREAD_ROWS = 64
# A forest's batch adds its trees' path rows this many rows at a time.
_FOREST_BLOCK_ROWS = 16_384

# Caches of fitted estimators, built on first use and dropped with them.
_PATH_FORESTS: weakref.WeakKeyDictionary[Any, _PathForest] = weakref.WeakKeyDictionary()
_SINGLE_THREADED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_SPLITS: weakref.WeakKeyDictionary[Any, list[np.ndarray] | None] = (
    weakref.WeakKeyDictionary()
)
# Signature codes are combined in int64; past this the partial code is
# renumbered densely (below the row count) before the next column joins.
_CODE_LIMIT = 2**62


@dataclass(frozen=True)
class Contributions:
    """Per row, a base value and each column's contribution; they add up to the score.

    Attributes:
        values: ``(rows, columns)`` contributions of the model-matrix columns.
        base: ``(rows,)`` the score before any column's contribution.
        scale: ``log-odds`` (the margin) or ``probability``.
    """

    values: np.ndarray
    base: np.ndarray
    scale: Scale

    def total(self) -> np.ndarray:
        """The score the contributions add up to, per row."""
        return self.base + self.values.sum(axis=1)

    def to_probability(self) -> Contributions:
        """The same contributions on the probability scale (exact totals)."""
        if self.scale == "probability":
            return self
        # The row sums once: the total and the proportions both need them.
        span = self.values.sum(axis=1)
        return self._rescaled(expit(self.base + span), self.probability_base(), span)

    def probability_base(self) -> np.ndarray:
        """The base value on the probability scale (``to_probability().base``)."""
        return self.base if self.scale == "probability" else expit(self.base)

    def rescaled(self, total: np.ndarray, base: np.ndarray) -> Contributions:
        """Contributions in the same proportions, adding up from ``base`` to ``total``.

        For a monotone map of the score (the logistic function, a calibrator),
        a contribution keeps its sign and its share of the change.
        """
        return self._rescaled(total, base, self.values.sum(axis=1))

    def _rescaled(
        self, total: np.ndarray, base: np.ndarray, span: np.ndarray
    ) -> Contributions:
        change = np.asarray(total, dtype=float) - base
        factor = np.divide(change, span, out=np.zeros_like(change), where=span != 0)
        return Contributions(self.values * factor[:, None], base, "probability")

    def weighted(self, weight: float) -> Contributions:
        """The contributions and base times ``weight`` (a member of a blend)."""
        return Contributions(self.values * weight, self.base * weight, self.scale)

    def __add__(self, other: Contributions) -> Contributions:
        if other.scale != self.scale:
            raise ValueError(
                f"cannot add {self.scale} contributions to {other.scale} ones; "
                "bring both to one scale first (to_probability)"
            )
        return Contributions(
            self.values + other.values, self.base + other.base, self.scale
        )


def linear(estimator: Any, matrix: np.ndarray, reference: np.ndarray) -> Contributions:
    """A binary linear model's ``coef * (value - reference)``, in log-odds."""
    coef = np.asarray(estimator.coef_[0], dtype=float)
    values = (matrix - reference) * coef
    base = float(estimator.intercept_[0] + (reference * coef).sum())
    return Contributions(values, np.full(len(matrix), base), "log-odds")


def boosted_trees(estimator: Any, matrix: np.ndarray) -> Contributions:
    """XGBoost's own exact path contributions (``pred_contribs``), in log-odds.

    The booster's Saabas decomposition (``approx_contribs``): exact for the
    margin like TreeSHAP, which took 12x as long on 200,000 rows
    (``docs/performance.md``). A few rows run on one thread.
    """
    few = len(matrix) <= _SINGLE_THREAD_ROWS
    splits = None if few else _split_thresholds(estimator)
    if splits is None:
        raw = _approx_contribs(estimator, matrix, few=few)
    else:
        # One row of each path signature: the booster's values of a row depend
        # only on its leaves, so every row of a group gets the same bits.
        group, first = _path_groups(matrix, splits)
        raw = _approx_contribs(estimator, matrix[first], few=False)[group]
    return Contributions(raw[:, :-1], raw[:, -1], "log-odds")


def _approx_contribs(estimator: Any, matrix: np.ndarray, *, few: bool) -> np.ndarray:
    booster = _single_threaded(estimator) if few else estimator.get_booster()
    data = xgboost.DMatrix(matrix, nthread=1 if few else -1)
    raw = booster.predict(
        data, pred_contribs=True, approx_contribs=True, validate_features=False
    )
    return np.asarray(raw, dtype=np.float64)


def _split_thresholds(estimator: Any) -> list[np.ndarray] | None:
    """Per model-matrix column, the sorted float32 thresholds of the booster's
    numeric splits on it (read once from its JSON model); ``None`` if a tree
    splits on categories, whose paths thresholds do not describe."""
    if estimator in _SPLITS:
        return _SPLITS[estimator]
    booster = estimator.get_booster()
    model = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]
    trees = model.get("model", {}).get("trees")
    splits: list[np.ndarray] | None = None
    if trees is not None and not any(any(tree["split_type"]) for tree in trees):
        feature = np.concatenate([tree["split_indices"] for tree in trees])
        condition = np.concatenate([tree["split_conditions"] for tree in trees])
        inner = np.concatenate(
            [np.asarray(tree["left_children"]) >= 0 for tree in trees]
        )
        feature, condition = feature[inner], condition[inner].astype(np.float32)
        splits = [
            np.unique(condition[feature == column])
            for column in range(booster.num_features())
        ]
    _SPLITS[estimator] = splits
    return splits


def _path_groups(
    matrix: np.ndarray, splits: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's path signature group, and one row of each group.

    A row's signature is, per column, how many of the column's thresholds are
    at or below its float32 value (a split sends a row left when its value is
    below the threshold), a missing value apart: rows of one signature are on
    the same side of every split, so they reach the same leaf in every tree.
    """
    rows = np.asarray(matrix, dtype=np.float32)
    code = np.zeros(len(rows), dtype=np.int64)
    span = 1
    for column, thresholds in enumerate(splits):
        if not len(thresholds):
            continue
        values = rows[:, column]
        side = np.searchsorted(thresholds, values, side="right")
        side[np.isnan(values)] = len(thresholds) + 1
        radix = len(thresholds) + 2
        if span * radix > _CODE_LIMIT:
            code, uniques = pd.factorize(code)
            span = len(uniques)
        code = code * radix + side
        span *= radix
    group, uniques = pd.factorize(code)
    # Any row of a group stands for it (they all get the same bits).
    first = np.empty(len(uniques), dtype=np.intp)
    first[group] = np.arange(len(rows))
    return group, first


def _single_threaded(estimator: Any) -> Any:
    """A copy of the estimator's booster that predicts on one thread (made once):
    the booster's own thread pool costs 30-50 ms a call on a busy machine."""
    booster = _SINGLE_THREADED.get(estimator)
    if booster is None:
        booster = estimator.get_booster().copy()
        booster.set_param({"nthread": 1})
        _SINGLE_THREADED[estimator] = booster
    return booster


def forest(estimator: Any, matrix: np.ndarray) -> Contributions:
    """A binary random forest's exact tree-path decomposition, in probability.

    Each tree's leaf carries the sum of its path's share changes by feature
    (computed once per fitted forest); a row takes its leaf's in every tree,
    summed tree by tree in the forest's order. A few rows find their leaves in
    all trees at once (one step down every tree per level), a batch tree by
    tree with the tree's own ``apply``, a block of rows at a time: the same
    leaves added in the same order, so the same bits.
    """
    rows = np.ascontiguousarray(matrix, dtype=np.float32)
    paths = _path_forest(estimator)
    values = np.zeros((len(rows), rows.shape[1]))
    if len(rows) <= _SINGLE_THREAD_ROWS:
        # Every tree's row of the stacked tables in one gather, then summed
        # over the trees in their order: a reduction over the first axis adds
        # one tree after another, as the batch's loop does (the same bits).
        picked = paths.stacked_tables[paths.leaves(rows).T + paths.roots[:, None]]
        values += np.add.reduce(picked, axis=0)
    else:
        _forest_blocks(paths, rows, values)
    count = len(paths.tables)
    values /= count  # in place: the same bits as ``values / count``
    return Contributions(values, np.full(len(rows), paths.base / count), "probability")


def _forest_blocks(paths: _PathForest, rows: np.ndarray, values: np.ndarray) -> None:
    """Add every tree's path rows into ``values``, block by block of rows.

    Blocks keep the sums and each tree's gathered rows (one buffer) in cache.
    They are independent (each row adds its trees in their order into its own
    row of ``values``), so they run on all cores, as the forest's scoring step
    does: a tree's ``apply`` and numpy's ``take`` and add release the GIL, and
    the bits are those of one thread.
    """

    def add_block(start: int) -> None:
        block = rows[start : start + _FOREST_BLOCK_ROWS]
        total = values[start : start + _FOREST_BLOCK_ROWS]
        picked = np.empty_like(total)
        for tree, table in zip(paths.trees, paths.tables, strict=True):
            # The tree's rows of its leaves (``table[leaves]``) into one buffer;
            # "clip" skips the buffered bounds check (leaves are in range).
            np.take(table, tree.apply(block), axis=0, out=picked, mode="clip")
            total += picked

    starts = range(0, len(rows), _FOREST_BLOCK_ROWS)
    threads = min(_batch_threads(), len(starts))
    if threads <= 1:
        for start in starts:
            add_block(start)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        # list(): a block's exception is raised here, not lost.
        list(pool.map(add_block, starts))


def _batch_threads() -> int:
    """Threads of a batch's explanation: every core (the scoring step's and
    XGBoost's ``nthread=-1``)."""
    return os.cpu_count() or 1


@dataclass(frozen=True)
class _PathForest:
    """A fitted forest's trees, their path tables, and all trees' nodes stacked."""

    trees: list[Any]
    tables: list[np.ndarray]
    stacked_tables: np.ndarray  # the tables one after another (stacked node ids)
    base: float  # the root shares, summed in the trees' order
    roots: np.ndarray  # each tree's root in the stacked nodes
    left: np.ndarray  # stacked children (a leaf its own), feature and threshold
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    depth: int

    def leaves(self, rows: np.ndarray) -> np.ndarray:
        """``(rows, trees)`` leaf of each row in each tree (local node ids)."""
        node = np.repeat(self.roots[None, :], len(rows), axis=0)
        index = np.arange(len(rows))[:, None]
        for _ in range(self.depth):
            value = rows[index, self.feature[node]]
            # float32 values against float64 thresholds, as the trees compare;
            # a row at its leaf stays there (both children are the leaf).
            node = np.where(
                value <= self.threshold[node], self.left[node], self.right[node]
            )
        return node - self.roots[None, :]


def _path_forest(estimator: Any) -> _PathForest:
    paths = _PATH_FORESTS.get(estimator)
    if paths is None:
        width = int(estimator.n_features_in_)
        trees = [tree.tree_ for tree in estimator.estimators_]
        parts = [_path_table(tree, width, estimator.n_classes_) for tree in trees]
        base = 0.0
        for root_share, _ in parts:
            base += root_share
        sizes = np.array([tree.node_count for tree in trees])
        roots = np.concatenate([[0], np.cumsum(sizes)[:-1]])

        def stacked(name: str, shift: bool) -> np.ndarray:
            arrays = []
            for tree, offset in zip(trees, roots, strict=True):
                values = np.asarray(getattr(tree, name))
                # A leaf's children (-1) are the leaf itself.
                itself = np.arange(len(values)) + offset
                arrays.append(
                    np.where(values >= 0, values + offset, itself) if shift else values
                )
            return np.concatenate(arrays)

        paths = _PathForest(
            trees=trees,
            tables=[table for _, table in parts],
            stacked_tables=np.concatenate([table for _, table in parts]),
            base=base,
            roots=roots,
            left=stacked("children_left", True),
            right=stacked("children_right", True),
            feature=np.maximum(stacked("feature", False), 0),
            threshold=stacked("threshold", False),
            depth=max(int(tree.max_depth) for tree in trees),
        )
        _PATH_FORESTS[estimator] = paths
    return paths


def _path_table(tree: Any, width: int, n_classes: int) -> tuple[float, np.ndarray]:
    """The root's positive share, and per node the share changes by feature.

    Row ``node`` of the table holds, for each feature, the summed changes of
    the positive share (a node's positive class value over its class values,
    as a tree's ``predict_proba`` normalises them) at the splits on that
    feature between the root and ``node``. Filled level by level from the root.
    """
    values = tree.value[:, 0, :n_classes]
    totals = values.sum(axis=1)
    share = values[:, 1] / np.where(totals == 0.0, 1.0, totals)
    table = np.zeros((tree.node_count, width))
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    frontier = np.array([0])
    while len(frontier):
        inner = frontier[left[frontier] >= 0]
        for children in (left[inner], right[inner]):
            table[children] = table[inner]
            table[children, feature[inner]] += share[children] - share[inner]
        frontier = np.concatenate([left[inner], right[inner]])
    return float(share[0]), table
