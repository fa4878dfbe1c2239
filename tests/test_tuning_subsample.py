"""``tuning.stratified_subsample``: at most ``max_rows`` rows, both classes
kept in proportion, for every size just over the limit too."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from customer_purchase_prediction.columns import LABEL_COLUMN
from customer_purchase_prediction.tuning import stratified_subsample


@settings(max_examples=50, deadline=None)
@given(st.integers(10, 200), st.integers(0, 3), st.integers(0, 2**16))
def test_never_more_than_max_rows_even_one_row_over(
    max_rows: int, over: int, seed: int
) -> None:
    rows = max_rows + over
    labels = np.zeros(rows, dtype=int)
    labels[: max(2, rows // 3)] = 1
    frame = pd.DataFrame({LABEL_COLUMN: labels, "x": np.arange(rows)})
    sample = stratified_subsample(frame, max_rows, seed)
    assert len(sample) <= max_rows
    assert len(sample) >= max_rows - 2  # at most one row short per class
    assert set(sample[LABEL_COLUMN]) == {0, 1}
    assert sample.index.is_monotonic_increasing
    if over == 0:
        assert sample.equals(frame)
