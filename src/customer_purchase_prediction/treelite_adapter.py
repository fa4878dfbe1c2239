"""The one place that calls a private API of another library: treelite's GTIL core.

``treelite.gtil.predict`` builds its settings as JSON and parses them on every
call, about a third of its cost on one row. For single records this module calls
the function it wraps, ``treelite.gtil.gtil._predict_impl``, with settings
parsed once. What it buys is measured in ``docs/performance.md`` (single-record
latency). ``tests/test_treelite_adapter.py`` fails loudly when a treelite upgrade
moves or changes these names; if they are gone at run time, the public function
is used instead (slower, same bits).
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import numpy as np
import treelite
import treelite.gtil

logger = logging.getLogger(__name__)

PINNED_TREELITE = "4.8.1"  # the version this adapter was checked against


def _private_core() -> tuple[Any, Any] | None:
    """``(GTILConfig, _predict_impl)`` when treelite still has them, else None."""
    module = getattr(treelite.gtil, "gtil", None)
    config = getattr(module, "GTILConfig", None)
    predict = getattr(module, "_predict_impl", None)
    if config is None or predict is None:
        return None
    return config, predict


_CORE = _private_core()
if _CORE is None:  # pragma: no cover - only on a treelite that changed
    logger.warning(
        "treelite %s has no gtil._predict_impl/GTILConfig; single records use the "
        "public treelite.gtil.predict (slower, same results)",
        treelite.__version__,
    )


@cache
def _config(predict_type: str) -> Any:
    """treelite's prediction settings for one thread, parsed once."""
    assert _CORE is not None  # noqa: S101 - only called when the core exists
    return _CORE[0](nthread=1, predict_type=predict_type)


def predict(model: treelite.Model, features: np.ndarray, *, margin: bool) -> Any:
    """``treelite.gtil.predict(model, features, nthread=1, pred_margin=margin)``."""
    if _CORE is None:  # pragma: no cover - only on a treelite that changed
        return treelite.gtil.predict(model, features, nthread=1, pred_margin=margin)
    return _CORE[1](model, features, config=_config("raw" if margin else "default"))


def uses_private_core() -> bool:
    """Whether the fast private path is in use (for tests and benchmarks)."""
    return _CORE is not None
