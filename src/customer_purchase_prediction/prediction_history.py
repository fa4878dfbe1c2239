"""Past predictions for the ``monitoring`` pipeline: one file, a folder or a glob.

Each inference run overwrites its predictions file unless it is told to write
elsewhere, so a scheduled job that wants history writes each run's
predictions to its own file (``inference_output_path=history/<date>.csv``) and
the monitoring pipeline reads them all back:
``--params=predictions_path=history/`` (every ``.csv``/``.parquet`` file in the
folder) or ``predictions_path='history/*.csv'``.

Files that are a run's other outputs (``<name>_rejected.csv``,
``<name>_contact_list.csv``, ... by ``output_paths.sibling_path``) and files
without the prediction columns are skipped, each with a logged reason (the
frame's ``attrs["skipped"]``). Every row keeps its file and row
(``source_file``, ``source_row``) and, from the run summaries in the same
folder (``*summary.json``, matched by ``run_id``), the model that scored it
(``model_version``: the Kedro version; ``registry_version``). Rows are not
de-duplicated here: ``monitoring.collect_predictions`` sets copies and
conflicts aside, with reasons.
"""

from __future__ import annotations

import json
import logging
from pathlib import PurePosixPath
from typing import Any

import fsspec
import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from customer_purchase_prediction.columns import ID_COLUMN
from customer_purchase_prediction.datasets import TableDataset
from customer_purchase_prediction.errors import SessionsFileError
from customer_purchase_prediction.monitoring import (
    MODEL_VERSION,
    PREDICTION,
    PROBABILITY,
    REGISTRY_VERSION,
    REJECT_REASON,
    RUN_ID,
    SOURCE_FILE,
    SOURCE_ROW,
)
from customer_purchase_prediction.output_paths import SIBLINGS, sibling_path

logger = logging.getLogger(__name__)

REQUIRED = (ID_COLUMN, PROBABILITY, PREDICTION)
EXTENSIONS = (".csv", ".parquet", ".pq")
SUMMARY_PATTERN = "*summary.json"
GLOB_CHARACTERS = "*?["


def prediction_files(path: str) -> tuple[list[str], list[dict[str, str]]]:
    """The predictions files ``path`` names (a file, a folder, a glob), sorted,
    and the files skipped there as another output of a run."""
    fs, root = fsspec.core.url_to_fs(path)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if any(character in path for character in GLOB_CHARACTERS):
        found = fs.glob(root)
    elif fs.isdir(root):
        found = fs.find(root, maxdepth=1)
    else:
        return [path], []
    local = protocol in {"file", "local"}
    shown = sorted(
        (p if local else f"{protocol}://{p}")
        for p in found
        if PurePosixPath(p).suffix.lower() in EXTENSIONS
    )
    siblings = {sibling_path(name, kind): name for name in shown for kind in SIBLINGS}
    skipped = [
        {"file": name, "reason": f"another output of the run that wrote {of}"}
        for name in shown
        if (of := siblings.get(name)) is not None
    ]
    return [name for name in shown if name not in siblings], skipped


def run_models(files: list[str]) -> dict[str, dict[str, Any]]:
    """``run_id -> {"model_version", "registry_version"}`` from the run
    summaries (``*summary.json``) in the folders of ``files``."""
    models: dict[str, dict[str, Any]] = {}
    folders = sorted({str(PurePosixPath(name).parent) for name in files})
    for folder in folders:
        fs, root = fsspec.core.url_to_fs(folder)
        for summary in sorted(fs.glob(f"{root}/{SUMMARY_PATTERN}")):
            try:
                with fs.open(summary, "rb") as file:
                    content = json.loads(file.read())
            except (OSError, ValueError):
                continue  # not a summary this reader understands: no model known
            if not isinstance(content, dict) or not content.get(RUN_ID):
                continue
            model = content.get("model") or {}
            models[str(content[RUN_ID])] = {
                MODEL_VERSION: model.get("version"),
                REGISTRY_VERSION: model.get("registry_version"),
            }
    return models


class PredictionHistoryDataset(AbstractDataset[None, pd.DataFrame]):
    """Read-only: the rows of every predictions file ``path`` names, concatenated."""

    def __init__(
        self, *, predictions: str, metadata: dict[str, Any] | None = None
    ) -> None:
        # Not ``filepath``/``path``: run_checks protects those from being
        # overwritten, and these files are what inference runs write.
        self._path = str(predictions)
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        """The predictions, with ``source_file``, ``source_row``, ``model_version``
        and ``registry_version``; ``attrs["skipped"]`` lists the files left out.

        Raises:
            SessionsFileError: ``path`` names no predictions file (or a missing
                or unreadable one), naming it.
        """
        files, skipped = prediction_files(self._path)
        frames = []
        for name in files:
            frame = TableDataset(filepath=name).load()
            missing = [column for column in REQUIRED if column not in frame.columns]
            if missing:
                skipped.append(
                    {"file": name, "reason": f"no {', '.join(missing)} column"}
                )
                continue
            if REJECT_REASON in frame.columns:
                skipped.append(
                    {"file": name, "reason": f"a rejects file ({REJECT_REASON})"}
                )
                continue
            frames.append(
                frame.assign(
                    **{SOURCE_FILE: name, SOURCE_ROW: range(1, len(frame) + 1)}
                )
            )
        for skip in skipped:
            logger.info("Predictions: skipped %s (%s)", skip["file"], skip["reason"])
        if not frames:
            raise SessionsFileError(
                f"{self._path} holds no predictions file (a CSV or Parquet file "
                f"with {', '.join(REQUIRED)}); skipped: "
                + ("; ".join(f"{s['file']}: {s['reason']}" for s in skipped) or "none")
                + ". Point predictions_path at a file, a folder or a glob of "
                "inference outputs"
            )
        data = pd.concat(frames, ignore_index=True)
        models = run_models([frame[SOURCE_FILE].iloc[0] for frame in frames])
        runs = (
            data[RUN_ID].astype("str")
            if RUN_ID in data
            else pd.Series("", index=data.index, dtype="str")
        )
        for field in (MODEL_VERSION, REGISTRY_VERSION):
            data[field] = runs.map(
                {run: model[field] for run, model in models.items()}
            ).astype("object")
        data.attrs["source"] = self._path
        data.attrs["skipped"] = skipped
        return data

    def save(self, data: None) -> None:
        """Past predictions are read, never written here."""
        raise DatasetError(
            f"{self._path}: past predictions are read-only here; the inference "
            "pipeline writes them"
        )

    def _describe(self) -> dict[str, Any]:
        return {"predictions": self._path}
