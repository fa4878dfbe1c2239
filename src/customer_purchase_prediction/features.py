"""The feature transformer shared by training, batch scoring and ``PurchasePredictor``.

``SessionFeatures`` follows scikit-learn's estimator contract. ``fit`` learns every
statistic from the rows it is given (imputation values, scaling ranges, the
engagement cut-off, category levels); ``transform`` applies them. Its core works
on plain column arrays, so one record and a million rows run the same code.

Rules (documented in ``docs/features.md``):

- Imputation: each feature column's missing rule in the column spec
  (``columns.py``): the training median of ``time_spent``, the training mean
  of ``pages_viewed`` rounded to a whole number, and constants for the rest.
- ``engagement_score`` = mean of ``log1p(time_spent) / log1p(time_cap)`` and
  ``log1p(pages_viewed) / log1p(pages_cap)``, each clipped to [0, 1], where the
  caps are the training rows' ``cap_quantile`` quantiles.
- ``basket_intensity`` = ``basket_value / (pages_viewed + 1)``.
- ``behavioral_segment``: engaged = ``engagement_score >= `` the training median
  engagement; has basket = ``basket_value > 0``. Engaged with a basket is
  ``high_engagement``; not engaged with a basket ``focused_shopper``; engaged
  without a basket ``window_shopper``; neither ``casual_browser``.
- Numeric features are MinMax-scaled to [0, 1] with the training ranges (values
  outside them are clipped); categoricals are one-hot encoded over the levels
  seen in training, and an unseen level encodes as all zeros.

Labels travel as int8 codes into the contract's allowed levels, never as Python
strings, which keeps a million rows fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from customer_purchase_prediction.columns import (
    ALLOWED_LABELS,
    BASKET_VALUE,
    BY_NAME,
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    NUMERIC_COLUMNS,
    PAGES_VIEWED,
    TIME_SPENT,
)
from customer_purchase_prediction.fitted import require_fitted
from customer_purchase_prediction.values import (
    MISSING_CODE,
    column_values,
    label_codes,
    labels_from_codes,
)

SEGMENTS: tuple[str, ...] = (
    "high_engagement",
    "focused_shopper",
    "window_shopper",
    "casual_browser",
)
ENGINEERED_NUMERIC: tuple[str, ...] = ("engagement_score", "basket_intensity")
SCALED_COLUMNS: tuple[str, ...] = (*NUMERIC_COLUMNS, *ENGINEERED_NUMERIC)
ONE_HOT_COLUMNS: tuple[str, ...] = (*CATEGORICAL_COLUMNS, "behavioral_segment")
LEVELS: dict[str, tuple[str, ...]] = {**ALLOWED_LABELS, "behavioral_segment": SEGMENTS}
# The lineage: the input columns each engineered feature is computed from (an
# input column comes from itself). Explanations (explain.py) read it to give a
# model-matrix column's contribution back to the inputs, in equal shares.
SOURCES: dict[str, tuple[str, ...]] = {
    **{name: (name,) for name in FEATURE_COLUMNS},
    "engagement_score": (TIME_SPENT, PAGES_VIEWED),
    "basket_intensity": (BASKET_VALUE, PAGES_VIEWED),
    "behavioral_segment": (TIME_SPENT, PAGES_VIEWED, BASKET_VALUE),
}
# At most this many sorted training values of each number are kept (quantiles
# beyond it): what an explanation compares a value with.
TRAINING_VALUES = 2001
# Missing labels are imputed with the code of the spec's fill (into ALLOWED_LABELS).
_CATEGORY_FILLS = np.array(
    [[BY_NAME[name].levels.index(BY_NAME[name].fill)] for name in CATEGORICAL_COLUMNS],
    np.int8,
)

Columns = Mapping[str, np.ndarray]


class SessionFeatures(TransformerMixin, BaseEstimator):
    """Impute, engineer, scale and one-hot encode validated session columns.

    Args:
        cap_quantile: Quantile of the training rows used as the upper cap of
            time and pages in ``engagement_score``.
    """

    def __init__(self, *, cap_quantile: float = 0.99) -> None:
        self.cap_quantile = cap_quantile

    def fit(self, X: pd.DataFrame, y: object = None) -> SessionFeatures:
        """Learn imputation values, caps, cut-offs, ranges and levels from ``X``."""
        columns = _columns_of(X)
        self.__dict__.pop("_one_hot_cache", None)
        self.__dict__.pop("_fills_cache", None)
        self.fill_values_ = {
            name: _learn_fill(name, _floats(columns[name])) for name in NUMERIC_COLUMNS
        }
        filled = self._impute(columns)
        self.time_cap_ = max(
            float(np.quantile(filled[TIME_SPENT], self.cap_quantile)), 1e-9
        )
        self.pages_cap_ = max(
            float(np.quantile(filled[PAGES_VIEWED], self.cap_quantile)), 1e-9
        )
        engagement = self._engagement(filled[TIME_SPENT], filled[PAGES_VIEWED])
        self.engagement_cut_ = float(np.median(engagement))
        engineered = self._engineer(filled)
        numeric = np.column_stack([engineered[name] for name in SCALED_COLUMNS])
        self.data_min_ = numeric.min(axis=0)
        self.data_range_ = np.where(
            numeric.max(axis=0) > self.data_min_,
            numeric.max(axis=0) - self.data_min_,
            1.0,
        )
        self.categories_ = {
            name: tuple(
                sorted(LEVELS[name][code] for code in np.unique(engineered[name]))
            )
            for name in ONE_HOT_COLUMNS
        }
        self.feature_names_in_ = np.array(FEATURE_COLUMNS, dtype=object)
        self.n_features_in_ = len(FEATURE_COLUMNS)
        self._learn_training_profile(filled)
        return self

    def _learn_training_profile(self, filled: dict[str, np.ndarray]) -> None:
        """What explanations compare a session with: the training rows' values.

        ``training_values_``: per number, its sorted imputed training values
        (``TRAINING_VALUES`` quantiles when there are more); ``level_shares_``:
        per label, the share of training rows with each level; ``matrix_mean_``:
        the mean model-matrix row (a linear model's reference point).
        """
        self.training_values_ = {
            name: _sorted_sample(filled[name]) for name in NUMERIC_COLUMNS
        }
        self.level_shares_ = {
            name: {
                level: float(np.mean(filled[name] == code))
                for code, level in enumerate(ALLOWED_LABELS[name])
            }
            for name in CATEGORICAL_COLUMNS
        }
        self.matrix_mean_ = self.transform_columns(filled).mean(axis=0)

    def lineage(self) -> np.ndarray:
        """How the model matrix's columns come from the input columns.

        Row ``i`` gives column ``i`` of the model matrix (``get_feature_names_out``)
        to the inputs (``FEATURE_COLUMNS``) it is computed from, in equal shares
        that add up to 1 (``SOURCES``); contributions times this matrix are the
        inputs' contributions, with the same total.
        """
        check_is_fitted(self, "categories_")
        bases = [*SCALED_COLUMNS]
        bases += [name for name in ONE_HOT_COLUMNS for _ in self.categories_[name]]
        weights = np.zeros((len(bases), len(FEATURE_COLUMNS)))
        for row, base in enumerate(bases):
            for source in SOURCES[base]:
                weights[row, FEATURE_COLUMNS.index(source)] = 1.0 / len(SOURCES[base])
        return weights

    def impute_columns(self, columns: Columns) -> dict[str, np.ndarray]:
        """The input columns as the model sees them: missing values imputed."""
        check_is_fitted(self, "categories_")
        return self._impute(columns)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """The model matrix of ``X``: scaled numerics then one-hot categoricals."""
        return self.transform_columns(_columns_of(X))

    def transform_columns(self, columns: Columns) -> np.ndarray:
        """The model matrix from column arrays (the core both paths call).

        ``columns`` are as ``contract.check_columns`` types them: floats (NaN
        where missing) for numbers, int8 codes into ``ALLOWED_LABELS`` for labels
        (``MISSING_CODE`` where missing, imputed; ``UNKNOWN_CODE`` for a label
        outside the contract, which encodes as no level; no other codes).
        """
        # check_is_fitted also builds the estimator's tags; one fitted
        # attribute is enough here, where a single record must stay well
        # under a millisecond.
        require_fitted(self, "categories_")
        engineered = self._engineer(self._impute(columns))
        numeric = np.array([engineered[name] for name in SCALED_COLUMNS]).T
        scaled = _unit((numeric - self.data_min_) / self.data_range_)
        one_hot = [
            table[engineered[name]] for name, table in self._one_hot_tables().items()
        ]
        return np.concatenate([scaled, *one_hot], axis=1)

    def engineer(self, X: pd.DataFrame) -> pd.DataFrame:
        """Readable engineered features of ``X``: imputed inputs, scores, segment."""
        check_is_fitted(self)
        engineered = self._engineer(self._impute(_columns_of(X)))
        readable = {
            name: labels_from_codes(engineered[name], LEVELS[name]).to_numpy()
            if name in LEVELS
            else engineered[name]
            for name in (*FEATURE_COLUMNS, *ENGINEERED_NUMERIC, "behavioral_segment")
        }
        return pd.DataFrame(readable, index=X.index).astype(
            {name: "str" for name in ONE_HOT_COLUMNS}
        )

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Names of the model matrix's columns, e.g. ``device_type_Mobile``."""
        check_is_fitted(self)
        names = [*SCALED_COLUMNS]
        names += [
            f"{name}_{level}"
            for name in ONE_HOT_COLUMNS
            for level in self.categories_[name]
        ]
        return np.array(names, dtype=object)

    def __getstate__(self) -> dict[str, object]:
        # The lookups are caches of fitted attributes, rebuilt on first use.
        state = super().__getstate__()
        state.pop("_one_hot_cache", None)
        state.pop("_fills_cache", None)
        return state

    def _one_hot_tables(self) -> dict[str, np.ndarray]:
        """Per one-hot column, the encoded row of each code (a lookup table).

        Row ``code`` of a table is the encoding of ``LEVELS[name][code]``: a 1 in
        the column of that level if it was seen in training, else all zeros. Two
        trailing rows of zeros encode the negative codes (``MISSING_CODE`` and
        ``UNKNOWN_CODE``) as no level. Built once from ``categories_``.
        """
        tables = self.__dict__.get("_one_hot_cache")
        if tables is None:
            tables = {
                name: np.array(
                    [
                        [float(level == seen) for seen in self.categories_[name]]
                        for level in (*LEVELS[name], None, None)
                    ]
                ).reshape(len(LEVELS[name]) + 2, len(self.categories_[name]))
                for name in ONE_HOT_COLUMNS
            }
            self.__dict__["_one_hot_cache"] = tables
        return tables

    def _impute(self, columns: Columns) -> dict[str, np.ndarray]:
        # Numbers and labels are each filled as one 2-D array (a row a column),
        # which keeps a single record to a few array operations.
        numbers = np.array([_floats(columns[name]) for name in NUMERIC_COLUMNS])
        numbers = np.where(np.isnan(numbers), self._numeric_fills, numbers)
        codes = np.array([columns[name] for name in CATEGORICAL_COLUMNS], dtype=np.int8)
        codes = np.where(codes == MISSING_CODE, _CATEGORY_FILLS, codes)
        return dict(zip(NUMERIC_COLUMNS, numbers, strict=True)) | dict(
            zip(CATEGORICAL_COLUMNS, codes, strict=True)
        )

    @property
    def _numeric_fills(self) -> np.ndarray:
        """The fill of each numeric column, as a column vector."""
        fills = self.__dict__.get("_fills_cache")
        if fills is None:
            fills = np.array([[self.fill_values_[n]] for n in NUMERIC_COLUMNS])
            self.__dict__["_fills_cache"] = fills
        return fills

    def _engagement(self, time: np.ndarray, pages: np.ndarray) -> np.ndarray:
        caps = np.log1p([[self.time_cap_], [self.pages_cap_]])
        parts = _unit(np.log1p(np.array([time, pages])) / caps)
        return (parts[0] + parts[1]) / 2.0

    def _engineer(self, filled: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        engagement = self._engagement(filled[TIME_SPENT], filled[PAGES_VIEWED])
        basket = filled[BASKET_VALUE]
        engaged = engagement >= self.engagement_cut_
        has_basket = basket > 0
        # Codes into SEGMENTS: high_engagement 0, focused_shopper 1 (not engaged),
        # window_shopper 2 (no basket), casual_browser 3 (neither).
        segment = (3 - engaged.astype(np.int8) - 2 * has_basket.astype(np.int8)).astype(
            np.int8
        )
        return {
            **filled,
            "engagement_score": engagement,
            "basket_intensity": basket / (filled[PAGES_VIEWED] + 1.0),
            "behavioral_segment": segment,
        }


def _columns_of(X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Column arrays of a frame: floats for numbers, int8 codes for labels."""
    missing = [name for name in FEATURE_COLUMNS if name not in X.columns]
    if missing:
        raise ValueError(
            f"columns {missing} are missing; SessionFeatures expects "
            f"{', '.join(FEATURE_COLUMNS)}"
        )
    columns = {
        name: X[name].to_numpy(dtype=float, na_value=np.nan) for name in NUMERIC_COLUMNS
    }
    return columns | {
        name: label_codes(column_values(X[name]), ALLOWED_LABELS[name])
        for name in CATEGORICAL_COLUMNS
    }


def session_columns(X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Validated sessions as the column arrays ``transform_columns`` takes."""
    return _columns_of(X)


def _sorted_sample(values: np.ndarray) -> np.ndarray:
    """Sorted values, or ``TRAINING_VALUES`` of their quantiles when more."""
    if len(values) <= TRAINING_VALUES:
        return np.sort(values)
    return np.quantile(values, np.linspace(0.0, 1.0, TRAINING_VALUES))


def _learn_fill(name: str, values: np.ndarray) -> float:
    """The value that imputes a missing ``name``, by its rule in the column spec."""
    rule = BY_NAME[name].missing
    if rule == "constant":
        return float(BY_NAME[name].fill)
    if np.isnan(values).all():
        raise ValueError(
            f"cannot fit SessionFeatures: {name} has no values in the training rows"
        )
    if rule == "median":
        return float(np.nanmedian(values))
    return float(np.round(np.nanmean(values)))  # mean_rounded


def _floats(values: np.ndarray) -> np.ndarray:
    """Values as a float array; ``None`` becomes NaN."""
    return np.asarray(values, dtype=float)


def _unit(values: np.ndarray) -> np.ndarray:
    """Values clipped to [0, 1] (the ufuncs; ``np.clip`` costs more per call)."""
    return np.minimum(np.maximum(values, 0.0), 1.0)


# ---------------------------------------------------------------- from statistics
# The scale-out path (``partitioned.fit_feature_transformer``) learns the same
# statistics with Dask reductions over every training row and builds the
# transformer from them; ``fit`` above, the pandas path, is unchanged.


@dataclass(frozen=True)
class FeatureStatistics:
    """Every statistic ``SessionFeatures.fit`` learns, given from outside.

    Attributes:
        rows: How many training rows the statistics were computed on.
        fill_values: The imputation value of each numeric input column.
        time_cap: The ``cap_quantile`` quantile of imputed ``time_spent``.
        pages_cap: The same of imputed ``pages_viewed``.
        engagement_cut: The median ``engagement_score``.
        data_min: The minimum of each ``SCALED_COLUMNS`` column.
        data_max: The maximum of each.
        codes: The codes (into ``LEVELS``) seen of each ``ONE_HOT_COLUMNS`` column.
        training_values: Per numeric input column, its sorted imputed values
            (``TRAINING_VALUES`` quantiles when more).
        level_shares: Per label column, the share of rows with each level.
        matrix_mean: The mean model-matrix row.
    """

    rows: int
    fill_values: Mapping[str, float]
    time_cap: float = 1.0
    pages_cap: float = 1.0
    engagement_cut: float = 0.0
    data_min: np.ndarray = field(default_factory=lambda: np.zeros(len(SCALED_COLUMNS)))
    data_max: np.ndarray = field(default_factory=lambda: np.ones(len(SCALED_COLUMNS)))
    codes: Mapping[str, np.ndarray] = field(
        default_factory=lambda: {n: np.arange(len(LEVELS[n])) for n in ONE_HOT_COLUMNS}
    )
    training_values: Mapping[str, np.ndarray] = field(default_factory=dict)
    level_shares: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    matrix_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))


def learned_fill(name: str) -> str | None:
    """The statistic a numeric column's missing rule learns: ``median``,
    ``mean_rounded``, or None for a constant fill (the column spec)."""
    rule = BY_NAME[name].missing
    return None if rule == "constant" else rule


def fill_from(name: str, *, median: float, mean: float) -> float:
    """The fill of ``name`` by its rule, from its training median and mean
    (NaN when the column had no value), as ``fit`` learns it."""
    rule = learned_fill(name)
    if rule is None:
        return float(BY_NAME[name].fill)
    value = median if rule == "median" else mean
    if np.isnan(value):
        raise ValueError(
            f"cannot fit SessionFeatures: {name} has no values in the training rows"
        )
    return float(value) if rule == "median" else float(np.round(value))


def features_from_statistics(
    statistics: FeatureStatistics, *, cap_quantile: float = 0.99
) -> SessionFeatures:
    """A fitted ``SessionFeatures`` holding ``statistics``, as ``fit`` would
    hold them had it learned them itself (the caps floored and the ranges
    made nonzero as ``fit`` does); ``statistics_rows_`` says on how many rows.

    Statistics not given yet keep neutral defaults, so the scale-out path can
    build the transformer step by step (the caps need the fills, the cut the
    caps, the ranges the cut).
    """
    transformer = SessionFeatures(cap_quantile=cap_quantile)
    transformer.fill_values_ = {
        n: float(statistics.fill_values[n]) for n in NUMERIC_COLUMNS
    }
    transformer.time_cap_ = max(float(statistics.time_cap), 1e-9)
    transformer.pages_cap_ = max(float(statistics.pages_cap), 1e-9)
    transformer.engagement_cut_ = float(statistics.engagement_cut)
    low = np.asarray(statistics.data_min, dtype=float)
    high = np.asarray(statistics.data_max, dtype=float)
    transformer.data_min_ = low
    transformer.data_range_ = np.where(high > low, high - low, 1.0)
    transformer.categories_ = {
        name: tuple(sorted(LEVELS[name][int(code)] for code in np.unique(codes)))
        for name, codes in statistics.codes.items()
    }
    transformer.feature_names_in_ = np.array(FEATURE_COLUMNS, dtype=object)
    transformer.n_features_in_ = len(FEATURE_COLUMNS)
    transformer.training_values_ = dict(statistics.training_values)
    transformer.level_shares_ = {k: dict(v) for k, v in statistics.level_shares.items()}
    transformer.matrix_mean_ = np.asarray(statistics.matrix_mean, dtype=float)
    transformer.statistics_rows_ = int(statistics.rows)
    return transformer


def engineered_columns(
    transformer: SessionFeatures, columns: Columns
) -> dict[str, np.ndarray]:
    """The imputed inputs and engineered features (codes for labels) that
    ``transform_columns`` scales and encodes."""
    check_is_fitted(transformer, "categories_")
    return transformer._engineer(transformer._impute(columns))
