"""``PurchasePredictor``: the trained model, for use from Python.

It wraps the same ``PurchaseModel`` artifact and the same data contract as the
batch pipeline, so a session gets the same probability whichever way it is
scored. A single record goes straight to the contract's and the transformer's
array cores (no DataFrame), which keeps one prediction well under a millisecond.

Example (a record holds the columns of ``columns.SESSION_COLUMNS``):
    >>> from customer_purchase_prediction import PurchasePredictor
    >>> from customer_purchase_prediction.columns import example_record
    >>> predictor = PurchasePredictor()  # the project's current model
    >>> predictor.predict(example_record(), return_probabilities=True)
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from kedro.config import OmegaConfigLoader
from kedro.io import Version
from kedro.io.core import generate_timestamp
from pydantic import ValidationError

from customer_purchase_prediction.artifact import (
    MODEL_DATASET,
    ModelArtifactDataset,
    load_artifact_file,
)
from customer_purchase_prediction.atomic import write_text
from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.columns import (
    ID_COLUMN,
    SESSION_COLUMNS,
)
from customer_purchase_prediction.contract import (
    ValidationResult,
    check_columns,
    reject_reason,
    validate_sessions,
)
from customer_purchase_prediction.datasets import (
    TableDataset,
    load_unwrapped,
)
from customer_purchase_prediction.drift import MonitoringParams, project_monitoring
from customer_purchase_prediction.errors import (
    InvalidRecordError,
    ModelNotFoundError,
    TargetingError,
)
from customer_purchase_prediction.explain import (
    REASON_COLUMNS,
    explain,
    explain_columns,
)
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.output_paths import (
    CATALOG_RESOLVERS,
    check_paths,
    sibling_path,
)
from customer_purchase_prediction.pipelines.inference.nodes import (
    build_contact_list,
    publish_outputs,
    rank_predictions,
    score_sessions,
    summarise_inference,
)
from customer_purchase_prediction.pipelines.monitoring.nodes import report_drift
from customer_purchase_prediction.records import (
    CONTRACT_KEYS,
    Record,
    as_frame,
    as_records,
    checked_frame,
    column_arrays,
    empty_scores,
    normalised_record,
    passthrough_names,
    records_frame,
    source_of,
    with_all_columns,
)
from customer_purchase_prediction.registry import (
    ALIAS,
    KEDRO_VERSION,
    ModelReference,
    RegistryCurrentModel,
    existing_registry,
)
from customer_purchase_prediction.targeting import (
    TargetingParams,
    contact_list,
)
from customer_purchase_prediction.values import (
    writable_column,
)

PACKAGE = "customer_purchase_prediction"


class BatchPrediction(NamedTuple):
    """Scored rows and rejected rows of a batch; together, every input row."""

    predictions: pd.DataFrame | list[dict[str, Any]]
    rejects: pd.DataFrame | list[dict[str, Any]]


class FileOutputs(NamedTuple):
    """Where ``predict_from_csv`` writes: predictions, rejects beside, summary,
    and the drift report and its page."""

    predictions: str
    rejects: str
    summary: str
    drift: str
    drift_page: str
    contact_list: str


class PurchasePredictor:
    """Scores sessions with a trained ``PurchaseModel``.

    Args:
        model: A ``PurchaseModel``, a path to an artifact file, a registered
            version of the project's model (``"models:/purchase-model/3"``,
            ``"3"``, an alias such as ``"champion"``, or a Kedro version), or
            ``None`` for the current model: the registry's champion.
        version: With ``model=None``: the Kedro version to load (as given to
            ``--load-versions``); the champion when omitted.
        project_path: The Kedro project to load from; found from the working
            directory or this package's location when omitted.
        sha256: With a path: the SHA-256 the file must have. A file inside a
            project's ``data/06_models`` is checked against its manifest anyway.

    Raises:
        ModelNotFoundError: no trained model exists yet (run ``kedro run``).
        ModelArtifactError: the artifact is not the file training recorded
            (another format, modified, truncated); nothing in it is run.
    """

    def __init__(
        self,
        model: PurchaseModel | str | Path | None = None,
        *,
        version: str | None = None,
        project_path: str | Path | None = None,
        sha256: str | None = None,
    ) -> None:
        # The project the model came from (its monitoring parameters), if any.
        self.project_path: Path | None = None
        if isinstance(model, PurchaseModel):
            self.model = model
        elif isinstance(model, str) and is_model_reference(model):
            self.project_path = project_root(project_path)
            self.model = load_unwrapped(
                project_model_dataset(self.project_path, model=model)
            )
        elif model is not None:
            self.model = load_artifact_file(Path(model), expected_sha256=sha256)
        else:
            self.project_path = project_root(project_path)
            self.model = _load_from_project(self.project_path, version)
        # Compile the trees now, so the first prediction is as fast as the rest.
        _ = self.model.compiled_trees

    def predict(
        self,
        data: Record | Sequence[Record] | pd.DataFrame,
        *,
        return_probabilities: bool = False,
        passthrough: Collection[str] | str = (),
        explain: bool = False,
    ) -> dict[str, Any] | BatchPrediction:
        """Predict one session (a dict) or a batch (a list of dicts or a DataFrame).

        Keys and column names are matched as a file's headers are, ignoring case
        and surrounding spaces (``"Time_Spent"`` is ``time_spent``). A key that is
        neither a contract column (``columns.SESSION_COLUMNS``, or the
        ``purchase`` label, which scoring ignores) nor named in ``passthrough``
        is refused, naming it and the nearest column: a misspelt key never
        quietly becomes an imputed value. Two keys that are one column once
        normalised (``Time_Spent`` and ``time_spent``) are refused too.

        A dict returns one prediction and raises ``InvalidRecordError`` naming
        the field and value when it breaks the data contract. A batch returns
        ``BatchPrediction(predictions, rejects)`` in the input's form (DataFrames
        for a DataFrame, lists of dicts for a list), in input order; bad rows are
        rejected with a reason while the good rows are scored, and an empty
        batch gives empty predictions and rejects. Missing fields are imputed as
        the data contract says.

        Args:
            data: A session record, a list (or any iterable) of records, or a
                DataFrame of sessions.
            return_probabilities: Include ``purchase_probability``.
            passthrough: Other keys (columns) to accept, such as an e-mail
                address; they are not scored, and are copied unchanged into each
                prediction (and, like every input column, into the rejects),
                under their normalised names; in a batch a nested value (a
                list, a dict) comes back as its JSON text. One name may be
                given as a string.
            explain: Add ``reason_1..reason_3``, the reasons behind each
                score in business words (``explain.py``; ``None`` where a
                session has fewer). Probabilities are the same either way.

        Raises:
            InvalidRecordError: a single record breaks the contract; a key is
                outside the contract and ``passthrough``, or two keys are one
                column; ``data`` is not a record, a list of records or a
                DataFrame.
            SessionsFileError: a DataFrame has no ``customer_id`` column.
        """
        extra = passthrough_names(passthrough)
        if isinstance(data, Mapping):
            return self._predict_record(data, return_probabilities, extra, explain)
        if isinstance(data, pd.DataFrame):
            frame = checked_frame(data, extra)
            return BatchPrediction(
                *self._predict_frame(
                    frame, return_probabilities, extra, explained=explain
                )
            )
        frame = records_frame(as_records(data), extra)
        scored, rejects = self._predict_frame(
            frame, return_probabilities, extra, explained=explain
        )
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
        ``output_path`` they are written there (CSV or Parquet by extension),
        the rejected rows next to them as ``<name>_rejected.<ext>`` and the
        run summary, last, as ``<name>_summary.json`` (the pipeline's summary
        and naming rule, ``output_paths.sibling_path``), with the drift report
        as ``<name>_drift.json`` and ``<name>_drift.html`` (``drift.py``), all
        marked with one new ``run_id``. The drift thresholds are the
        ``monitoring`` parameters of the project folder when the model came
        from a project (``model`` a version reference or ``None``), else (a
        ``PurchaseModel`` or an artifact path) their defaults
        (``self.monitoring``). Each file is written whole or not at all. The outputs are checked before the file is read:
        none may be the input or another output, and each must be writable.

        Raises:
            SessionsFileError: the file cannot be a sessions file at all.
            OutputPathError: an output is the input, or a folder, or cannot
                be written; nothing was read or written.
        """
        outputs = _file_outputs(csv_path, output_path)
        raw = load_unwrapped(TableDataset(filepath=str(csv_path)))
        result = validate_sessions(raw, labelled=False, source=str(csv_path))
        scored_rows = score_sessions(result.valid, self.model)
        ranked = rank_predictions(scored_rows)
        scored = ranked
        if not return_probabilities:
            scored = ranked.drop(columns="purchase_probability")
        if outputs is not None:
            read = {"source": str(csv_path), "rows_in": result.rows_in}
            run_id = generate_timestamp()
            drift, page = report_drift(
                result.valid, ranked, result.rejects, read, self.model,
                self.monitoring, run_id,
            )  # fmt: skip
            contacts, contacts_summary = build_contact_list(
                result.valid,
                scored_rows,
                self.model,
                self.business,
                TargetingParams(),
            )
            predictions, rejects, drift, page, contacts, summary = publish_outputs(
                scored,
                result.rejects,
                summarise_inference(ranked, result.rejects, read, self.model),
                run_id,
                drift,
                page,
                contacts,
                contacts_summary,
            )
            # As the pipeline publishes: the old summary goes first, the new last.
            Path(outputs.summary).unlink(missing_ok=True)
            TableDataset(filepath=outputs.predictions).save(predictions)
            TableDataset(filepath=outputs.rejects).save(rejects)
            write_text(outputs.drift, json.dumps(drift, indent=2) + "\n")
            write_text(outputs.drift_page, page)
            TableDataset(filepath=outputs.contact_list).save(contacts)
            write_text(outputs.summary, json.dumps(summary, indent=2) + "\n")
        return BatchPrediction(scored, result.rejects)

    def contact_list(
        self,
        sessions: Sequence[Record] | pd.DataFrame,
        max_contacts: int | None = None,
        budget: float | None = None,
        *,
        business: BusinessParams | None = None,
    ) -> pd.DataFrame:
        """The customers worth contacting, best expected profit first.

        The rows the inference pipeline's contact list gives for the same
        sessions (``targeting.py``): ``customer_id``, ``purchase_probability``,
        ``expected_profit``, ``decile``, ``reason_1..reason_3`` and the input
        columns. Rows that break the contract are left out, as from scoring.

        Args:
            sessions: A list of session records or a DataFrame of sessions.
            max_contacts: At most this many customers (a whole number >= 1).
            budget: At most as many as this total contact cost pays for.
            business: Contact cost and conversion value; by default the
                project's ``business`` parameters (``self.business``).

        Raises:
            TargetingError: ``max_contacts`` or ``budget`` is not a valid
                value; the message names it.
        """
        try:
            targeting = TargetingParams(max_contacts=max_contacts, budget=budget)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise TargetingError(
                f"{error['loc'][0]}: {error['msg']} (got {error['input']!r}); "
                "max_contacts is a whole number >= 1 and budget a number >= 0, "
                "or None for no limit"
            ) from None
        frame = as_frame(sessions, ())
        result = validate_sessions(
            with_all_columns(frame), labelled=False, allow_empty=True
        )
        scored = self.model.score(result.valid) if len(result.valid) else empty_scores()
        return contact_list(
            result.valid, scored, self.model, business or self.business, targeting
        )

    @property
    def business(self) -> BusinessParams:
        """The ``business`` parameters of the project (defaults outside one)."""
        if self._business is None:
            self._business = _project_business()
        return self._business

    _business: BusinessParams | None = None

    @property
    def monitoring(self) -> MonitoringParams:
        """The drift thresholds: the ``monitoring`` parameters of the project
        the model came from (``self.project_path``), else the defaults."""
        if self._monitoring is None:
            self._monitoring = (
                MonitoringParams()
                if self.project_path is None
                else project_monitoring(self.project_path)
            )
        return self._monitoring

    _monitoring: MonitoringParams | None = None

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
            # The registry's version and aliases (None, [] if not registered).
            "registry_version": (self.model.artifact or {}).get("registry_version"),
            "aliases": list((self.model.artifact or {}).get("aliases", [])),
            "artifact": dict(self.model.artifact or {}),
        }

    def validate_input_data(
        self,
        data: Record | Sequence[Record] | pd.DataFrame,
        *,
        passthrough: Collection[str] | str = (),
    ) -> ValidationResult:
        """Check data against the contract without scoring it.

        Keys are matched and refused exactly as ``predict`` does.

        Returns:
            The rows that would be scored (typed) and the rejected rows with
            ``reject_reason``; ``result.rejects.empty`` means all is well.
        """
        frame = as_frame(data, passthrough_names(passthrough))
        return validate_sessions(
            frame, labelled=False, source=source_of(data), allow_empty=True
        )

    def predict_records(
        self,
        records: Sequence[Record],
        *,
        return_probabilities: bool = False,
        passthrough: Collection[str] | str = (),
        explain: bool = False,
        one_batch: bool = False,
    ) -> list[dict[str, Any] | InvalidRecordError]:
        """Each record answered exactly as ``predict(record)`` answers it, scored
        together: a prediction, or the ``InvalidRecordError`` it would raise.

        The records are independent, as separate calls are (the same
        ``customer_id`` twice is two predictions, not duplicates); the contract
        is checked on all at once and the model called once, so many records
        cost little more than one. The REST service scores the requests that
        arrive together this way (``serving/coalescing.py``). Probabilities are
        the same bits as one at a time (row-independent scoring).

        With ``one_batch`` the records are one batch, as the rows of one file
        or DataFrame are: the contract's duplicate rule applies across them, so
        every record whose ``customer_id`` another one repeats is refused,
        exactly as ``predict(DataFrame)`` rejects it (the REST batch endpoint).

        Each refusal's ``problems`` holds its ``(rule, reason)`` pairs in the
        contract's words and column order (empty for a record refused before the
        rules, e.g. for an unknown key).

        Raises:
            ExplanationError: ``explain`` and the model cannot explain.
        """
        return self._predict_records(
            records,
            return_probabilities,
            passthrough_names(passthrough),
            explain,
            unique=one_batch,
        )

    def _predict_record(
        self,
        record: Record,
        with_proba: bool,
        passthrough: tuple[str, ...] = (),
        explained: bool = False,
    ) -> dict[str, Any]:
        (answer,) = self._predict_records([record], with_proba, passthrough, explained)
        if isinstance(answer, InvalidRecordError):
            raise answer
        return answer

    def _predict_records(
        self,
        records: Sequence[Record],
        with_proba: bool,
        passthrough: tuple[str, ...] = (),
        explained: bool = False,
        *,
        unique: bool = False,
    ) -> list[dict[str, Any] | InvalidRecordError]:
        answers: list[dict[str, Any] | InvalidRecordError] = []
        kept: list[Record] = []  # the records whose keys are the contract's
        slots: list[int] = []  # the place of each kept record's answer
        for given in records:
            try:
                kept.append(
                    given  # the usual record: its keys are contract columns
                    if given.keys() <= CONTRACT_KEYS
                    else normalised_record(given, passthrough, "the record")
                )
                slots.append(len(answers))
                answers.append({})
            except InvalidRecordError as exc:
                answers.append(exc)
        if not kept:
            return answers
        typed, problems = check_columns(
            column_arrays(kept), labelled=False, unique=unique
        )
        for row, pairs in problems.items():
            answers[slots[row]] = InvalidRecordError(
                f"invalid session record: {reject_reason(pairs)}", problems=pairs
            )
        valid = [row for row in range(len(kept)) if row not in problems]
        if not valid:
            return answers
        if problems:
            typed = {name: values[valid] for name, values in typed.items()}
        matrix = self.model.features.transform_columns(typed)
        proba = self.model.predict_proba_matrix(matrix)
        prediction, confidence = self.model.label(proba)
        reasons = (
            explain_columns(
                self.model, typed, probability=proba, matrix=matrix
            ).reasons.tolist()
            if explained
            else None
        )
        ids = typed[ID_COLUMN].tolist()
        for position, row in enumerate(valid):
            record = kept[row]
            result: dict[str, Any] = {
                ID_COLUMN: int(ids[position]),
                "purchase_prediction": int(prediction[position]),
                "purchase_probability": float(proba[position]),
                "prediction_confidence": str(confidence[position]),
            }
            if reasons is not None:
                result.update(zip(REASON_COLUMNS, reasons[position], strict=True))
            if not with_proba:
                del result["purchase_probability"]
            for name in passthrough:
                if name in record:
                    result[name] = record[name]
            answers[slots[row]] = result
        return answers

    def _predict_frame(
        self,
        frame: pd.DataFrame,
        with_proba: bool,
        passthrough: tuple[str, ...] = (),
        *,
        source: str = "the DataFrame",
        explained: bool = False,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        result = validate_sessions(
            with_all_columns(frame), labelled=False, source=source, allow_empty=True
        )
        scored = self.model.score(result.valid) if len(result.valid) else empty_scores()
        if explained:
            probability = scored["purchase_probability"].to_numpy()
            reasons = explain(self.model, result.valid, probability=probability)
            scored = pd.concat([scored, reasons.frame()], axis=1)
        if not with_proba:
            scored = scored.drop(columns="purchase_probability")
        carried = [name for name in passthrough if name in frame.columns]
        if carried:
            kept = np.ones(len(frame), dtype=bool)
            kept[result.rejects["source_row"].to_numpy(dtype=np.int64) - 1] = False
            rows = frame.iloc[np.flatnonzero(kept)].reset_index(drop=True)
            # As in the rejects, a nested value comes back as its JSON text,
            # so the predictions can be written to CSV as well as Parquet.
            scored = scored.assign(
                **{name: writable_column(rows[name]) for name in carried}
            )
        return scored, result.rejects

    def __repr__(self) -> str:
        return f"PurchasePredictor({self.model!r}, version={self.model.version!r})"


def _file_outputs(
    csv_path: str | Path, output_path: str | Path | None
) -> FileOutputs | None:
    """The files ``predict_from_csv`` writes, checked before any work."""
    if output_path is None:
        return None
    output = os.fspath(output_path)
    outputs = FileOutputs(
        output,
        sibling_path(output, "rejected"),
        sibling_path(output, "summary"),
        sibling_path(output, "drift"),
        sibling_path(output, "drift_page"),
        sibling_path(output, "contact_list"),
    )
    labels = (
        "output_path",
        "the rejects file",
        "the summary file",
        "the drift report",
        "the drift page",
        "the contact list",
    )
    check_paths(
        {"csv_path": os.fspath(csv_path)}, dict(zip(labels, outputs, strict=True))
    )
    return outputs


def _project_business() -> BusinessParams:
    """The project's ``business`` parameters, or the defaults outside a project."""
    try:
        root = project_root(None)
    except ModelNotFoundError:
        return BusinessParams()
    parameters = OmegaConfigLoader(
        conf_source=str(root / "conf"), base_env="base", default_run_env="local"
    )["parameters"]
    return BusinessParams.model_validate(parameters.get("business") or {})


def _load_from_project(root: Path, version: str | None) -> PurchaseModel:
    """The project's model: Kedro ``version``, else the current one (the champion)."""
    return load_unwrapped(project_model_dataset(root, version))


def is_model_reference(text: str) -> bool:
    """Whether ``text`` names a registered or Kedro version, not a file."""
    reference = ModelReference.parse(text) if text.startswith("models:/") else None
    if reference is not None:
        return True
    if Path(text).exists():
        return False
    return bool(text.isdigit() or KEDRO_VERSION.match(text) or ALIAS.match(text))


def project_model_dataset(
    root: str | Path, version: str | None = None, *, model: str | None = None
) -> ModelArtifactDataset:
    """The project's ``purchase_model`` dataset, as its ``conf/base`` declares it.

    Its current model is the registry's champion when the project has a
    tracking store (``tracking.py``), else the manifest's record. ``version``
    is a Kedro version to load; ``model`` any reference (``is_model_reference``).
    """
    root = Path(root)
    catalog = OmegaConfigLoader(
        conf_source=str(root / "conf"),
        base_env="base",
        default_run_env="local",
        custom_resolvers=CATALOG_RESOLVERS,
    )["catalog"]
    entry = catalog[MODEL_DATASET]
    manifest = entry.get("manifest")
    dataset = ModelArtifactDataset(
        filepath=str(root / entry["filepath"]),
        manifest=str(root / manifest) if manifest else None,
        version=Version(version, None),
        model=model,
    )
    registry = existing_registry(root)
    if registry is not None:
        dataset.use_current_source(RegistryCurrentModel(registry, dataset.manifest))
    return dataset


def project_root(project_path: str | Path | None) -> Path:
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
