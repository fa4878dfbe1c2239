"""A fitted-or-not check cheap enough for a single record's path.

scikit-learn's ``check_is_fitted`` also asks the estimator for its tags, which
costs more than scoring a record with logistic regression; the scoring paths
ask only whether the attribute that fitting sets is there, and refuse the same
way (``NotFittedError``, scikit-learn's message).
"""

from __future__ import annotations

from typing import Any

from sklearn.exceptions import NotFittedError

__all__ = ["require_fitted"]


def require_fitted(estimator: Any, attribute: str) -> None:
    """Raise ``NotFittedError`` unless ``estimator`` has ``attribute`` (set by fit)."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call "
            "'fit' with appropriate arguments before using this estimator."
        )
