"""Reasons behind each score: exact contributions, given back to the six inputs.

How a row is explained:

1. The candidate's own exact contributions (``Candidate.contributions``,
   ``contributions.py``) split the row's score over the model matrix's
   columns; on the probability scale (log-odds rescaled in proportion, and
   through the calibrator the same way) they add up, with a base value, to the
   model's probability of the row.
2. The feature transformer's declared lineage (``SessionFeatures.lineage``,
   ``features.SOURCES``) gives each model-matrix column's contribution to the
   input columns it is computed from, in equal shares: a derived feature of
   two inputs gives half to each, so the six inputs' contributions still add
   up to the same probability.
3. Up to three inputs with the largest effect (ties by column order) become
   reasons in business words, from the column spec and the training rows the
   model saw (``SessionFeatures.training_values_``, ``level_shares_``), e.g.
   ``basket value 250.00, higher than 95% of training sessions, raises the
   chance``. An input whose contribution is smaller than ``MIN_EFFECT`` is
   not a reason.

Explaining never changes a probability: it reads the model, it does not score
through another path.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from customer_purchase_prediction.candidates import registry
from customer_purchase_prediction.columns import (
    ALLOWED_LABELS,
    BY_NAME,
    FEATURE_COLUMNS,
)
from customer_purchase_prediction.contributions import Contributions
from customer_purchase_prediction.errors import ExplanationError
from customer_purchase_prediction.features import session_columns
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.values import MISSING_CODE

logger = logging.getLogger(__name__)
# Transformers already warned about a missing training profile (once each).
_WARNED: weakref.WeakSet[object] = weakref.WeakSet()
# Fitted transformers' label texts by column (``_label_table``).
_LABEL_TABLES: weakref.WeakKeyDictionary[object, dict[str, np.ndarray]] = (
    weakref.WeakKeyDictionary()
)

MAX_REASONS = 3
REASON_COLUMNS: tuple[str, ...] = tuple(
    f"reason_{rank}" for rank in range(1, MAX_REASONS + 1)
)
# A change of the probability smaller than this (0.01 percentage points) is
# no reason.
MIN_EFFECT = 1e-4
RAISES, LOWERS = "raises the chance", "lowers the chance"
EFFECTS = (LOWERS, RAISES)
NO_PROFILE = (
    "the model's artifact holds no profile of its training rows (it was trained "
    "before explanations existed), so reasons do not compare values with the "
    "training sessions; retrain with kedro run to get the comparison"
)


class InferenceParams(BaseModel):
    """Knobs of batch scoring (``inference:``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    explain: bool = Field(
        False,
        strict=True,
        description="Add reason_1..reason_3 (the reasons behind each score, in "
        "business words) to every prediction.",
    )


@dataclass(frozen=True)
class Explanation:
    """Each input's contribution to each row's probability, and the reasons.

    Attributes:
        contributions: ``(rows, inputs)`` in the order of ``columns``; with
            ``base`` they add up to ``probability``.
        base: The probability before any input's contribution, per row.
        probability: The model's probability of each row.
        reasons: ``(rows, MAX_REASONS)`` texts, the largest effect first;
            ``None`` where a row has fewer reasons.
        columns: The input columns, ``columns.FEATURE_COLUMNS``.
    """

    contributions: np.ndarray
    base: np.ndarray
    probability: np.ndarray
    reasons: np.ndarray
    columns: tuple[str, ...] = FEATURE_COLUMNS

    def frame(self) -> pd.DataFrame:
        """The reasons as columns ``reason_1..reason_3`` (text, missing if none)."""
        return pd.DataFrame(
            {
                name: pd.array(self.reasons[:, rank], dtype="str")
                for rank, name in enumerate(REASON_COLUMNS)
            }
        )

    def reason_lists(self) -> list[list[str]]:
        """Per row, its reasons (up to ``MAX_REASONS``), the largest effect first."""
        return [[text for text in row if text is not None] for row in self.reasons]


def explain(
    model: PurchaseModel,
    sessions: pd.DataFrame,
    *,
    probability: np.ndarray | None = None,
) -> Explanation:
    """The reasons behind the model's score of each validated session.

    Args:
        probability: The model's probabilities of these sessions, if already
            scored (saves a scoring pass); computed when omitted.
    """
    return explain_columns(model, session_columns(sessions), probability=probability)


def explain_columns(
    model: PurchaseModel,
    columns: Mapping[str, np.ndarray],
    *,
    probability: np.ndarray | None = None,
    matrix: np.ndarray | None = None,
) -> Explanation:
    """The reasons from validated column arrays (what ``contract.check_columns``
    gives), as ``explain`` does for a frame.

    Args:
        probability: The model's probabilities of these rows, if known.
        matrix: Their model matrix (``transform_columns``), if already built.
    """
    features = model.features
    if matrix is None:
        matrix = features.transform_columns(columns)
    if not len(matrix):
        empty = np.zeros(0)
        return Explanation(
            np.zeros((0, len(FEATURE_COLUMNS))),
            empty,
            empty,
            np.full((0, MAX_REASONS), None, dtype=object),
        )
    if probability is None:
        probability = model.predict_proba_matrix(matrix)
    per_column = model_contributions(model, matrix, probability)
    inputs = _to_inputs(per_column.values, features.lineage())
    reasons = _reasons(model, columns, inputs)
    return Explanation(inputs, per_column.base, probability, reasons)


def model_contributions(
    model: PurchaseModel, matrix: np.ndarray, probability: np.ndarray
) -> Contributions:
    """Each model-matrix column's contribution to the model's ``probability``.

    The candidate's contributions, in their proportions, from the base value's
    probability (through the calibrator, if the model has one) to the model's
    probability of each row: they add up to ``probability``, which explaining
    never recomputes another way.

    Raises:
        ExplanationError: the model's candidate declares no contributions.
    """
    candidate = registry().get(model.name)
    if candidate is None or candidate.contributions is None:
        raise ExplanationError(
            f"the model '{model.name}' cannot be explained: its candidate declares "
            "no contributions (candidates.py); ask for predictions without "
            "explanations, or train a candidate that has them"
        )
    reference = getattr(model.features, "matrix_mean_", None)
    if reference is None:
        reference = np.zeros(matrix.shape[1])
    raw = candidate.contributions_of(model.estimator, matrix, reference)
    base = raw.probability_base()
    calibrator = getattr(model, "calibrator", None)
    if calibrator is not None:
        base = calibrator.transform(base)
    return raw.rescaled(probability, base)


def _to_inputs(values: np.ndarray, lineage: np.ndarray) -> np.ndarray:
    """Model-matrix contributions given to the inputs, column by column in a
    fixed order (a BLAS product's sums would depend on the batch's size).

    Worked column-major (each column's values contiguous); the result is the
    ``(rows, inputs)`` view of that layout.
    """
    columns = np.ascontiguousarray(values.T)
    inputs = np.zeros((lineage.shape[1], len(values)))
    # Only the inputs a column is computed from (adding 0.0 changes nothing),
    # column after column as before.
    for column, given in zip(*(part.tolist() for part in np.nonzero(lineage))):
        inputs[given] += columns[column] * lineage[column, given]
    return inputs.T


def _reasons(
    model: PurchaseModel, columns: Mapping[str, np.ndarray], inputs: np.ndarray
) -> np.ndarray:
    """Up to ``MAX_REASONS`` reason texts per row, the largest effect first."""
    rows = len(inputs)
    effects = [np.abs(inputs[:, position]) for position in range(inputs.shape[1])]
    reasons = np.full((rows, MAX_REASONS), None, dtype=object)
    features = model.features
    profile = _has_profile(features)
    imputed = features.impute_columns(columns)
    for position, name in enumerate(FEATURE_COLUMNS):
        rank = _ranks(effects, position)
        row_index = np.flatnonzero(
            (rank < MAX_REASONS) & (effects[position] >= MIN_EFFECT)
        )
        if not len(row_index):
            continue
        texts = _phrases(
            name,
            np.asarray(columns[name])[row_index],
            imputed[name][row_index],
            inputs[row_index, position] > 0,
            features if profile else None,
        )
        reasons[row_index, rank[row_index]] = texts
    return reasons


def _ranks(effects: list[np.ndarray], position: int) -> np.ndarray:
    """Per row, the place of input ``position`` by effect, the largest first and
    ties by column order (a stable sort's order), counted without sorting."""
    mine = effects[position]
    rank = np.zeros(len(mine), dtype=np.intp)
    for other, effect in enumerate(effects):
        if other != position:
            rank += (effect >= mine) if other < position else (effect > mine)
    return rank


def _has_profile(features: object) -> bool:
    """Whether the fitted transformer kept its training profile (warned once if not)."""
    if all(
        hasattr(features, name)
        for name in ("training_values_", "level_shares_", "matrix_mean_")
    ):
        return True
    if features not in _WARNED:
        _WARNED.add(features)
        logger.warning(NO_PROFILE)
    return False


def _phrases(
    name: str,
    given: np.ndarray,
    value: np.ndarray,
    raises: np.ndarray,
    features: object | None,
) -> np.ndarray:
    """The reason texts of ``name`` for these rows (values as given, imputed).

    A text depends only on the value, its effect and whether it was given:
    each distinct value's two texts (raises, lowers) are made once, from small
    tables of whole phrases (a level and its share, a comparison and its
    effect) and numbers formatted exactly as Python formats them
    (``formatted``), and the rows take theirs: no Python step per row.
    """
    column = BY_NAME[name]
    effect = raises.astype(np.intp)  # 0 lowers, 1 raises
    if column.kind == "label":
        level = np.asarray(value, dtype=np.intp)
        texts = _label_table(name, features)[level, effect]
        missing = np.flatnonzero(np.asarray(given) == MISSING_CODE)
        if len(missing):
            texts[missing] = _missing_label_table(name)[level[missing], effect[missing]]
        return texts
    words = name.replace("_", " ")
    unit = f" {column.unit}" if column.unit else ""
    # + 0.0 turns -0.0 (which the contract accepts as >= 0) into 0.0: a
    # reason says "time spent 0.00 minutes", not "-0.00".
    numbers = np.asarray(value, dtype=float) + 0.0
    decimals = 0 if column.is_integer else 2
    if len(numbers) <= _FEW_NUMBERS:  # a table costs more than a few rows
        texts = formatted(numbers, decimals, prefix=f"{words} ") + _tails(
            name, numbers, effect, features, unit=unit
        )
    else:
        group, distinct = _distinct(numbers)
        shown = formatted(distinct, decimals, prefix=f"{words} ")
        table = np.stack(
            [
                shown
                + _tails(
                    name, distinct, np.full(len(distinct), side), features, unit=unit
                )
                for side in (0, 1)
            ],
            axis=1,
        )
        texts = table[group, effect]
    missing = np.flatnonzero(np.isnan(np.asarray(given, dtype=float)))
    if len(missing):
        spec = ".0f" if column.is_integer else ".2f"
        # Missing values are imputed to a few values: one text per (value, effect).
        made: dict[tuple[float, int], str] = {}
        for row in missing.tolist():
            key = (float(numbers[row]), int(effect[row]))
            if key not in made:
                made[key] = (
                    f"{words} not given (taken as {numbers[row]:{spec}}{unit}), "
                    f"{EFFECTS[key[1]]}"
                )
            texts[row] = made[key]
    return texts


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's index into the distinct values, and those values (told
    apart by their bits, so ``-0.0`` and ``0.0`` stay two)."""
    group, distinct = pd.factorize(np.ascontiguousarray(values).view(np.int64))
    return group, np.asarray(distinct).view(np.float64)


@functools.cache
def _missing_label_table(name: str) -> np.ndarray:
    """A label column's texts for a missing value, by [imputed level, effect]."""
    words = name.replace("_", " ")
    return np.array(
        [
            [f"{words} not given (taken as {level}), {effect}" for effect in EFFECTS]
            for level in ALLOWED_LABELS[name]
        ],
        dtype=object,
    )


# Rounded to a whole multiple of 10**-decimals within this distance of a tie
# (in units of the last decimal), a number is formatted by Python itself: the
# product ``value * 10**decimals`` is off by far less (below ``_FAST_LIMIT``).
_TIE_MARGIN = 1e-6
_FAST_LIMIT = 1e9
_FEW_NUMBERS = 16


def formatted(values: np.ndarray, decimals: int, *, prefix: str = "") -> np.ndarray:
    """Each value as ``f"{prefix}{value:.{decimals}f}"`` (object array of texts;
    a value of 1e16 or more with six significant digits, ``1.79769e+308``).

    Values are rounded to their shown digits with numpy (half to even, as
    Python's formatting rounds) and each distinct rounded value is formatted
    once; a value whose rounding could differ from Python's (next to a tie,
    negative, huge or not finite) is formatted by Python itself, so every text
    is exactly the f-string's.
    """
    values = np.asarray(values, dtype=float)
    if len(values) <= _FEW_NUMBERS:  # not worth the rounding and the table
        return _python_formatted(values, decimals, prefix)
    scale = 10.0**decimals
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = values * scale
        fraction = np.abs(scaled - np.floor(scaled))
        odd = ~(
            (values >= 0)
            & ~np.signbit(values)
            & (scaled < _FAST_LIMIT)
            & (np.abs(fraction - 0.5) > _TIE_MARGIN)
        )
    codes = np.where(odd, 0.0, np.round(scaled)).astype(np.int64)
    distinct, inverse = np.unique(codes, return_inverse=True)
    table = np.array(
        [f"{prefix}{code / scale:.{decimals}f}" for code in distinct.tolist()],
        dtype=object,
    )
    texts = table[inverse.reshape(-1)]
    for row in np.flatnonzero(odd).tolist():
        texts[row] = prefix + _number_text(float(values[row]), decimals)
    return texts


def _python_formatted(values: np.ndarray, decimals: int, prefix: str) -> np.ndarray:
    texts = np.empty(len(values), dtype=object)
    texts[:] = [prefix + _number_text(value, decimals) for value in values.tolist()]
    return texts


# From here on a number reads in scientific notation (1.79769e+308), not as
# its 309 digits; every value the contract takes as a whole number is below.
_HUGE = 1e16


def _number_text(value: float, decimals: int) -> str:
    """``f"{value:.{decimals}f}"``, or six significant digits for a huge value."""
    return f"{value:.{decimals}f}" if abs(value) < _HUGE else f"{value:.6g}"


def _label_table(name: str, features: object | None) -> np.ndarray:
    """A label column's texts by [level, effect] (made once per transformer)."""
    tables = _LABEL_TABLES.setdefault(features, {}) if features is not None else {}
    table = tables.get(name)
    if table is None:
        words = name.replace("_", " ")
        shares = getattr(features, "level_shares_", {}).get(name, {})
        table = np.array(
            [
                [f"{words} {level}{_share(shares, level)}, {e}" for e in EFFECTS]
                for level in ALLOWED_LABELS[name]
            ],
            dtype=object,
        )
        tables[name] = table
    return table


def _share(shares: Mapping[str, float], level: str) -> str:
    if level not in shares:
        return ""
    return f" ({round(100 * shares[level])}% of training sessions)"


# ", higher than 95% of training sessions, raises the chance", by [higher,
# percent, effect]; 0% reads "as in most training sessions" (the value is
# that of nearly all of them). Without a training profile: the effect only.
_TAILS = np.array(
    [
        [
            [
                f", {side} than {share}% of training sessions, {effect}"
                if share
                else f", as in most training sessions, {effect}"
                for effect in EFFECTS
            ]
            for share in range(101)
        ]
        for side in ("lower", "higher")
    ],
    dtype=object,
)
_EFFECT_TAILS = np.array([f", {effect}" for effect in EFFECTS], dtype=object)


@functools.cache
def _unit_tails(unit: str) -> tuple[np.ndarray, np.ndarray]:
    """``_TAILS`` and ``_EFFECT_TAILS`` after a unit (made once per unit)."""
    return unit + _TAILS, unit + _EFFECT_TAILS


def _tails(
    name: str,
    value: np.ndarray,
    effect: np.ndarray,
    features: object | None,
    *,
    unit: str = "",
) -> np.ndarray:
    """What follows a number: its unit, how it compares with the training
    sessions, and its effect (``, higher than 95% of training sessions, raises
    the chance``); the unit joins the small table, not each row."""
    if features is None:
        return _unit_tails(unit)[1][effect]
    training = getattr(features, "training_values_")[name]
    count = len(training)
    below = np.searchsorted(training, value, side="left") / count
    above = 1.0 - np.searchsorted(training, value, side="right") / count
    higher = below >= above
    percent = np.round(100 * np.where(higher, below, above)).astype(np.intp)
    return _unit_tails(unit)[0][higher.astype(np.intp), percent, effect]
