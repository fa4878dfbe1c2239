"""Errors a user can act on; each message names the file, column or key at fault."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class PurchasePredictionError(Exception):
    """Base class of the errors this project raises for bad input."""


class SessionsFileError(PurchasePredictionError, ValueError):
    """A file cannot be a sessions file at all (missing, unreadable, wrong columns)."""


class InvalidRecordError(PurchasePredictionError, ValueError):
    """A single session record breaks the data contract.

    ``problems``: the ``(rule, reason)`` pairs of the contract's rules it
    breaks, in column order; empty when it was refused before the rules (an
    unknown key, not a record at all).
    """

    def __init__(self, message: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.problems)


class ModelNotFoundError(PurchasePredictionError, FileNotFoundError):
    """No trained model artifact exists where one was expected."""


class ArtifactMismatchError(PurchasePredictionError, ValueError):
    """The loaded model artifact is not the one the modelling outputs describe."""


class OutputPathError(PurchasePredictionError, OSError):
    """An output cannot be written where it was asked for (a folder, unwritable)."""


class ModelArtifactError(PurchasePredictionError, ValueError):
    """A model artifact is not one this project's training run wrote and recorded."""


class TrainingDataError(PurchasePredictionError, ValueError):
    """The validated training sessions cannot train a model (too few, one class)."""


class RunParameterError(PurchasePredictionError, ValueError):
    """A run-time parameter (``--params``) is unknown, misspelt or out of range."""


class ExplanationError(PurchasePredictionError, ValueError):
    """A model's scores cannot be explained (its candidate declares no contributions)."""


class DriftAlertError(PurchasePredictionError):
    """A scored batch drifted as far as ``monitoring.fail_on`` says fails the run."""


class TargetingError(PurchasePredictionError, ValueError):
    """A contact-list limit (``max_contacts``, ``budget``) is not a valid value."""
