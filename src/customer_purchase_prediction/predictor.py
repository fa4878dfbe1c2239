"""``PurchasePredictor``: the trained model, for use from Python.

It wraps the same ``PurchaseModel`` artifact and the same data contract as the
batch pipeline, so a session gets the same probability whichever way it is
scored. A single record goes straight to the contract's and the transformer's
array cores (no DataFrame), which keeps one prediction well under a millisecond.

Example (a record holds the columns of ``columns.SESSION_COLUMNS``):
    >>> from customer_purchase_prediction import PurchasePredictor
    >>> from customer_purchase_prediction.columns import example_record
    >>> predictor = PurchasePredictor()  # the latest model this project trained
    >>> predictor.predict(example_record(), return_probabilities=True)
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from kedro.config import OmegaConfigLoader
from kedro.io import Version

from customer_purchase_prediction.columns import ID_COLUMN, SESSION_COLUMNS
from customer_purchase_prediction.contract import (
    ValidationResult,
    check_columns,
    validate_sessions,
)
from customer_purchase_prediction.datasets import (
    ModelArtifactDataset,
    TableDataset,
    load_unwrapped,
)
from customer_purchase_prediction.errors import InvalidRecordError, ModelNotFoundError
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.pipelines.inference.nodes import (
    rank_predictions,
    score_sessions,
)
from customer_purchase_prediction.values import MAX_INTEGER

PACKAGE = "customer_purchase_prediction"
MODEL_DATASET = "purchase_model"

Record = Mapping[str, Any]


class BatchPrediction(NamedTuple):
    """Scored rows and rejected rows of a batch; together, every input row."""

    predictions: pd.DataFrame | list[dict[str, Any]]
    rejects: pd.DataFrame | list[dict[str, Any]]


class PurchasePredictor:
    """Scores sessions with a trained ``PurchaseModel``.

    Args:
        model: A ``PurchaseModel``, a path to an artifact file, or ``None`` for the
            project's ``purchase_model`` catalog entry.
        version: With ``model=None``: the Kedro version to load (as given to
            ``--load-versions``); the latest when omitted.
        project_path: The Kedro project to load from; found from the working
            directory or this package's location when omitted.

    Raises:
        ModelNotFoundError: no trained model exists yet (run ``kedro run``).
    """

    def __init__(
        self,
        model: PurchaseModel | str | Path | None = None,
        *,
        version: str | None = None,
        project_path: str | Path | None = None,
    ) -> None:
        if isinstance(model, PurchaseModel):
            self.model = model
        elif model is not None:
            self.model = _load_file(Path(model))
        else:
            self.model = _load_from_project(_project_root(project_path), version)
        # Compile the trees now, so the first prediction is as fast as the rest.
        _ = self.model.compiled_trees

    def predict(
        self,
        data: Record | Sequence[Record] | pd.DataFrame,
        *,
        return_probabilities: bool = False,
    ) -> dict[str, Any] | BatchPrediction:
        """Predict one session (a dict) or a batch (a list of dicts or a DataFrame).

        A dict returns one prediction and raises ``InvalidRecordError`` naming
        the field and value when it breaks the data contract. A batch returns
        ``BatchPrediction(predictions, rejects)`` in the input's form (DataFrames
        for a DataFrame, lists of dicts for a list), in input order; bad rows are
        rejected with a reason while the good rows are scored. Missing fields
        are imputed as the data contract says.
        """
        if isinstance(data, Mapping):
            return self._predict_record(data, return_probabilities)
        if isinstance(data, pd.DataFrame):
            scored, rejects = self._predict_frame(data, return_probabilities)
            return BatchPrediction(scored, rejects)
        frame = pd.DataFrame.from_records(list(data), columns=_record_columns(data))
        scored, rejects = self._predict_frame(frame, return_probabilities)
        return BatchPrediction(
            scored.to_dict(orient="records"), rejects.to_dict(orient="records")
        )

    def predict_from_csv(
        self,
        csv_path: str | Path,
        output_path: str | Path | None = None,
        *,
        return_probabilities: bool = True,
    ) -> BatchPrediction:
        """Score a sessions file (CSV or Parquet) as the inference pipeline does.

        Predictions come ranked, the most likely buyers first. With
        ``output_path`` they are written there (CSV or Parquet by extension) and
        the rejected rows next to them, as ``<name>_rejected.<ext>``.

        Raises:
            SessionsFileError: the file cannot be a sessions file at all.
        """
        raw = load_unwrapped(TableDataset(filepath=str(csv_path)))
        result = validate_sessions(raw, labelled=False, source=str(csv_path))
        scored = rank_predictions(score_sessions(result.valid, self.model))
        if not return_probabilities:
            scored = scored.drop(columns="purchase_probability")
        if output_path is not None:
            output = Path(output_path)
            TableDataset(filepath=str(output)).save(scored)
            rejects_path = output.with_name(f"{output.stem}_rejected{output.suffix}")
            TableDataset(filepath=str(rejects_path)).save(result.rejects)
        return BatchPrediction(scored, result.rejects)

    def get_model_info(self) -> dict[str, Any]:
        """What model this is: name, version, threshold, metrics, versions."""
        metadata = self.model.metadata
        return {
            "model_name": self.model.name,
            "version": self.model.version,
            "threshold": self.model.threshold,
            "confidence_margins": dict(
                zip(("high", "medium"), self.model.confidence_margins, strict=True)
            ),
            **{
                key: metadata.get(key)
                for key in (
                    "estimator",
                    "trained_at",
                    "selection_metric",
                    "hyperparameters",
                    "training_rows",
                    "data_fingerprint",
                    "cv",
                    "test",
                    "features",
                    "library_versions",
                )
            },
            "input_columns": list(SESSION_COLUMNS),
        }

    def validate_input_data(
        self, data: Record | Sequence[Record] | pd.DataFrame
    ) -> ValidationResult:
        """Check data against the contract without scoring it.

        Returns:
            The rows that would be scored (typed) and the rejected rows with
            ``reject_reason``; ``result.rejects.empty`` means all is well.
        """
        frame = _as_frame(data)
        return validate_sessions(frame, labelled=False)

    def _predict_record(self, record: Record, with_proba: bool) -> dict[str, Any]:
        columns = {name: _one_value(record.get(name)) for name in SESSION_COLUMNS}
        typed, problems = check_columns(columns, labelled=False)
        if problems:
            reasons = "; ".join(reason for _, reason in problems[0])
            raise InvalidRecordError(f"invalid session record: {reasons}")
        proba = self.model.predict_proba_columns(typed)
        prediction, confidence = self.model.label(proba)
        result = {
            ID_COLUMN: int(typed[ID_COLUMN][0]),
            "purchase_prediction": int(prediction[0]),
            "purchase_probability": float(proba[0]),
            "prediction_confidence": str(confidence[0]),
        }
        if not with_proba:
            del result["purchase_probability"]
        return result

    def _predict_frame(
        self, frame: pd.DataFrame, with_proba: bool
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        result = validate_sessions(_with_all_columns(frame), labelled=False)
        scored = self.model.score(result.valid)
        if not with_proba:
            scored = scored.drop(columns="purchase_probability")
        return scored, result.rejects

    def __repr__(self) -> str:
        return f"PurchasePredictor({self.model!r}, version={self.model.version!r})"


def _one_value(value: Any) -> np.ndarray:
    """A record's value as a one-element column, as a DataFrame would hold it:
    float for a plain number (the contract's fast path), else an object."""
    if type(value) in (int, float) and abs(value) <= MAX_INTEGER:
        return np.array([value], dtype=float)
    return np.array([value], dtype=object)


def _record_columns(records: Sequence[Record]) -> list[str]:
    """Contract columns first, then any other keys, in first-seen order."""
    extra = dict.fromkeys(key for record in records for key in record)
    return [*SESSION_COLUMNS, *(key for key in extra if key not in SESSION_COLUMNS)]


def _with_all_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Absent feature columns count as missing values (imputed); the id is required."""
    absent = [c for c in SESSION_COLUMNS if c not in frame.columns and c != ID_COLUMN]
    return frame.assign(**dict.fromkeys(absent)) if absent else frame


def _as_frame(data: Record | Sequence[Record] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return _with_all_columns(data)
    records = [data] if isinstance(data, Mapping) else list(data)
    return pd.DataFrame.from_records(records, columns=_record_columns(records))


def _load_file(path: Path) -> PurchaseModel:
    if not path.exists():
        raise ModelNotFoundError(f"no model artifact at {path}")
    dataset = ModelArtifactDataset(filepath=str(path), backend="joblib")
    return _checked(load_unwrapped(dataset), str(path))


def _load_from_project(root: Path, version: str | None) -> PurchaseModel:
    catalog = OmegaConfigLoader(
        conf_source=str(root / "conf"), base_env="base", default_run_env="local"
    )["catalog"]
    entry = catalog[MODEL_DATASET]
    dataset = ModelArtifactDataset(
        filepath=str(root / entry["filepath"]),
        backend=entry.get("backend", "joblib"),
        version=Version(version, None),
    )
    return _checked(load_unwrapped(dataset), entry["filepath"])


def _checked(model: Any, source: str) -> PurchaseModel:
    if not isinstance(model, PurchaseModel):
        raise ModelNotFoundError(
            f"{source} holds a {type(model).__name__}, not a PurchaseModel"
        )
    return model


def _project_root(project_path: str | Path | None) -> Path:
    """The Kedro project: the given path, else upwards from the working directory,
    else upwards from this package (an editable install inside the project)."""
    if project_path is not None:
        return Path(project_path).resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if _is_this_project(folder / "pyproject.toml"):
                return folder
    raise ModelNotFoundError(
        "cannot find the Customer Purchase Prediction project (a pyproject.toml with "
        f"[tool.kedro] package_name = '{PACKAGE}'); pass project_path= or a model path"
    )


def _is_this_project(pyproject: Path) -> bool:
    if not pyproject.is_file():
        return False
    with pyproject.open("rb") as file:
        kedro = tomllib.load(file).get("tool", {}).get("kedro", {})
    return kedro.get("package_name") == PACKAGE
