"""kedro-datasets' file datasets, saving crash-safe (``atomic.py``).

Each class is the kedro-datasets class of the same name with one change: a
local file is serialised in memory, written to a temporary file in its folder
and renamed into place, so a crash or ``kill -9`` mid-save leaves the previous
file, never a cut one. Loading, versioning and the catalog arguments are the
parent's. (Sessions files a user supplies or reads use ``datasets.TableDataset``,
which writes the same way.)
Remote paths are saved by the parent: object stores publish an object only once
it is whole.
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

from customer_purchase_prediction.atomic import write_bytes, write_text


class _LocalSave:
    """Where a save goes, and whether it is a local file this class writes itself."""

    _location: str

    def _atomic_path(self) -> str | None:
        protocol, _ = get_protocol_and_path(self._location)
        if protocol != "file":
            return None
        return get_filepath_str(self._get_save_path(), protocol)  # type: ignore[attr-defined]


class JSONDataset(KedroJSONDataset, _LocalSave):
    """``json.JSONDataset``, saved crash-safe."""

    def __init__(
        self, *, filepath: str, save_args: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(filepath=filepath, save_args=save_args, **kwargs)
        self._json_args = {**self.DEFAULT_SAVE_ARGS, **(save_args or {})}
        self._location = filepath

    def save(self, data: Any) -> None:
        """Write the JSON whole or not at all."""
        path = self._atomic_path()
        if path is None:
            super().save(data)
            return
        write_text(path, json.dumps(data, **self._json_args))

    def discard(self) -> None:
        """Remove the saved file, if any (a local, unversioned file only)."""
        path = self._atomic_path()
        if path is not None:
            Path(path).unlink(missing_ok=True)


class TextDataset(KedroTextDataset, _LocalSave):
    """``text.TextDataset``, saved crash-safe (UTF-8)."""

    def __init__(self, *, filepath: str, **kwargs: Any) -> None:
        super().__init__(filepath=filepath, **kwargs)
        self._location = filepath

    def save(self, data: str) -> None:
        """Write the text whole or not at all."""
        path = self._atomic_path()
        if path is None:
            super().save(data)
            return
        write_text(path, data)


class MatplotlibDataset(KedroMatplotlibDataset, _LocalSave):
    """``matplotlib.MatplotlibDataset`` for one figure, saved crash-safe."""

    def __init__(
        self, *, filepath: str, save_args: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(filepath=filepath, save_args=save_args, **kwargs)
        self._figure_args = {**self.DEFAULT_SAVE_ARGS, **(save_args or {})}
        self._location = filepath

    def save(self, data: Figure | list[Figure] | dict[str, Figure]) -> None:
        """Write one figure whole or not at all (lists and dicts as the parent)."""
        path = self._atomic_path()
        if path is None or not isinstance(data, Figure):
            super().save(data)
            return
        buffer = io.BytesIO()
        data.savefig(buffer, **self._figure_args)
        write_bytes(path, buffer.getvalue())


class PlotlyJSONDataset(KedroPlotlyJSONDataset, _LocalSave):
    """``plotly.JSONDataset``, saved crash-safe."""

    def __init__(
        self, *, filepath: str, save_args: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(filepath=filepath, save_args=save_args, **kwargs)
        self._plotly_args = {**self.DEFAULT_SAVE_ARGS, **(save_args or {})}
        self._location = filepath

    def save(self, data: Any) -> None:
        """Write the figure's JSON whole or not at all."""
        path = self._atomic_path()
        if path is None:
            super().save(data)
            return
        write_text(path, pio.to_json(data, **self._plotly_args))


class CSVDataset(KedroCSVDataset, _LocalSave):
    """``pandas.CSVDataset``, saved crash-safe."""

    def __init__(
        self, *, filepath: str, save_args: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(filepath=filepath, save_args=save_args, **kwargs)
        self._csv_args = {**self.DEFAULT_SAVE_ARGS, **(save_args or {})}
        self._location = filepath

    def save(self, data: Any) -> None:
        """Write the table whole or not at all."""
        path = self._atomic_path()
        if path is None:
            super().save(data)
            return
        write_text(path, data.to_csv(**self._csv_args))


class ParquetDataset(KedroParquetDataset, _LocalSave):
    """``pandas.ParquetDataset``, saved crash-safe."""

    def __init__(
        self, *, filepath: str, save_args: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(filepath=filepath, save_args=save_args, **kwargs)
        self._parquet_args = {**self.DEFAULT_SAVE_ARGS, **(save_args or {})}
        self._location = filepath

    def save(self, data: Any) -> None:
        """Write the table whole or not at all."""
        path = self._atomic_path()
        if path is None:
            super().save(data)
            return
        buffer = io.BytesIO()
        data.to_parquet(buffer, **self._parquet_args)
        write_bytes(path, buffer.getvalue())
