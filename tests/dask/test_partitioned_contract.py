"""The contract over partitions is the contract over their concatenation."""

from __future__ import annotations

import itertools

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from customer_purchase_prediction.columns import ID_COLUMN
from customer_purchase_prediction.contract import validate_sessions
from customer_purchase_prediction.partitioned import SOURCE_FILE, validate_partitions


def _frame(ids: list[object], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(ids)
    return pd.DataFrame(
        {
            ID_COLUMN: ids,
            "time_spent": rng.choice(["3.5", "-1", "", "x", "10"], n),
            "pages_viewed": rng.choice(["2", "2.5", "", "7"], n),
            "basket_value": rng.choice(["0", "12.5", "-3", ""], n),
            "device_type": rng.choice([" mobile", "Desktop", "Phone", ""], n),
            "customer_type": rng.choice(["New", "returning", ""], n),
        }
    )


def _part(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    frame.attrs["source"] = name
    return frame


@settings(max_examples=30, deadline=None)
@given(
    ids=st.lists(
        st.one_of(st.integers(0, 12).map(str), st.sampled_from(["", "a", "1.5", "-2"])),
        min_size=1,
        max_size=40,
    ),
    cuts=st.lists(st.integers(0, 40), max_size=4),
    seed=st.integers(0, 1000),
)
def test_rows_in_equal_kept_plus_rejected_and_match_one_frame(
    ids: list[object], cuts: list[int], seed: int
) -> None:
    whole = _frame(ids, seed)
    bounds = sorted({0, len(whole), *(c for c in cuts if c < len(whole))})
    pieces = [whole.iloc[a:b] for a, b in itertools.pairwise(bounds)]
    names = [f"part-{i}" for i in range(len(pieces))]
    parts = [_part(p, n) for p, n in zip(pieces, names, strict=True)]
    with dask.config.set(scheduler="synchronous"):
        raw = dd.from_map(lambda i: parts[i], range(len(parts)))
        valid, rejects, rows_in = validate_partitions(raw, labelled=False, source="x")
        valid, rejects = dask.compute(valid, rejects)
    expected = validate_sessions(whole, labelled=False)
    assert rows_in == len(whole) == len(valid) + len(rejects)
    pd.testing.assert_frame_equal(
        valid.reset_index(drop=True), expected.valid.reset_index(drop=True)
    )
    starts = np.cumsum([0] + [len(p) for p in parts])
    global_row = [
        starts[names.index(f)] + r
        for f, r in zip(rejects[SOURCE_FILE], rejects["source_row"], strict=True)
    ]
    assert global_row == expected.rejects["source_row"].tolist()
    assert (
        rejects["reject_reason"].tolist() == expected.rejects["reject_reason"].tolist()
    )
