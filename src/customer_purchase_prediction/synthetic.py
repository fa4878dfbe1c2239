"""Deterministic synthetic e-commerce browsing sessions with a known purchase truth.

Each session draws a customer type and a device, then a right-skewed session length,
a page count that grows with it, a zero-inflated basket value, and a purchase label
from a logit with threshold effects and interactions. Missing cells and messy values
(odd-case labels, negative numbers, text in numeric columns, duplicated ids, ...) are
injected only after the true probability and the label are fixed, so the truth table
always describes the clean session. Every step and constant is documented in
``docs/data_generation.md``.

Run ``python -m customer_purchase_prediction.synthetic --help`` for the CLI
(``synthetic_cli.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from customer_purchase_prediction.columns import (
    ALLOWED_LABELS,
    FEATURE_COLUMNS,
    TRAINING_COLUMNS,
)

logger = logging.getLogger(__name__)

# The column order (and the labels) come from the column spec; the generator
# draws each column's values below.
COLUMNS: tuple[str, ...] = TRAINING_COLUMNS
DEVICES: tuple[str, ...] = ("Mobile", "Desktop", "Tablet")  # never "Unknown"
CUSTOMER_TYPES: tuple[str, ...] = ALLOWED_LABELS["customer_type"]
DEFAULT_MESSY_FRACTION = 0.03
DEFAULT_MISSING_FRACTION = 0.03
DEFAULT_ID_START = 100001

# Steps 1-2: who is browsing, on what.
P_RETURNING = 0.40
P_DEVICE = (0.55, 0.35, 0.10)  # Mobile, Desktop, Tablet

# Step 3: log(time_spent) ~ Normal(log(median[device]) + shift * returning, sigma).
TIME_MEDIAN_MINUTES = (6.0, 11.0, 8.0)  # Mobile, Desktop, Tablet
TIME_RETURNING_SHIFT = 0.10
TIME_LOG_SIGMA = 0.65
TIME_CAP_MINUTES = 120.0  # sessions time out after two hours

# Step 4: pages_viewed ~ Poisson(mean * Gamma(k, 1/k)), a negative binomial.
PAGES_BASE = 1.0
PAGES_PER_MINUTE = 0.7
PAGES_DISPERSION = 4.0

# Step 5: basket_value is non-zero with a logistic probability, then log-normal.
BASKET_INTERCEPT = -0.7
BASKET_RETURNING = 1.1
BASKET_LOG_TIME = 1.0
BASKET_TIME_PIVOT = 8.0
BASKET_MEDIAN = 40.0
BASKET_RETURNING_SHIFT = 0.20
BASKET_LOG_SIGMA = 0.75
BASKET_MIN = 0.5

# Step 6: the purchase logit; a few strong, simple effects so 700 rows suffice.
LOGIT_INTERCEPT = -4.8
LOGIT_TIME_WEIGHT = 2.3  # saturating ramp: short sessions rarely buy, long ones plateau
LOGIT_TIME_CENTRE = 5.0
LOGIT_TIME_SCALE = 0.5
LOGIT_BASKET = 2.2  # jump when basket_value > 0
LOGIT_RETURNING = 0.3
LOGIT_RETURNING_BASKET = 0.9  # extra for a returning customer with a basket
LOGIT_DEVICE = (0.0, 0.5, 0.0)  # Mobile, Desktop, Tablet
LOGIT_MOBILE_MANY_PAGES = 1.0  # mobile shoppers who dig through many pages
LOGIT_MANY_PAGES = 9

# Step 7: missing cells; weights (empty/zero or new, non-zero or returning) scale
# missing_fraction so a cell goes missing mostly where the contract's fill is right.
MISSING_WEIGHT_BASKET = (1.6, 0.2)  # basket_value == 0, > 0
MISSING_WEIGHT_CUSTOMER = (1.5, 0.25)  # New, Returning

# Step 8: messy rows, half harmless label variants and half invalid values.
HARMLESS_STYLES: tuple[str, ...] = ("lower", "upper", "lead", "trail", "both")
INVALID_KINDS: tuple[str, ...] = (
    "negative_time",
    "negative_basket",
    "text_in_numeric",
    "unknown_device",
    "duplicate_id",
    "fractional_pages",
    "bad_purchase",
)
UNKNOWN_DEVICE = "SmartTV"
NUMERIC_TEXTS: tuple[str, ...] = ("abc", "n/a?")

# Shifted sessions (``shift=``), for testing drift monitoring. Each shift moves one
# thing and draws everything else exactly as without it (docs/data_generation.md).
SHIFTS: tuple[str, ...] = (
    "longer_sessions",
    "more_mobile",
    "new_device_label",
    "purchase_rule",
)
SHIFT_TIME_FACTOR = 2.0  # longer_sessions: every session lasts twice as long
SHIFT_P_DEVICE = (0.85, 0.10, 0.05)  # more_mobile: Mobile, Desktop, Tablet
SHIFT_NEW_DEVICE = "SmartTV"  # new_device_label: a device the contract does not know
SHIFT_NEW_DEVICE_SHARE = 0.20
# purchase_rule: the basket no longer matters and returning customers buy less.
SHIFT_LOGIT_BASKET = 0.0
SHIFT_LOGIT_RETURNING = -1.0


@dataclass(frozen=True)
class _CleanSessions:
    """Clean features as numpy arrays; categoricals are integer codes."""

    time_spent: np.ndarray
    pages_viewed: np.ndarray
    basket_value: np.ndarray
    device: np.ndarray
    returning: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Return the logistic function of ``x``."""
    return 1.0 / (1.0 + np.exp(-x))


def _draw_clean(rng: np.random.Generator, rows: int) -> _CleanSessions:
    """Draw the clean feature columns (steps 1-5)."""
    returning = rng.random(rows) < P_RETURNING
    device = rng.choice(len(DEVICES), size=rows, p=P_DEVICE)
    log_time = (
        np.log(TIME_MEDIAN_MINUTES)[device]
        + TIME_RETURNING_SHIFT * returning
        + TIME_LOG_SIGMA * rng.standard_normal(rows)
    )
    time_spent = np.round(np.minimum(np.exp(log_time), TIME_CAP_MINUTES), 2)
    mixing = rng.gamma(PAGES_DISPERSION, 1.0 / PAGES_DISPERSION, size=rows)
    pages_viewed = rng.poisson((PAGES_BASE + PAGES_PER_MINUTE * time_spent) * mixing)
    p_basket = _sigmoid(
        BASKET_INTERCEPT
        + BASKET_RETURNING * returning
        + BASKET_LOG_TIME * np.log(np.maximum(time_spent, 0.01) / BASKET_TIME_PIVOT)
    )
    has_basket = rng.random(rows) < p_basket
    amount = BASKET_MEDIAN * np.exp(
        BASKET_RETURNING_SHIFT * returning
        + BASKET_LOG_SIGMA * rng.standard_normal(rows)
    )
    basket_value = np.where(
        has_basket, np.round(np.maximum(amount, BASKET_MIN), 2), 0.0
    )
    return _CleanSessions(time_spent, pages_viewed, basket_value, device, returning)


def true_purchase_probability(
    time_spent: np.ndarray,
    pages_viewed: np.ndarray,
    basket_value: np.ndarray,
    device: np.ndarray,
    returning: np.ndarray,
    *,
    changed_rule: bool = False,
) -> np.ndarray:
    """Return the true purchase probability of clean sessions (step 6).

    ``device`` holds codes into ``DEVICES`` and ``returning`` is boolean;
    ``changed_rule`` applies the ``purchase_rule`` shift's weights.
    """
    has_basket = basket_value > 0
    is_mobile = device == DEVICES.index("Mobile")
    basket_weight = SHIFT_LOGIT_BASKET if changed_rule else LOGIT_BASKET
    returning_weight = SHIFT_LOGIT_RETURNING if changed_rule else LOGIT_RETURNING
    logit = (
        LOGIT_INTERCEPT
        + LOGIT_TIME_WEIGHT
        * _sigmoid((time_spent - LOGIT_TIME_CENTRE) / LOGIT_TIME_SCALE)
        + basket_weight * has_basket
        + returning_weight * returning
        + LOGIT_RETURNING_BASKET * (returning & has_basket)
        + np.asarray(LOGIT_DEVICE)[device]
        + LOGIT_MOBILE_MANY_PAGES * (is_mobile & (pages_viewed >= LOGIT_MANY_PAGES))
    )
    return _sigmoid(logit)


def _shifted(
    clean: _CleanSessions, shift: str, rng: np.random.Generator
) -> _CleanSessions:
    """The clean sessions with one shift applied after they were drawn.

    Applied after drawing, so that only the shifted column moves: longer
    sessions keep their page counts and baskets, more mobile traffic keeps
    each session's length.
    """
    if shift == "longer_sessions":
        time_spent = np.round(
            np.minimum(clean.time_spent * SHIFT_TIME_FACTOR, TIME_CAP_MINUTES), 2
        )
        return _CleanSessions(
            time_spent,
            clean.pages_viewed,
            clean.basket_value,
            clean.device,
            clean.returning,
        )
    if shift == "more_mobile":
        device = rng.choice(len(DEVICES), size=len(clean.device), p=SHIFT_P_DEVICE)
        return _CleanSessions(
            clean.time_spent,
            clean.pages_viewed,
            clean.basket_value,
            device,
            clean.returning,
        )
    return clean


def _missing_cells(
    clean: _CleanSessions, rng: np.random.Generator, missing_fraction: float
) -> dict[str, np.ndarray]:
    """Return, per feature column, which cells are missing (step 7).

    ``basket_value`` is mostly missing for empty baskets and ``customer_type`` mostly
    for new customers (guests), so each column's overall rate is about
    ``missing_fraction``.
    """
    shape = (len(FEATURE_COLUMNS), len(clean.time_spent))
    rate = np.full(shape, missing_fraction, dtype=np.float64)
    rate[FEATURE_COLUMNS.index("basket_value")] *= np.where(
        clean.basket_value > 0, MISSING_WEIGHT_BASKET[1], MISSING_WEIGHT_BASKET[0]
    )
    rate[FEATURE_COLUMNS.index("customer_type")] *= np.where(
        clean.returning, MISSING_WEIGHT_CUSTOMER[1], MISSING_WEIGHT_CUSTOMER[0]
    )
    gaps = rng.random(rate.shape) < rate
    return dict(zip(FEATURE_COLUMNS, gaps, strict=True))


def _restyle(labels: np.ndarray, styles: np.ndarray) -> np.ndarray:
    """Return ``labels`` in odd case or with surrounding spaces, one style per row."""
    lower = np.char.lower(labels.astype(str))
    variants = {
        "lower": lower,
        "upper": np.char.upper(labels.astype(str)),
        "lead": np.char.add(" ", lower),
        "trail": np.char.add(labels.astype(str), " "),
        "both": np.char.add(np.char.add(" ", lower), " "),
    }
    out = np.empty(len(labels), dtype=object)
    for style, values in variants.items():
        chosen = styles == style
        out[chosen] = values[chosen]
    return out


def _pages_as_object(pages: np.ndarray) -> np.ndarray:
    """Return page counts (float, NaN when missing) as Python ints and None."""
    gap = np.isnan(pages)
    out = np.nan_to_num(pages).astype(np.int64).astype(object)
    out[gap] = None
    return out


def _inject_harmless(
    columns: dict[str, np.ndarray],
    clean: _CleanSessions,
    at: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Write valid labels in odd case or with surrounding spaces at rows ``at``."""
    on_device = rng.random(len(at)) < 0.5  # noqa: PLR2004 - a fair coin
    styles = rng.choice(np.asarray(HARMLESS_STYLES), size=len(at))
    labels = np.where(
        on_device,
        np.asarray(DEVICES)[clean.device[at]],
        np.asarray(CUSTOMER_TYPES)[clean.returning[at].astype(int)],
    )
    restyled = _restyle(labels, styles)
    columns["device_type"][at[on_device]] = restyled[on_device]
    columns["customer_type"][at[~on_device]] = restyled[~on_device]


def _inject_invalid(
    columns: dict[str, np.ndarray],
    clean: _CleanSessions,
    invalid: np.ndarray,
    untouched: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Write invalid values at rows ``invalid``, each kind in turn.

    Kinds are dealt round-robin, then shuffled, so each appears when there are enough
    rows. A duplicated id copies the id of an earlier row from ``untouched``.
    """
    available = [
        kind
        for kind in INVALID_KINDS
        if kind != "bad_purchase" or "purchase" in columns
    ]
    kinds = rng.permutation(np.resize(np.asarray(available), len(invalid)))
    coin = rng.random(len(invalid)) < 0.5  # noqa: PLR2004 - a fair coin
    target = rng.integers(0, 3, size=len(invalid))  # numeric column given text
    filler = np.round(rng.uniform(5.0, 80.0, size=len(invalid)), 2)
    uniform = rng.random(len(invalid))
    at = {kind: invalid[kinds == kind] for kind in available}
    is_kind = {kind: kinds == kind for kind in available}

    rows = at["negative_time"]
    columns["time_spent"][rows] = -np.maximum(clean.time_spent[rows], 0.5)

    rows, mask = at["negative_basket"], is_kind["negative_basket"]
    basket = clean.basket_value[rows]
    columns["basket_value"][rows] = -np.where(basket > 0, basket, filler[mask])

    rows, mask = at["text_in_numeric"], is_kind["text_in_numeric"]
    text = np.where(coin[mask], NUMERIC_TEXTS[0], NUMERIC_TEXTS[1]).astype(object)
    in_minutes = (target[mask] == 0) & coin[mask]  # "12 min" in time_spent
    minutes = np.round(clean.time_spent[rows][in_minutes]).astype(np.int64)
    text[in_minutes] = np.char.add(minutes.astype(str), " min")
    for code, name in enumerate(("time_spent", "pages_viewed", "basket_value")):
        columns[name][rows[target[mask] == code]] = text[target[mask] == code]

    columns["device_type"][at["unknown_device"]] = UNKNOWN_DEVICE

    rows, mask = at["duplicate_id"], is_kind["duplicate_id"]
    earlier = np.searchsorted(untouched, rows)  # >= 1, as row 0 is never messy
    source = untouched[(uniform[mask] * earlier).astype(np.int64)]
    columns["customer_id"][rows] = columns["customer_id"][source]

    rows = at["fractional_pages"]
    columns["pages_viewed"][rows] = np.char.add(
        clean.pages_viewed[rows].astype(str), ".5"
    )

    if "purchase" in columns:
        rows, mask = at["bad_purchase"], is_kind["bad_purchase"]
        bad_labels = np.full(len(rows), 2, dtype=object)
        bad_labels[coin[mask]] = "yes"
        columns["purchase"][rows] = bad_labels


def _inject_messy(
    columns: dict[str, np.ndarray],
    clean: _CleanSessions,
    rng: np.random.Generator,
    messy_fraction: float,
) -> int:
    """Overwrite about ``messy_fraction`` of rows with messy values (step 8).

    Mutates ``columns`` in place and returns the number of messy rows: the first
    half (rounded up) harmless label variants, the rest invalid values. Row 0 is never
    messy, so every duplicated id can copy an earlier, untouched row.
    """
    rows = len(clean.time_spent)
    n_messy = min(round(messy_fraction * rows), rows - 1)
    if n_messy <= 0:
        return 0
    picked = 1 + rng.choice(rows - 1, size=n_messy, replace=False)
    n_harmless = n_messy - n_messy // 2
    is_untouched = np.ones(rows, dtype=bool)
    is_untouched[picked] = False
    # Numeric columns become Python objects so that they can also hold text.
    for name in ("time_spent", "basket_value", "purchase"):
        if name in columns:
            columns[name] = columns[name].astype(object)
    columns["pages_viewed"] = _pages_as_object(columns["pages_viewed"])
    _inject_harmless(columns, clean, picked[:n_harmless], rng)
    _inject_invalid(
        columns, clean, picked[n_harmless:], np.flatnonzero(is_untouched), rng
    )
    return n_messy


def _to_series(name: str, values: np.ndarray) -> pd.Series:
    """Return one column as a Series with a stable dtype."""
    if name in {"device_type", "customer_type"}:
        return pd.Series(values, name=name, dtype="str")
    if values.dtype == object:
        return pd.Series(values, name=name, dtype=object)
    if name == "pages_viewed":
        gap = np.isnan(values)
        counts = np.nan_to_num(values).astype(np.int64)
        return pd.Series(pd.arrays.IntegerArray(counts, gap), name=name)
    return pd.Series(values, name=name)


def generate_sessions(
    rows: int,
    seed: int,
    *,
    labelled: bool = True,
    messy_fraction: float = DEFAULT_MESSY_FRACTION,
    id_start: int = DEFAULT_ID_START,
    missing_fraction: float = DEFAULT_MISSING_FRACTION,
    shift: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate ``rows`` synthetic sessions and their true purchase probabilities.

    Args:
        rows: Number of sessions, at least 1.
        seed: Seed of ``np.random.default_rng``; the same arguments always give the
            same frames.
        labelled: Include the sampled ``purchase`` label (training data).
        messy_fraction: Share of rows given a messy value, half harmless label
            variants and half invalid values, injected after the label.
        id_start: First ``customer_id``; ids are sequential except duplicates.
        missing_fraction: Chance that each feature cell is missing.
        shift: One of ``SHIFTS``, to draw sessions unlike the training ones
            (for drift monitoring); ``None`` for the usual process.

    Returns:
        ``(sessions, truth)``: sessions with the columns of ``COLUMNS`` (without
        ``purchase`` when unlabelled), and a row-aligned truth table of the clean
        ``customer_id`` and the ``true_probability`` of the clean session.

    Raises:
        ValueError: If an argument is outside its allowed range.
    """
    if rows < 1:
        raise ValueError(f"rows must be >= 1; got {rows}")
    for name, share in (
        ("messy_fraction", messy_fraction),
        ("missing_fraction", missing_fraction),
    ):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1; got {share}")
    if shift is not None and shift not in SHIFTS:
        raise ValueError(f"shift must be one of {', '.join(SHIFTS)}; got {shift!r}")
    # Independent streams: the label, the missing cells and the mess never shift the
    # features, so labelled and unlabelled, clean and messy files share sessions.
    streams = np.random.default_rng(seed).spawn(4)
    feature_rng, label_rng, missing_rng, messy_rng = streams

    clean = _draw_clean(feature_rng, rows)
    if shift is not None:
        # A fifth stream, spawned only for a shift: unshifted files stay as they were.
        shift_rng = np.random.default_rng(
            np.random.SeedSequence(seed, spawn_key=(len(streams),))
        )
        clean = _shifted(clean, shift, shift_rng)
    probability = true_purchase_probability(
        clean.time_spent,
        clean.pages_viewed,
        clean.basket_value,
        clean.device,
        clean.returning,
        changed_rule=shift == "purchase_rule",
    )
    purchase = (label_rng.random(rows) < probability).astype(np.int64)
    ids = np.arange(id_start, id_start + rows, dtype=np.int64)
    truth = pd.DataFrame({"customer_id": ids, "true_probability": probability})

    gap = _missing_cells(clean, missing_rng, missing_fraction)
    columns: dict[str, np.ndarray] = {
        "customer_id": ids.copy(),
        "time_spent": np.where(gap["time_spent"], np.nan, clean.time_spent),
        "pages_viewed": np.where(gap["pages_viewed"], np.nan, clean.pages_viewed),
        "basket_value": np.where(gap["basket_value"], np.nan, clean.basket_value),
        "device_type": np.where(
            gap["device_type"], None, np.asarray(DEVICES, dtype=object)[clean.device]
        ),
        "customer_type": np.where(
            gap["customer_type"],
            None,
            np.asarray(CUSTOMER_TYPES, dtype=object)[clean.returning.astype(int)],
        ),
    }
    if shift == "new_device_label":
        relabelled = shift_rng.random(rows) < SHIFT_NEW_DEVICE_SHARE
        columns["device_type"] = np.where(
            relabelled, SHIFT_NEW_DEVICE, columns["device_type"]
        )
    if labelled:
        columns["purchase"] = purchase
    _inject_messy(columns, clean, messy_rng, messy_fraction)
    sessions = pd.DataFrame(
        {name: _to_series(name, columns[name]) for name in COLUMNS if name in columns}
    )
    return sessions, truth


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV, or as Parquet when ``path`` ends with ``.parquet``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        # Parquet columns hold one type, so a column mixing numbers and text is text.
        mixed = [name for name in frame.columns if frame[name].dtype == object]
        frame.astype(dict.fromkeys(mixed, "str")).to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, lineterminator="\n")


if __name__ == "__main__":
    from customer_purchase_prediction.synthetic_cli import main

    raise SystemExit(main())
