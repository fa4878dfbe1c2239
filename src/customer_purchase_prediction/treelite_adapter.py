"""The one place that reaches below another library's public Python API: treelite's GTIL.

``treelite.gtil.predict`` builds its settings as JSON and parses them on every
call, and its ``_predict_impl`` asks the C library for the model's input and
output types, its width and the output's shape on every call: for a single
record that is about as much as evaluating the trees (up to ~60 µs of ~80 µs
for the project's XGBoost). For single records and small batches this module
calls treelite's C function ``TreeliteGTILPredict`` itself (through the
``ctypes`` library treelite loads), with the settings parsed once and the
model's facts read once per model. What it buys is measured in
``docs/performance.md`` (single-record latency, the REST service).
``tests/test_treelite_adapter.py`` fails loudly when a treelite upgrade moves
or changes these names, and checks the results against the public function;
if they are gone at run time, the public function is used instead (slower,
same bits).
"""

from __future__ import annotations

import ctypes
import logging
import weakref
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import treelite
import treelite.gtil

logger = logging.getLogger(__name__)

PINNED_TREELITE = "4.8.1"  # the version this adapter was checked against


def _private_core() -> tuple[Any, Any, Any] | None:
    """``(GTILConfig, the C library, its error check)`` when treelite still has
    them, else None."""
    module = getattr(treelite.gtil, "gtil", None)
    config = getattr(module, "GTILConfig", None)
    core = getattr(treelite, "core", None)
    library = getattr(core, "_LIB", None)
    check = getattr(core, "_check_call", None)
    if config is None or library is None or check is None:
        return None
    if not all(
        hasattr(library, name)
        for name in ("TreeliteGTILPredict", "TreeliteGTILGetOutputShape")
    ):
        return None
    return config, library, check


_CORE = _private_core()
if _CORE is None:  # pragma: no cover - only on a treelite that changed
    logger.warning(
        "treelite %s has no GTILConfig/core._LIB.TreeliteGTILPredict; single "
        "records use the public treelite.gtil.predict (slower, same results)",
        treelite.__version__,
    )

_DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclass(frozen=True)
class _Facts:
    """What a call needs to know of a model, read from the C library once."""

    width: int  # features
    input_type: bytes  # treelite's name of the input's type
    input_dtype: type[np.floating]
    output_dtype: type[np.floating]
    tail: tuple[int, ...]  # the output's shape after its first (row) axis


# Per model and prediction type; dropped with the model.
_FACTS: weakref.WeakKeyDictionary[treelite.Model, dict[str, _Facts]] = (
    weakref.WeakKeyDictionary()
)


@cache
def _config(predict_type: str) -> Any:
    """treelite's prediction settings for one thread, parsed once."""
    assert _CORE is not None  # noqa: S101 - only called when the core exists
    return _CORE[0](nthread=1, predict_type=predict_type)


def _facts(model: treelite.Model, predict_type: str) -> _Facts:
    known = _FACTS.setdefault(model, {})
    if predict_type not in known:
        assert _CORE is not None  # noqa: S101 - only called when the core exists
        _, library, check = _CORE
        shape = ctypes.POINTER(ctypes.c_uint64)()
        dimensions = ctypes.c_uint64()
        check(
            library.TreeliteGTILGetOutputShape(
                model.handle,
                ctypes.c_uint64(1),
                _config(predict_type).handle,
                ctypes.byref(shape),
                ctypes.byref(dimensions),
            )
        )
        tail = np.ctypeslib.as_array(shape, shape=(dimensions.value,))[1:]
        known[predict_type] = _Facts(
            width=model.num_feature,
            input_type=model.input_type.encode(),
            input_dtype=_DTYPES[model.input_type],
            output_dtype=_DTYPES[model.output_type],
            tail=tuple(int(size) for size in tail),
        )
    return known[predict_type]


def predict(model: treelite.Model, features: np.ndarray, *, margin: bool) -> Any:
    """``treelite.gtil.predict(model, features, nthread=1, pred_margin=margin)``.

    ``features`` must have the model's width (treelite would pad or drop
    columns silently; this refuses).
    """
    if _CORE is None:  # pragma: no cover - only on a treelite that changed
        return treelite.gtil.predict(model, features, nthread=1, pred_margin=margin)
    predict_type = "raw" if margin else "default"
    facts = _facts(model, predict_type)
    if features.ndim != 2 or features.shape[1] != facts.width:  # noqa: PLR2004
        raise ValueError(
            f"the model matrix has shape {features.shape}; the trees expect "
            f"rows of {facts.width} columns"
        )
    rows = np.ascontiguousarray(features, dtype=facts.input_dtype)
    out = np.zeros((len(rows), *facts.tail), dtype=facts.output_dtype)
    _, library, check = _CORE
    check(
        library.TreeliteGTILPredict(
            model.handle,
            ctypes.c_void_p(rows.ctypes.data),
            facts.input_type,
            ctypes.c_uint64(len(rows)),
            ctypes.c_void_p(out.ctypes.data),
            _config(predict_type).handle,
        )
    )
    return out


def uses_private_core() -> bool:
    """Whether the fast private path is in use (for tests and benchmarks)."""
    return _CORE is not None
