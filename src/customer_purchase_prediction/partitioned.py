"""Sessions in partitions: the pandas path's own functions, applied per partition.

Used by the ``dask`` environment (``scale_out.py``). Nothing here re-implements
the data contract or the model:

- the contract is ``contract.validate_sessions`` on each partition, given the
  counts of ``customer_id`` values over all partitions (``unique_counts``), so
  an id repeated in two files is rejected with the same rule and reason as an
  id repeated within one file;
- scoring is ``PurchaseModel.score`` on each partition (row-independent, so the
  same bits as the pandas path on the same rows);
- each frame's Dask ``meta`` is what those functions return for an empty or an
  example frame (``columns.example_record``), so it follows the column spec.

Datasets: ``PartitionedSessionsDataset`` reads a folder, a glob or one file of
CSV or Parquet partitions, one partition per file, each read exactly as
``datasets.TableDataset`` reads a single file; ``PartitionedParquetDataset``
writes a Dask frame as a folder of Parquet parts, into a temporary folder
first, moved into place once complete.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections import Counter
from contextlib import suppress
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import dask
import dask.dataframe as dd
import fsspec
import numpy as np
import pandas as pd
from kedro.io import AbstractDataset
from sklearn.pipeline import Pipeline

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.candidates import get_candidate
from customer_purchase_prediction.columns import (
    ALLOWED_LABELS,
    CATEGORICAL_COLUMNS,
    ID_COLUMN,
    LABEL_COLUMN,
    NUMERIC_COLUMNS,
    PAGES_VIEWED,
    SPEC,
    TIME_SPENT,
    example_record,
    required_columns,
)
from customer_purchase_prediction.contract import (
    REJECT_COLUMNS,
    count_reject_columns,
    count_reject_rules,
    normalise_header,
    unique_values,
    validate_sessions,
)
from customer_purchase_prediction.datasets import TableDataset
from customer_purchase_prediction.errors import OutputPathError, SessionsFileError
from customer_purchase_prediction.evaluation import choose_candidate
from customer_purchase_prediction.features import (
    ONE_HOT_COLUMNS,
    SCALED_COLUMNS,
    TRAINING_VALUES,
    FeatureStatistics,
    SessionFeatures,
    engineered_columns,
    features_from_statistics,
    fill_from,
    learned_fill,
    session_columns,
)
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.pipelines.inference.nodes import (
    SCORE_QUANTILES,
    select_contacts,
)
from customer_purchase_prediction.targeting import (
    DECILE,
    DECILES,
    PROBABILITY,
    TargetingParams,
)

logger = logging.getLogger(__name__)

# A reject of a partitioned input names its file beside its row in that file.
SOURCE_FILE = "source_file"
# The attribute of a loaded Dask frame that names where it was read from.
SOURCE = "sessions_source"
PARTITION_SUFFIXES = (".csv", ".txt", ".parquet", ".pq")
UNIQUE_COLUMNS = tuple(column.name for column in SPEC if column.unique)


# ---------------------------------------------------------------- reading
def partition_files(path: str) -> list[str]:
    """The sessions files of a folder, a glob or a single file, sorted.

    Raises:
        SessionsFileError: nothing matches, or the folder holds no sessions file.
    """
    fs, _, found = fsspec.get_fs_token_paths(path)
    files: list[str] = []
    for match in found:
        if fs.isdir(match):
            files.extend(
                str(name)
                for name in fs.ls(match, detail=False)
                if _is_partition(str(name)) and not fs.isdir(name)
            )
        elif _is_partition(match):
            files.append(match)
    if not files:
        raise SessionsFileError(
            f"{path} holds no sessions files: expected a .csv or .parquet file, "
            f"or a folder or glob of them (one partition each)"
        )
    protocol = fsspec.utils.get_protocol(path)
    prefix = "" if protocol == "file" else f"{protocol}://"
    return sorted(f"{prefix}{name}" for name in files)


def _is_partition(name: str) -> bool:
    path = PurePosixPath(name)
    return path.suffix.lower() in PARTITION_SUFFIXES and not path.name.startswith(
        (".", "_")
    )


def read_partition(filepath: str) -> pd.DataFrame:
    """One partition, read as the pandas path reads a whole file."""
    return TableDataset(filepath=filepath).load()


def read_sessions(path: str) -> dd.DataFrame:
    """A folder, glob or file of sessions as a Dask frame, a partition per file."""
    files = partition_files(path)
    frame = dd.from_map(read_partition, files, label="read-sessions")
    setattr(frame, SOURCE, path)
    return frame


class PartitionedSessionsDataset(AbstractDataset[None, dd.DataFrame]):
    """Raw sessions from a folder, glob or file of CSV or Parquet partitions."""

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = str(filepath)
        self.metadata = metadata

    def load(self) -> dd.DataFrame:
        """The partitions as one lazy frame (the first file is read for ``meta``)."""
        return read_sessions(self._filepath)

    def save(self, data: None) -> None:
        """Raw sessions are read, never written."""
        raise SessionsFileError(f"{self._filepath} is an input; it is never written")

    def _exists(self) -> bool:
        with suppress(SessionsFileError):
            return bool(partition_files(self._filepath))
        return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath}


# ---------------------------------------------------------------- writing
class PartitionedParquetDataset(AbstractDataset[dd.DataFrame, dd.DataFrame]):
    """A Dask frame as a folder of Parquet parts, replaced whole on save.

    The parts are written to a hidden temporary folder beside ``folder``; once
    all are written the previous folder is moved aside and the new one renamed
    into place, so a failed or killed write leaves the previous output (and at
    worst a stray ``.<name>.*.tmp`` folder).

    With ``per_run: true`` (data passed between nodes) each run writes into a
    folder of its own under ``folder``, removed when the run ends
    (``scale_out.DaskCluster`` calls ``discard_run_data``; not on release, as
    lazy frames read from it are computed by later nodes), so two runs of one
    project never read each other's intermediate data.
    """

    def __init__(
        self,
        *,
        folder: str,
        per_run: bool = False,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        folder = str(folder).rstrip("/")
        self._per_run = per_run
        self._folder = f"{folder}/{uuid.uuid4().hex}" if per_run else folder
        self._save_args = {"write_index": False, **(save_args or {})}
        self.metadata = metadata

    def load(self) -> dd.DataFrame:
        """The parts as a lazy frame."""
        return dd.read_parquet(self._folder)

    def save(self, data: dd.DataFrame | pd.DataFrame) -> None:
        """Write every part, then move the folder into place."""
        frame = data if isinstance(data, dd.DataFrame) else dd.from_pandas(data, 1)
        target = Path(self._folder)
        if target.is_file():
            raise OutputPathError(
                f"cannot write {target}: it is a file; a partitioned output is a "
                "folder of Parquet parts: give a folder path"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(
            tempfile.mkdtemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
            )
        )
        try:
            frame.to_parquet(str(temporary), **self._save_args)
            _replace_folder(temporary, target)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise

    def _exists(self) -> bool:
        return Path(self._folder).is_dir()

    def discard_run_data(self) -> None:
        """Remove this run's folder (``per_run`` only; an output stays)."""
        if self._per_run:
            shutil.rmtree(self._folder, ignore_errors=True)

    def _describe(self) -> dict[str, Any]:
        return {"folder": self._folder, "per_run": self._per_run}


def _replace_folder(new: Path, target: Path) -> None:
    if not target.exists():
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old."))
    os.replace(target, old / target.name)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- the contract
def _source(raw: pd.DataFrame, default: str) -> str:
    return str(raw.attrs.get("source", default))


def _compared_ids(raw: pd.DataFrame, name: str, labelled: bool) -> pd.Series:
    values = unique_values(raw, labelled=labelled, source=_source(raw, "a partition"))
    return pd.Series(values[name], name=name)


def unique_counts(
    raw: dd.DataFrame, *, labelled: bool
) -> tuple[dict[str, pd.Series], int]:
    """The values of each unique column that more than one row holds, with
    their counts over all partitions; and the number of rows in.

    Counted by hashing values to partitions (``split_out``), so no worker holds
    every id; only the repeated ones are gathered.
    """
    lengths = _rows(raw)
    repeated = {}
    for name in UNIQUE_COLUMNS:
        values = raw.map_partitions(
            _compared_ids, name, labelled, meta=pd.Series(dtype="int64", name=name)
        )
        counts = values.value_counts(split_out=max(1, raw.npartitions // 2))
        repeated[name] = counts[counts > 1]
    found, rows_in = dask.compute(repeated, lengths)
    return {name: counts.astype("int64") for name, counts in found.items()}, int(
        rows_in
    )


def _empty_raw(labelled: bool) -> pd.DataFrame:
    return pd.DataFrame(
        {name: pd.Series(dtype=object) for name in required_columns(labelled=labelled)}
    )


def valid_meta(*, labelled: bool) -> pd.DataFrame:
    """Validated sessions with no rows: the contract's own output types."""
    return validate_sessions(
        _empty_raw(labelled), labelled=labelled, allow_empty=True
    ).valid


def rejects_meta(raw_meta: pd.DataFrame) -> pd.DataFrame:
    """Rejected rows with no rows: the input's columns as text, then the reason."""
    header = normalise_header(raw_meta)
    columns = {name: pd.Series(dtype="str") for name in header.columns}
    columns.update(
        {
            REJECT_COLUMNS[0]: pd.Series(dtype="int64"),
            **{name: pd.Series(dtype="str") for name in REJECT_COLUMNS[1:]},
            SOURCE_FILE: pd.Series(dtype="str"),
        }
    )
    return pd.DataFrame(columns)


def _valid_part(
    raw: pd.DataFrame, counts: dict[str, pd.Series], labelled: bool, source: str
) -> pd.DataFrame:
    return validate_sessions(
        raw,
        labelled=labelled,
        source=_source(raw, source),
        allow_empty=True,
        unique_counts=counts,
    ).valid


def _rejects_part(
    raw: pd.DataFrame,
    counts: dict[str, pd.Series],
    labelled: bool,
    source: str,
    meta: pd.DataFrame,
) -> pd.DataFrame:
    rejects = validate_sessions(
        raw,
        labelled=labelled,
        source=_source(raw, source),
        allow_empty=True,
        unique_counts=counts,
    ).rejects.assign(**{SOURCE_FILE: _source(raw, source)})
    # Partitions read from different files may type a column differently; the
    # original values are kept as text so that every part has one schema.
    conformed = rejects.reindex(columns=meta.columns)
    text = [name for name in meta.columns if str(meta[name].dtype) == "str"]
    return conformed.astype(dict.fromkeys(text, "str")).astype(meta.dtypes.to_dict())


def validate_partitions(
    raw: dd.DataFrame, *, labelled: bool, source: str
) -> tuple[dd.DataFrame, dd.DataFrame, int]:
    """Valid rows, rejected rows (lazy) and the number of rows in.

    Computes the id counts first (one pass over the input); the valid and the
    rejected rows are each computed when they are used.
    """
    counts, rows_in = unique_counts(raw, labelled=labelled)
    if rows_in == 0:
        raise SessionsFileError(f"{source} has no data rows in any of its partitions")
    valid = raw.map_partitions(
        _valid_part, counts, labelled, source, meta=valid_meta(labelled=labelled)
    )
    meta = rejects_meta(raw._meta)
    rejects = raw.map_partitions(
        _rejects_part, counts, labelled, source, meta, meta=meta
    )
    logger.info(
        "%s: %d rows in %d partitions; %d ids repeated across them",
        source,
        rows_in,
        raw.npartitions,
        sum(len(found) for found in counts.values()),
    )
    return valid, rejects, rows_in


# ---------------------------------------------------------------- scoring
def scored_meta(model: PurchaseModel) -> pd.DataFrame:
    """Predictions with no rows, as ``PurchaseModel.score`` types them."""
    example = validate_sessions(pd.DataFrame([example_record()]), labelled=False)
    return model.score(example.valid).iloc[:0]


def _score_part(sessions: pd.DataFrame, model: PurchaseModel) -> pd.DataFrame:
    return model.score(sessions) if len(sessions) else scored_meta(model)


# ---------------------------------------------------------------- the nodes
# Each takes the pandas node function first (``scale_out.on_partitions``).
def validate_new_sessions(
    node: Any, new_sessions: dd.DataFrame
) -> tuple[dd.DataFrame, dd.DataFrame, dict[str, Any]]:
    """The inference contract on every partition, ids counted across them."""
    source = getattr(new_sessions, SOURCE, "the new sessions")
    valid, rejects, rows_in = validate_partitions(
        new_sessions, labelled=False, source=source
    )
    return valid, rejects, {"source": source, "rows_in": rows_in}


def score_sessions(
    node: Any, sessions: dd.DataFrame, purchase_model: PurchaseModel
) -> dd.DataFrame:
    """``PurchaseModel.score`` on every partition."""
    return sessions.map_partitions(
        _score_part, purchase_model, meta=scored_meta(purchase_model)
    )


def rank_predictions(node: Any, scored_sessions: dd.DataFrame) -> dd.DataFrame:
    """The pandas ranking within each partition (no global shuffle)."""
    return scored_sessions.map_partitions(node, meta=scored_sessions._meta)


def summarise_inference(
    node: Any,
    scored_sessions: dd.DataFrame,
    rejected_new_sessions: dd.DataFrame,
    new_sessions_summary: dict[str, Any],
    purchase_model: PurchaseModel,
) -> dict[str, Any]:
    """The pandas summary, its counts and score distribution over all partitions.

    The node itself, on no rows, gives every key and the model section; the
    counts, the mean and the quantiles are then computed across partitions.
    The quantiles are Dask's approximate ones (within a few thousandths of
    the exact ones on a million scores); counts and mean are exact.
    """
    skeleton = node(
        scored_sessions._meta,
        rejected_new_sessions._meta,
        new_sessions_summary,
        purchase_model,
    )
    proba = scored_sessions["purchase_probability"]
    rules = [
        dask.delayed(count_reject_rules)(part)
        for part in rejected_new_sessions.to_delayed()
    ]
    (scored, rejected, buyers, confidence, mean, quantiles, rule_counts) = dask.compute(
        scored_sessions.map_partitions(len, meta=("rows", "int64")).sum(),
        rejected_new_sessions.map_partitions(len, meta=("rows", "int64")).sum(),
        scored_sessions["purchase_prediction"].sum(),
        scored_sessions["prediction_confidence"].value_counts(),
        proba.mean(),
        proba.quantile(list(SCORE_QUANTILES)),
        rules,
    )
    total: Counter[str] = Counter()
    for counted in rule_counts:
        total.update(counted)
    summary = dict(skeleton)
    summary["rows"] = {
        **skeleton["rows"],
        "scored": int(scored),
        "rejected": int(rejected),
    }
    summary["rejects_by_rule"] = dict(total.most_common())
    summary["predicted_buyers"] = int(buyers)
    summary["confidence"] = {
        level: int(confidence.get(level, 0)) for level in skeleton["confidence"]
    }
    summary["probability"] = {
        "mean": _rounded(mean),
        **{f"p{int(q * 100)}": _rounded(quantiles.loc[q]) for q in SCORE_QUANTILES},
    }
    return summary


def _rounded(value: float) -> float | None:
    # As the pandas summary rounds (inference.nodes).
    return None if pd.isna(value) else round(float(value), 4)


# Rows of a batch the drift report compares with the reference profile: a
# uniform sample across partitions when the batch is larger.
DRIFT_SAMPLE_ROWS = 1_000_000


def report_drift(
    node: Any,
    new_sessions_validated: dd.DataFrame,
    scored_sessions: dd.DataFrame,
    new_session_rejects: dd.DataFrame,
    *context: Any,
) -> tuple[dict[str, Any], str]:
    """The pandas drift report on a uniform sample of at most
    ``DRIFT_SAMPLE_ROWS`` scored sessions (all of them when fewer), with every
    rejected row; its row counts are the whole batch's.

    ``context``: the node's other inputs (the batch summary, the model, the
    monitoring parameters, the run id), passed on as they are.
    """
    scored = int(_rows(scored_sessions).compute())
    share = min(1.0, DRIFT_SAMPLE_ROWS / max(scored, 1))

    def sample(frame: dd.DataFrame) -> dd.DataFrame:
        return frame.sample(frac=share, random_state=0) if share < 1 else frame

    sessions, scores, rejects = dask.compute(
        sample(new_sessions_validated), sample(scored_sessions), new_session_rejects
    )
    report, page = node(
        sessions.reset_index(drop=True),
        scores.reset_index(drop=True),
        rejects.reset_index(drop=True),
        *context,
    )
    if share < 1:
        rows = {**report["rows"], "scored": scored}
        report = {**report, "rows": rows, "sampled_rows": len(sessions)}
    return report, page


def _rows(frame: dd.DataFrame) -> Any:
    return frame.map_partitions(len, meta=("rows", "int64")).sum()


def build_contact_list(
    node: Any,
    sessions: dd.DataFrame,
    explained_sessions: dd.DataFrame,
    purchase_model: PurchaseModel,
    business: BusinessParams,
    targeting: TargetingParams,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The contact list's candidates of each partition, merged pairwise, then
    the pandas node on the last candidates.

    The list is a prefix of one order (expected profit, best first) cut by
    ``targeting.max_contacts`` and ``budget``, so the list of any group of
    partitions holds every row of them that the whole list can take: each
    partition's candidates are selected (``select_contacts``, the node's own
    rule, without reasons) and merged two at a time (a tree), each merge
    holding at most two selections. The node then lists the last selection,
    the whole input's, and explains its rows once.
    """
    level = [
        dask.delayed(_contact_candidates)(part, explained, business, targeting)
        for part, explained in zip(
            sessions.to_delayed(), explained_sessions.to_delayed(), strict=True
        )
    ]
    while len(level) > 1:
        pairs = [level[i : i + 2] for i in range(0, len(level), 2)]
        level = [
            dask.delayed(_merged_candidates)(pair, business, targeting)
            for pair in pairs
        ]
    rows, explained = level[0].compute()
    contacts, summary = node(rows, explained, purchase_model, business, targeting)
    # A decile is a customer's place among all scored rows, not the union's.
    return contacts.assign(
        **{DECILE: global_deciles(contacts, explained_sessions)}
    ), summary


def global_deciles(contacts: pd.DataFrame, scored: dd.DataFrame) -> np.ndarray:
    """Each listed row's decile among every scored row (``targeting.deciles``'
    rule: ranked by probability, highest first, ties by id; rank ``r`` of
    ``n`` is in decile ``1 + floor(10 r / n)``), ranks summed over partitions."""
    keys = contacts[[ID_COLUMN, PROBABILITY]]
    parts = [
        dask.delayed(_rows_before)(part[[ID_COLUMN, PROBABILITY]], keys)
        for part in scored.to_delayed()
    ]
    counts = dask.compute(*parts)
    rank = np.sum(np.array([before for before, _ in counts]), axis=0)
    rows = sum(total for _, total in counts)
    return 1 + (rank * DECILES) // max(rows, 1)


def _rows_before(part: pd.DataFrame, keys: pd.DataFrame) -> tuple[np.ndarray, int]:
    """How many rows of ``part`` rank before each key (and ``part``'s length)."""
    probability = np.concatenate(
        [part[PROBABILITY].to_numpy(float), keys[PROBABILITY].to_numpy(float)]
    )
    ids = np.concatenate([part[ID_COLUMN].to_numpy(), keys[ID_COLUMN].to_numpy()])
    # A key sorts before a row of equal probability and id (itself): only the
    # rows strictly before it are counted.
    is_row = np.r_[np.ones(len(part), np.int8), np.zeros(len(keys), np.int8)]
    order = np.lexsort((is_row, ids, -probability))
    before = np.cumsum(is_row[order])
    key_positions = np.flatnonzero(is_row[order] == 0)
    result = np.empty(len(keys), dtype=np.int64)
    result[order[key_positions] - len(part)] = before[key_positions]
    return result, len(part)


def _merged_candidates(
    pair: list[tuple[pd.DataFrame, pd.DataFrame]],
    business: BusinessParams,
    targeting: TargetingParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if len(pair) == 1:
        return pair[0]
    return _contact_candidates(
        pd.concat([rows for rows, _ in pair], ignore_index=True),
        pd.concat([rows for _, rows in pair], ignore_index=True),
        business,
        targeting,
    )


def _contact_candidates(
    sessions: pd.DataFrame,
    explained: pd.DataFrame,
    business: BusinessParams,
    targeting: TargetingParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of one partition or merge the contact list can take, no reasons."""
    sessions = sessions.reset_index(drop=True)
    explained = explained.reset_index(drop=True)
    if not len(sessions):
        return sessions, explained
    return select_contacts(sessions, explained, business, targeting)


def explain_predictions(
    node: Any,
    scored_sessions: dd.DataFrame,
    sessions: dd.DataFrame,
    purchase_model: PurchaseModel,
    inference: Any,
) -> dd.DataFrame:
    """The pandas node on each partition (a partition's reasons are its own)."""
    if not inference.explain:
        return scored_sessions
    parts = [
        dask.delayed(node)(scored, part, purchase_model, inference)
        for scored, part in zip(
            scored_sessions.to_delayed(), sessions.to_delayed(), strict=True
        )
    ]
    meta = node(
        scored_sessions.head(1, npartitions=-1).reset_index(drop=True),
        sessions.head(1, npartitions=-1).reset_index(drop=True),
        purchase_model,
        inference,
    ).iloc[:0]
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


# ---------------------------------------------------------------- training data
def validate_training_sessions(
    node: Any, raw_sessions: dd.DataFrame
) -> tuple[dd.DataFrame, dd.DataFrame, dict[str, Any]]:
    """The training contract on every partition, ids counted across them."""
    source = getattr(raw_sessions, SOURCE, "the raw sessions")
    valid, rejects, rows_in = validate_partitions(
        raw_sessions, labelled=True, source=source
    )
    ignored = [
        column
        for column in normalise_header(raw_sessions._meta).columns
        if column not in valid_meta(labelled=True).columns
    ]
    if ignored:
        logger.warning("%s: ignoring columns outside the contract: %s", source, ignored)
    summary = {"source": source, "rows_in": rows_in, "ignored_columns": ignored}
    return valid, rejects, summary


def build_data_quality_report(
    node: Any,
    sessions: dd.DataFrame,
    rejected_sessions: dd.DataFrame,
    validation_summary: dict[str, Any],
    params: Any,
) -> dict[str, Any]:
    """The pandas report, its figures aggregated over all partitions.

    The node itself, on no rows, gives every key and sentence; the counts,
    shares and purchase rates are then sums over partitions (exact). The
    Tukey fences come from Dask's approximate quantiles, so a fence (and the
    count beyond it) can differ slightly from the pandas path's on the same
    rows; the report says so under ``outliers.approximate``.
    """
    skeleton = node(sessions._meta, rejected_sessions._meta, validation_summary, params)
    numeric = list(skeleton["outliers"]["columns"])
    label = LABEL_COLUMN
    rules = [
        dask.delayed(_reject_counts)(part) for part in rejected_sessions.to_delayed()
    ]
    kept, rejected, missing, quartiles, rate, rate_by, reject_counts = dask.compute(
        _rows(sessions),
        _rows(rejected_sessions),
        sessions[list(skeleton["missing_values"])].isna().sum(),
        {
            name: sessions[name].astype("float64").quantile([0.25, 0.75])
            for name in numeric
        },
        sessions[label].mean(),
        {
            name: sessions.groupby(name, dropna=False, observed=True)[label].mean()
            for name in skeleton["purchase_rate_by"]
        },
        rules,
    )
    by_rule: Counter[str] = Counter()
    by_column: Counter[str] = Counter()
    for rule_counts, column_counts in reject_counts:
        by_rule.update(rule_counts)
        by_column.update(column_counts)  # partitions hold different rows
    report = dict(skeleton)
    report["rows"] = {**skeleton["rows"], "kept": int(kept), "rejected": int(rejected)}
    report["rejects_by_rule"] = dict(by_rule.most_common())
    report["rejects_by_column"] = dict(by_column.most_common())
    report["missing_values"] = {
        name: _count_share(int(missing[name]), int(kept)) for name in missing.index
    }
    report["outliers"] = {
        **skeleton["outliers"],
        "approximate": "fences from Dask's approximate quartiles over all partitions",
        "columns": _partitioned_outliers(sessions, quartiles, params),
    }
    report["purchase_rate"] = _rounded(rate) if kept else None
    report["purchase_rate_by"] = {
        name: {str(level): round(float(value), 4) for level, value in rates.items()}
        for name, rates in rate_by.items()
    }
    return report


def _count_share(count: int, total: int) -> dict[str, Any]:
    # As the pandas report counts (data_processing.nodes).
    return {"count": count, "share": round(count / total, 4) if total else 0.0}


def _reject_counts(rejects: pd.DataFrame) -> tuple[dict[str, int], dict[str, int]]:
    """One partition's rejected rows by rule and by column."""
    return count_reject_rules(rejects), count_reject_columns(rejects)


def _partitioned_outliers(
    sessions: dd.DataFrame, quartiles: dict[str, pd.Series], params: Any
) -> dict[str, Any]:
    fences = {}
    for name, quantiles in quartiles.items():
        q1, q3 = float(quantiles.loc[0.25]), float(quantiles.loc[0.75])
        if np.isnan(q1):
            fences[name] = None
            continue
        spread = params.outlier_iqr_multiplier * (q3 - q1)
        fences[name] = (q1 - spread, q3 + spread)
    counted = {}
    for name, fence in fences.items():
        if fence is None:
            continue
        values = sessions[name].astype("float64")
        outside = (values < fence[0]) | (values > fence[1])
        counted[name] = (
            outside.sum(),
            values.count(),
            sessions[ID_COLUMN][outside].head(
                params.max_outlier_examples, npartitions=-1, compute=False
            ),
        )
    found = dask.compute(counted)[0]
    result: dict[str, Any] = {}
    for name, fence in fences.items():
        if fence is None:
            result[name] = {"lower_fence": None, "upper_fence": None, "count": 0}
            result[name].update(_count_share(0, 0))
            continue
        outside, present, examples = found[name]
        result[name] = {
            "lower_fence": round(fence[0], 4),
            "upper_fence": round(fence[1], 4),
            **_count_share(int(outside), int(present)),
            "example_customer_ids": examples.astype(int).tolist(),
        }
    return result


# ---------------------------------------------------------------- modelling
def training_sample_rows(params: Any) -> int:
    """Sessions drawn for training: enough for a train part of
    ``modelling.search.max_rows`` rows after the split."""
    # Rounded to 1e-9 first: 1400 / 0.7 is 2000.0000000000002 in floats.
    return int(np.ceil(round(params.search.max_rows / params.split.train, 9)))


def _stratified_part(
    part: pd.DataFrame, share: float, seed: int, partition_info: Any = None
) -> pd.DataFrame:
    number = 0 if partition_info is None else int(partition_info["number"])
    # Each class's share rounded down, so the sample never exceeds the wanted
    # rows: one row over would give the split a train part of max_rows + 1,
    # which the search's stratified subsample cannot cut to max_rows.
    groups = [
        group.sample(n=int(share * len(group)), random_state=seed + number)
        for _, group in part.groupby(LABEL_COLUMN, observed=True)
    ]
    return pd.concat(groups) if groups else part.iloc[:0]


def check_training_data(
    node: Any,
    sessions: dd.DataFrame,
    data_quality_report: dict[str, Any],
    params: Any,
) -> pd.DataFrame:
    """The pandas check on a bounded sample of the partitions, stratified by
    the label within each partition (the same share of each class of each
    partition), of about ``training_sample_rows`` sessions; all of them when
    fewer. Everything after it (split, search, CV, fit) runs on this sample in
    one process, so training memory does not grow with the data."""
    rows = int(_rows(sessions).compute())
    wanted = training_sample_rows(params)
    share = min(1.0, wanted / max(rows, 1))
    sample = (
        sessions
        if share >= 1
        else sessions.map_partitions(
            _stratified_part, share, params.seed, meta=sessions._meta
        )
    )
    frame = sample.compute().reset_index(drop=True)
    logger.info(
        "Training on %d of %d validated sessions (a sample stratified by %s, "
        "at most modelling.search.max_rows / modelling.split.train = %d)",
        len(frame),
        rows,
        LABEL_COLUMN,
        wanted,
    )
    return node(frame, data_quality_report, params)


# ---------------------------------------------------------------- all training rows
def training_rows(sessions: dd.DataFrame, *held_out: pd.DataFrame) -> dd.DataFrame:
    """Every validated session but the held-out ones (the sample's validation
    and test parts): the rows the feature statistics and a distributed refit
    learn from. Ids are unique across partitions (the contract rejects
    repeats), so the held-out rows are found by id."""
    held = np.concatenate([part[ID_COLUMN].to_numpy() for part in held_out])
    return sessions[~sessions[ID_COLUMN].isin(held.tolist())]


class TrainingRowsDataset(AbstractDataset[None, dd.DataFrame]):
    """``training_rows`` of a folder of validated sessions, as a lazy frame.

    Read after the split (its readers, ``fit_feature_transformer`` and
    ``fit_candidates``, take the train part too): the held-out files are the
    split's validation and test parts, of which only the ids are read.
    """

    def __init__(
        self,
        *,
        sessions: str,
        held_out: list[str],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._sessions = str(sessions)
        self._held_out = [str(path) for path in held_out]
        self.metadata = metadata

    def load(self) -> dd.DataFrame:
        """Every session of the folder but the held-out files' ids."""
        held = [pd.read_parquet(path, columns=[ID_COLUMN]) for path in self._held_out]
        return training_rows(dd.read_parquet(self._sessions), *held)

    def save(self, data: None) -> None:
        """Derived from other outputs, never written."""
        raise SessionsFileError(
            f"training rows of {self._sessions} are read, never written"
        )

    def _describe(self) -> dict[str, Any]:
        return {"sessions": self._sessions, "held_out": self._held_out}


def _input_columns(part: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(session_columns(part), index=part.index)


def _imputed(part: pd.DataFrame, transformer: SessionFeatures) -> pd.DataFrame:
    imputed = transformer.impute_columns(session_columns(part))
    return pd.DataFrame(imputed, index=part.index)


def _engineered(part: pd.DataFrame, transformer: SessionFeatures) -> pd.DataFrame:
    engineered = engineered_columns(transformer, session_columns(part))
    return pd.DataFrame(engineered, index=part.index)


def _matrix_sum(part: pd.DataFrame, transformer: SessionFeatures) -> np.ndarray:
    return transformer.transform_columns(session_columns(part)).sum(axis=0)


def _per_partition(rows: dd.DataFrame, function: Any, *args: Any) -> dd.DataFrame:
    # meta: what the same function returns for no rows.
    return rows.map_partitions(function, *args, meta=function(rows._meta, *args))


# Each partition summarises a column by this many of its quantiles (every
# value when it has fewer); the summaries merge into quantiles over all rows.
SKETCH_POINTS = 4001


def value_sketch(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A partition's column as sorted points and the rows each stands for:
    every present value (weight 1), or ``SKETCH_POINTS`` evenly spaced
    quantiles of them when more."""
    present = values.to_numpy(float)
    present = np.sort(present[~np.isnan(present)])
    if len(present) <= SKETCH_POINTS:
        return present, np.ones(len(present))
    points = np.quantile(present, np.linspace(0.0, 1.0, SKETCH_POINTS))
    return points, np.full(SKETCH_POINTS, len(present) / SKETCH_POINTS)


def sketch_quantiles(
    sketches: list[tuple[np.ndarray, np.ndarray]], quantiles: np.ndarray
) -> np.ndarray:
    """Quantiles (numpy's linear rule) from the partitions' merged sketches.

    Each point sits at the middle of the ranks it stands for; a quantile is
    interpolated between points. Exact (numpy's, up to rounding) when every
    partition has at most ``SKETCH_POINTS`` values; otherwise approximate,
    off by at most about a ``SKETCH_POINTS``-th of each partition's rows in
    rank. NaN when there is no value.
    """
    values = np.concatenate([points for points, _ in sketches])
    weights = np.concatenate([weight for _, weight in sketches])
    if not len(values):
        return np.full(len(quantiles), np.nan)
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    ranks = np.cumsum(weights) - (weights + 1.0) / 2.0
    total = float(weights.sum())
    return np.interp(np.asarray(quantiles) * (total - 1.0), ranks, values)


def _quantiles(column: dd.Series, quantiles: list[float]) -> Any:
    """Delayed ``sketch_quantiles`` of a Dask column."""
    sketches = [dask.delayed(value_sketch)(part) for part in column.to_delayed()]
    return dask.delayed(sketch_quantiles)(sketches, np.asarray(quantiles))


def feature_statistics(rows: dd.DataFrame, cap_quantile: float) -> FeatureStatistics:
    """What ``SessionFeatures.fit`` learns, by Dask reductions over ``rows``.

    Five passes, each needing the statistics before it (as ``fit`` computes
    them in turn): the fills; the caps, the training values and the level
    shares; the engagement cut; the ranges and levels; the mean matrix row.
    Medians and quantiles (the ``time_spent`` fill, the caps, the cut, the
    training values) come from merged per-partition sketches
    (``sketch_quantiles``): exact while partitions hold at most
    ``SKETCH_POINTS`` rows, approximate beyond. Means, counts, minima, maxima
    and levels are exact.
    """
    inputs = _per_partition(rows, _input_columns)
    rules = {name: learned_fill(name) for name in NUMERIC_COLUMNS}
    # Delayed sketches and Dask expressions are computed apart (Dask asks so).
    count, means = dask.compute(
        _rows(rows),
        {n: inputs[n].mean() for n, r in rules.items() if r == "mean_rounded"},
    )
    (medians,) = dask.compute(
        {n: _quantiles(inputs[n], [0.5]) for n, r in rules.items() if r == "median"}
    )
    count = int(count)
    fills = {
        name: fill_from(
            name,
            median=float(medians[name][0]) if name in medians else np.nan,
            mean=float(means.get(name, np.nan)),
        )
        for name in NUMERIC_COLUMNS
    }
    stage = FeatureStatistics(rows=count, fill_values=fills)
    imputed = _per_partition(rows, _imputed, features_from_statistics(stage))
    grid = (
        list(np.linspace(0.0, 1.0, TRAINING_VALUES))
        if count > TRAINING_VALUES
        else list(np.arange(count) / max(count - 1, 1))
    )
    caps, values = dask.compute(
        [_quantiles(imputed[n], [cap_quantile]) for n in (TIME_SPENT, PAGES_VIEWED)],
        {n: _quantiles(imputed[n], grid) for n in NUMERIC_COLUMNS},
    )
    (levels,) = dask.compute(
        {n: imputed[n].value_counts() for n in CATEGORICAL_COLUMNS}
    )
    stage = replace(
        stage,
        time_cap=float(caps[0][0]),
        pages_cap=float(caps[1][0]),
        training_values={n: np.asarray(v, float) for n, v in values.items()},
        level_shares={
            n: {
                level: int(levels[n].get(code, 0)) / count
                for code, level in enumerate(ALLOWED_LABELS[n])
            }
            for n in CATEGORICAL_COLUMNS
        },
    )
    engineered = _per_partition(rows, _engineered, features_from_statistics(stage))
    cut = float(_quantiles(engineered["engagement_score"], [0.5]).compute()[0])
    stage = replace(stage, engagement_cut=cut)
    engineered = _per_partition(rows, _engineered, features_from_statistics(stage))
    scaled = engineered[list(SCALED_COLUMNS)]
    low, high, codes = dask.compute(
        scaled.min(),
        scaled.max(),
        {n: engineered[n].unique() for n in ONE_HOT_COLUMNS},
    )
    stage = replace(
        stage,
        data_min=low[list(SCALED_COLUMNS)].to_numpy(float),
        data_max=high[list(SCALED_COLUMNS)].to_numpy(float),
        codes={n: np.asarray(c) for n, c in codes.items()},
    )
    transformer = features_from_statistics(stage)
    sums = dask.compute(
        *[dask.delayed(_matrix_sum)(part, transformer) for part in rows.to_delayed()]
    )
    return replace(stage, matrix_mean=np.sum(sums, axis=0) / count)


def fit_feature_transformer(
    node: Any,
    train_sessions: pd.DataFrame,
    params: Any,
    training_rows: dd.DataFrame,
) -> SessionFeatures:
    """The transformer's statistics over every training row of the partitions.

    The training rows are every validated session but the sample's
    validation and test parts (``TrainingRowsDataset``), so no held-out row
    informs them; the search and CV still refit the transformer inside each
    fold on the sample, as the pandas path does. ``node`` (the pandas fit) is
    not called: its statistics are learned by ``feature_statistics`` instead.
    """
    statistics = feature_statistics(training_rows, params.cap_quantile)
    transformer = features_from_statistics(statistics, cap_quantile=params.cap_quantile)
    logger.info(
        "Feature statistics learned with Dask over %d training rows (every "
        "validated session but the sample's validation and test parts; the "
        "sample's train part: %d)",
        statistics.rows,
        len(train_sessions),
    )
    return transformer


def fit_candidates(
    node: Any,
    train_sessions: pd.DataFrame,
    feature_transformer: SessionFeatures,
    candidate_tuning: Any,
    params: Any,
    training_rows: dd.DataFrame,
) -> dict[str, Any]:
    """Every candidate fitted on the sample's train part (the pandas node);
    then the candidate that will be selected, if its registry entry has a
    distributed fit (XGBoost: ``xgboost.dask``), refitted on every training
    row (``TrainingRowsDataset``). The selection is ``select_model``'s: the same
    rule on the same cross-validated metrics. Others keep the sample fit.
    """
    fitted = node(train_sessions, feature_transformer, candidate_tuning, params)
    selected, _ = choose_candidate(
        {name: tuning.cv_dict() for name, tuning in candidate_tuning.items()},
        params.selection_metric,
        params.cv_folds,
        within_standard_error=params.tie_break_within_standard_error,
        tie_break=params.tie_break,  # as select_model chooses
    )
    candidate = get_candidate(selected)
    if candidate.distributed_fit is None:
        logger.info(
            "%s has no distributed fit: it keeps its fit on the sample's %d "
            "training rows",
            candidate.display_name,
            len(train_sessions),
        )
        return fitted
    pipeline = fitted[selected]
    features = pipeline.named_steps["features"]
    estimator = candidate.distributed_fit(
        pipeline.named_steps["model"], training_rows, features
    )
    return {
        **fitted,
        selected: Pipeline([("features", features), ("model", estimator)]),
    }
