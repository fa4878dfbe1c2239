"""Project datasets: CSV-or-Parquet tables and Markdown reports (the model: artifact.py).

Run-time paths (``--params=inference_input_path=...``) may name either format, so
the format cannot be fixed in ``catalog.yml``. Reading and writing are delegated
to kedro-datasets; this class only picks the format and turns low-level failures
into one message that names the file and the problem.
"""

from __future__ import annotations

import html
import logging
from pathlib import PurePosixPath
from typing import Any, NewType, TypedDict

import fsspec
import pandas as pd
import pyarrow.csv as pa_csv
from kedro.io import AbstractDataset
from kedro.io.core import (
    DatasetError,
    get_protocol_and_path,
)
from kedro_datasets.pandas import CSVDataset, ParquetDataset

from customer_purchase_prediction.atomic import atomic_open
from customer_purchase_prediction.atomic_datasets import TextDataset
from customer_purchase_prediction.csv_reading import read_csv_bytes
from customer_purchase_prediction.errors import (
    PurchasePredictionError,
    SessionsFileError,
)
from customer_purchase_prediction.table_writing import csv_table, parquet_ready

logger = logging.getLogger(__name__)

_FORMATS: dict[str, type[AbstractDataset]] = {
    ".csv": CSVDataset,
    ".txt": CSVDataset,
    ".parquet": ParquetDataset,
    ".pq": ParquetDataset,
}
# CSV cells stay text on load so the data contract sees (and reports) the
# values exactly as written, e.g. "12 min" or " mobile". ``load`` reads CSV with
# csv_reading (pyarrow, one reject per unreadable row); these arguments serve
# ``preview``.
_CSV_LOAD_ARGS = {"dtype": str, "engine": "pyarrow"}
_CSV_SAVE_ARGS = {"index": False}
_CSV_WRITE_OPTIONS = pa_csv.WriteOptions(quoting_style="needed")


# kedro viz renders a preview by the name of the return annotation of a dataset's
# ``preview`` method. kedro-datasets declares these names only privately.
class TablePreview(TypedDict):
    """A table as kedro viz shows it: ``DataFrame.to_dict(orient="split")``."""

    index: list[Any]
    columns: list[Any]
    data: list[list[Any]]


HTMLPreview = NewType("HTMLPreview", str)


class TableDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """Loads and saves a DataFrame as CSV or Parquet, chosen by extension.

    The loaded frame carries its path in ``DataFrame.attrs["source"]`` so that
    nodes can name the file in their messages.
    """

    def __init__(
        self,
        *,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = str(filepath)
        suffix = PurePosixPath(get_protocol_and_path(self._filepath)[1]).suffix
        dataset_type = _FORMATS.get(suffix.lower())
        if dataset_type is None:
            raise SessionsFileError(
                f"cannot tell the format of {self._filepath}: its extension "
                f"'{suffix}' is not one of {', '.join(_FORMATS)}"
            )
        is_csv = dataset_type is CSVDataset
        self._load_args = {**(_CSV_LOAD_ARGS if is_csv else {}), **(load_args or {})}
        self._save_args = {**(_CSV_SAVE_ARGS if is_csv else {}), **(save_args or {})}
        self._dataset = dataset_type(
            filepath=self._filepath,
            load_args=self._load_args,
            save_args=self._save_args,
        )
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        """Read the table; a missing or unreadable file stops with one message.

        A CSV row that cannot be read as a row is kept, with the fields it has,
        and listed in ``attrs`` for the data contract to reject
        (``csv_reading.unreadable_rows``); the other rows are read as usual.
        """
        if not self._dataset.exists():
            raise SessionsFileError(f"{self._filepath} does not exist")
        if isinstance(self._dataset, CSVDataset):
            data = self._load_csv()
        else:
            try:
                data = self._dataset.load()
            except DatasetError as exc:
                cause = exc.__cause__ or exc
                problem = f"{type(cause).__name__}: {str(cause).splitlines()[0]}"
                raise SessionsFileError(
                    f"{self._filepath} is not a readable {self._format} file "
                    f"({problem})"
                ) from exc
        data.attrs["source"] = self._filepath
        return data

    def _load_csv(self) -> pd.DataFrame:
        try:
            with fsspec.open(self._filepath, "rb") as file:
                content = file.read()
        except OSError as exc:
            raise SessionsFileError(
                f"{self._filepath} cannot be read ({exc.strerror or exc})"
            ) from exc
        return read_csv_bytes(content, source=self._filepath)

    def save(self, data: pd.DataFrame) -> None:
        """Write the table in the format of the file's extension, crash-safely.

        The file is written to a temporary file beside it and renamed into
        place, so a failure or a kill mid-write leaves the previous file. CSV
        is written by pyarrow (several times faster than pandas for a million
        predictions; floats read back to the same bits), with cells a
        spreadsheet would run as formulas neutralised and nested values as
        JSON (``table_writing.csv_table``); Parquet keeps the values as they are
        (a column of mixed values that Arrow cannot type is written as text).
        """
        if isinstance(self._dataset, CSVDataset):
            table = csv_table(data)
            with atomic_open(self._filepath, "wb") as file:
                pa_csv.write_csv(table, file, write_options=_CSV_WRITE_OPTIONS)
            return
        table = parquet_ready(data)
        with atomic_open(self._filepath, "wb") as file:
            table.to_parquet(file, **self._save_args)

    def preview(self, nrows: int = 5) -> TablePreview:
        """The first ``nrows`` rows, as kedro viz shows a table (``preview_args``)."""
        if isinstance(self._dataset, CSVDataset):
            # pandas' default engine, unlike pyarrow's, stops after nrows.
            load_args = {**self._load_args, "nrows": nrows}
            load_args.pop("engine", None)
            head = CSVDataset(filepath=self._filepath, load_args=load_args).load()
        else:
            head = self._dataset.load().head(nrows)
        # Missing cells as None: NaN is not JSON, which kedro viz answers in.
        split = head.astype(object).where(head.notna(), None).to_dict(orient="split")
        return TablePreview(
            index=split["index"], columns=split["columns"], data=split["data"]
        )

    def _exists(self) -> bool:
        return self._dataset.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "format": self._format}

    @property
    def _format(self) -> str:
        return "CSV" if isinstance(self._dataset, CSVDataset) else "Parquet"


def load_unwrapped(dataset: AbstractDataset) -> Any:
    """``dataset.load()``, raising this project's own error rather than Kedro's wrapper.

    Kedro wraps any error raised while loading in a ``DatasetError``; outside a
    pipeline run the project's error (which already names the file) is clearer.
    """
    try:
        return dataset.load()
    except DatasetError as exc:
        if isinstance(exc.__cause__, PurchasePredictionError):
            raise exc.__cause__ from None
        raise


class MarkdownDataset(TextDataset):
    """A Markdown report; ``kedro viz`` previews it as text."""

    def preview(self) -> HTMLPreview:
        """The Markdown source, escaped, as a preformatted HTML block."""
        text = html.escape(self.load())
        return HTMLPreview(f'<pre style="white-space: pre-wrap">{text}</pre>')
