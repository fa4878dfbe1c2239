"""The one private call of another library: it must still exist and agree."""

from __future__ import annotations

import numpy as np
import pytest
import treelite
import treelite.gtil
from sklearn.ensemble import RandomForestClassifier
from xgboost import XGBClassifier

from customer_purchase_prediction import treelite_adapter
from customer_purchase_prediction.candidates import get_candidate


def test_the_pinned_treelite_still_has_the_private_core() -> None:
    assert treelite.__version__ == treelite_adapter.PINNED_TREELITE, (
        "treelite was upgraded: check that treelite.gtil.gtil.GTILConfig and the C "
        "functions TreeliteGTILPredict / TreeliteGTILGetOutputShape still behave "
        "as treelite_adapter.py expects, then update "
        "PINNED_TREELITE (and the latency figure in docs/performance.md)"
    )
    assert treelite_adapter.uses_private_core(), (
        "treelite's GTILConfig or its C functions are gone: single records "
        "now take the slower public treelite.gtil.predict"
    )


def test_the_private_core_gives_the_public_functions_results() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.random((300, 5)), rng.integers(0, 2, 300)
    rows = rng.random((17, 5)).astype(np.float32)
    for name, estimator in (
        ("xgboost", XGBClassifier(n_estimators=20, max_depth=3).fit(X, y)),
        ("random_forest", RandomForestClassifier(n_estimators=10).fit(X, y)),
    ):
        model = get_candidate(name).scorer.compile(estimator).model
        for margin in (False, True):
            np.testing.assert_array_equal(
                treelite_adapter.predict(model, rows, margin=margin),
                treelite.gtil.predict(model, rows, nthread=1, pred_margin=margin),
            )


def test_a_row_of_the_wrong_width_is_refused_not_padded() -> None:
    rng = np.random.default_rng(1)
    X, y = rng.random((200, 5)), rng.integers(0, 2, 200)
    estimator = XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    model = get_candidate("xgboost").scorer.compile(estimator).model
    for width in (4, 6):
        rows = rng.random((3, width)).astype(np.float32)
        with pytest.raises(
            ValueError,
            match=f"shape \\(3, {width}\\); the trees expect rows of 5 columns",
        ):
            treelite_adapter.predict(model, rows, margin=True)


def test_any_batch_size_and_layout_gives_the_public_functions_bits() -> None:
    rng = np.random.default_rng(2)
    X, y = rng.random((300, 4)), rng.integers(0, 2, 300)
    forest = RandomForestClassifier(n_estimators=7, random_state=0).fit(X, y)
    model = get_candidate("random_forest").scorer.compile(forest).model
    rows = rng.random((64, 4))  # float64, as the forest's compiled input is
    for batch in (rows[:1], rows[:5], np.asfortranarray(rows), rows[::2]):
        np.testing.assert_array_equal(
            treelite_adapter.predict(model, batch, margin=False),
            treelite.gtil.predict(model, batch, nthread=1, pred_margin=False),
        )
