"""kedro-datasets' file datasets, saving crash-safe (``atomic.py``).

Each class is the kedro-datasets class of the same name with one change: a
local file is serialised in memory, written to a temporary file in its folder
and renamed into place, so a crash or ``kill -9`` mid-save leaves the previous
file, never a cut one. Loading, versioning and the catalog arguments are the
parent's. (Sessions files a user supplies or reads use ``datasets.TableDataset``,
which writes the same way.) Remote paths are saved by the parent: object stores
publish an object only once it is whole.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import plotly.io as pio
from kedro.io.core import get_filepath_str, get_protocol_and_path
from kedro_datasets.json import JSONDataset as KedroJSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset as KedroMatplotlibDataset
from kedro_datasets.pandas import CSVDataset as KedroCSVDataset
from kedro_datasets.pandas import ParquetDataset as KedroParquetDataset
from kedro_datasets.plotly import JSONDataset as KedroPlotlyJSONDataset
from kedro_datasets.text import TextDataset as KedroTextDataset
from matplotlib.figure import Figure

from customer_purchase_prediction.atomic import write_bytes


class AtomicSave:
    """Mixin before a kedro-datasets file dataset: ``save`` writes atomically.

    A subclass says how its data becomes bytes (``serialise``), given the
    dataset's save arguments merged over the parent's defaults.
    """

    def __init__(self, *, filepath: str, **kwargs: Any) -> None:
        super().__init__(filepath=filepath, **kwargs)  # type: ignore[call-arg]
        self._location = filepath
        self._serialise_args = {
            **getattr(self, "DEFAULT_SAVE_ARGS", {}),  # the parent's defaults
            **(kwargs.get("save_args") or {}),
        }

    def serialise(self, data: Any, args: dict[str, Any]) -> bytes | None:
        """The file's bytes, or ``None`` to leave the save to the parent."""
        raise NotImplementedError

    def save(self, data: Any) -> None:
        """Save whole or not at all; a remote path is saved by the parent."""
        protocol, _ = get_protocol_and_path(self._location)
        payload = self.serialise(data, self._serialise_args)
        if protocol != "file" or payload is None:
            super().save(data)  # type: ignore[misc]
            return
        path = get_filepath_str(self._get_save_path(), protocol)  # type: ignore[attr-defined]
        write_bytes(path, payload)

    def discard(self) -> None:
        """Remove the saved local file, if any (unversioned datasets)."""
        protocol, _ = get_protocol_and_path(self._location)
        if protocol == "file":
            path = get_filepath_str(self._get_save_path(), protocol)  # type: ignore[attr-defined]
            Path(path).unlink(missing_ok=True)


class JSONDataset(AtomicSave, KedroJSONDataset):
    """``json.JSONDataset``, saved crash-safe."""

    def serialise(self, data: Any, args: dict[str, Any]) -> bytes:
        """The JSON text, as the parent writes it."""
        return json.dumps(data, **args).encode("utf-8")


class TextDataset(AtomicSave, KedroTextDataset):
    """``text.TextDataset``, saved crash-safe (UTF-8)."""

    def serialise(self, data: str, args: dict[str, Any]) -> bytes:
        """The text."""
        return data.encode("utf-8")


class CSVDataset(AtomicSave, KedroCSVDataset):
    """``pandas.CSVDataset``, saved crash-safe."""

    def serialise(self, data: Any, args: dict[str, Any]) -> bytes:
        """The table as CSV, with the parent's save arguments."""
        return data.to_csv(**args).encode("utf-8")


class ParquetDataset(AtomicSave, KedroParquetDataset):
    """``pandas.ParquetDataset``, saved crash-safe."""

    def serialise(self, data: Any, args: dict[str, Any]) -> bytes:
        """The table as Parquet, with the parent's save arguments."""
        buffer = io.BytesIO()
        data.to_parquet(buffer, **args)
        return buffer.getvalue()


class MatplotlibDataset(AtomicSave, KedroMatplotlibDataset):
    """``matplotlib.MatplotlibDataset``, one figure saved crash-safe."""

    def serialise(self, data: Any, args: dict[str, Any]) -> bytes | None:
        """One figure's image; lists and dicts of figures are the parent's."""
        if not isinstance(data, Figure):
            return None
        buffer = io.BytesIO()
        data.savefig(buffer, **args)
        return buffer.getvalue()


class PlotlyJSONDataset(AtomicSave, KedroPlotlyJSONDataset):
    """``plotly.JSONDataset``, saved crash-safe."""

    def serialise(self, data: Any, args: dict[str, Any]) -> bytes:
        """The figure's JSON, as the parent writes it."""
        return pio.to_json(data, **args).encode("utf-8")
