"""Reading CSV tables: one bad row is one reject, the rest kept.

Reading. A sessions CSV is parsed by pyarrow, every cell as text. A row that
cannot be read as a row (too many or too few fields, an unterminated quote, a
row of more than ``MAX_ROW_BYTES``, bytes that are not UTF-8) stays in the
frame, in its place, with the fields it has; the frame records which rows they
are and why (``unreadable_rows``), and the data contract rejects each of them
with that reason, so rows in = rows kept + rows rejected counts them too. Only
a file that is not a table at all (empty, NUL bytes, UTF-16, binary) stops with
one message.

The fast path is one serial pyarrow read (a million rows in a fraction of a
second); a file with an unterminated quote or a row longer than pyarrow's
block is split into records line by line first, so one broken quote cannot
swallow the rows after it.

Writing is ``table_writing.py``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from customer_purchase_prediction.errors import SessionsFileError
from customer_purchase_prediction.values import NA_TOKENS, show_value

# The frame attribute that lists the rows its reader could not read as rows.
UNREADABLE_ROWS = "unreadable_rows"
MAX_ROW_BYTES = 1 << 20
# A quoted field may run over this many lines before its quote counts as broken.
MAX_RECORD_LINES = 100
_BLOCK_BYTES = 1 << 26
_NULL_VALUES = sorted(NA_TOKENS)
_QUOTE = b'"'

RULE_FIELDS = "row:field_count"
RULE_QUOTE = "row:unterminated_quote"
RULE_TOO_LONG = "row:too_long"
RULE_NOT_UTF8 = "row:not_utf8"


@dataclass(frozen=True)
class _BadRow:
    """A row that could not be read: where it is, what it holds and why."""

    position: int  # 0-based among the file's data rows
    line: int  # 1-based physical line of the file
    fields: tuple[str | None, ...]
    rule: str
    reason: str


# ---------------------------------------------------------------- reading
def read_csv_bytes(data: bytes, *, source: str) -> pd.DataFrame:
    """A CSV file's rows as a frame of text cells (missing markers as NaN).

    Rows that cannot be read are kept in their place with the fields they have
    and listed in ``frame.attrs[UNREADABLE_ROWS]`` (see ``unreadable_rows``).

    Raises:
        SessionsFileError: the file is not a CSV table at all, naming what it is.
    """
    data = _check_whole_file(data, source=source)
    header_line, header, body = _split_header(data)
    names = _parse_header(header)
    try:
        table, bad = _read_fast(body, names, header_line)
    except _NeedsCareful:
        table, bad = _read_carefully(body, names, header_line)
    frame = table.to_pandas()
    frame.columns = pd.Index(names)
    if bad:
        frame.attrs[UNREADABLE_ROWS] = tuple(
            (row.position, row.rule, row.reason) for row in bad
        )
    return frame


def unreadable_rows(frame: pd.DataFrame) -> dict[int, list[tuple[str, str]]]:
    """Rows of ``frame`` its reader could not read, as ``{position: [(rule, reason)]}``.

    The rows are known by their index labels, so a frame filtered or reordered
    after loading still names the right ones.
    """
    listed = frame.attrs.get(UNREADABLE_ROWS, ())
    if not listed or not frame.index.is_unique:
        return {}
    labels = [label for label, _, _ in listed]
    positions = frame.index.get_indexer(labels)
    return {
        int(position): [(rule, reason)]
        for position, (_, rule, reason) in zip(positions, listed, strict=True)
        if position >= 0
    }


class _NeedsCareful(Exception):
    """The fast read cannot be trusted for this file; split it line by line."""


def _check_whole_file(data: bytes, *, source: str) -> bytes:
    """``data`` without a UTF-8 BOM; a file that is not a CSV table stops here."""

    def refuse(problem: str) -> SessionsFileError:
        return SessionsFileError(f"{source} is not a readable CSV file ({problem})")

    if not data:
        raise refuse("the file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise refuse("it is UTF-16 text; save it as UTF-8")
    data = data.removeprefix(b"\xef\xbb\xbf")
    if data.startswith(b"\x00") and not data.strip(b"\x00"):
        raise refuse(
            f"it holds only NUL bytes ({len(data):,} of them) and no text; a file "
            f"written by a program that crashed or was cut short looks like this"
        )
    if data.isspace():
        raise refuse("it holds only blank lines and no header")
    if data.startswith(b"PAR1"):
        raise refuse("it is a Parquet file; name it .parquet")
    if data.startswith(b"\x1f\x8b"):
        raise refuse("it is gzip-compressed; decompress it first")
    start = len(data) - len(data.lstrip(b"\r\n"))
    end = data.find(b"\n", start)
    first_line = data[start : end if end >= 0 else len(data)]
    if b"\x00" in first_line:
        raise refuse(
            f"its header line holds NUL bytes ({show_value(_text(first_line))}): "
            f"it is a binary file, not CSV text"
        )
    return data


def _split_header(data: bytes) -> tuple[int, bytes, bytes]:
    """The header's line number, the header line and the rest of the file."""
    stripped = data.lstrip(b"\r\n")
    header_line = data[: len(data) - len(stripped)].count(b"\n") + 1
    header, _, body = stripped.partition(b"\n")
    return header_line, header, body


def _parse_header(header: bytes) -> list[str]:
    """Column names, quotes removed; bytes that are not UTF-8 replaced."""
    return [field or "" for field in _fields(header, 0, pad=False)]


def _read_options(count: int) -> pa_csv.ReadOptions:
    # Serial reading numbers the rows it skips; on this data it is as fast as
    # the threaded reader.
    return pa_csv.ReadOptions(
        use_threads=False,
        block_size=_BLOCK_BYTES,
        column_names=_positional(count),
    )


def _positional(count: int) -> list[str]:
    # pyarrow's names for the columns; the header's own may repeat.
    return [str(index) for index in range(count)]


def _convert_options(count: int) -> pa_csv.ConvertOptions:
    # Text the fast path has already checked is UTF-8, so not checked again.
    return pa_csv.ConvertOptions(
        column_types=dict.fromkeys(_positional(count), pa.string()),
        null_values=_NULL_VALUES,
        strings_can_be_null=True,
        check_utf8=False,
    )


def _parse(body: bytes, count: int) -> tuple[pa.Table, list[tuple[int, int, str]]]:
    """Parse the rows of ``body``; rows of the wrong width are returned apart.

    Returns:
        The table of the rows read, and for each skipped row its 1-based record
        number, its number of fields and its text.
    """
    skipped: list[tuple[int, int, str]] = []
    if re.fullmatch(rb"[\r\n]*", body):  # a header and no rows
        empty = pa.array([], type=pa.string())
        return pa.Table.from_arrays([empty] * count, names=_positional(count)), []

    def skip(row: Any) -> str:
        skipped.append((row.number, row.actual_columns, row.text))
        return "skip"

    table = pa_csv.read_csv(
        pa.BufferReader(body),
        read_options=_read_options(count),
        parse_options=pa_csv.ParseOptions(
            newlines_in_values=True, invalid_row_handler=skip
        ),
        convert_options=_convert_options(count),
    )
    return table, skipped


def _read_fast(
    body: bytes, names: list[str], header_line: int
) -> tuple[pa.Table, list[_BadRow]]:
    count = len(names)
    quotes = body.count(_QUOTE)
    if quotes % 2:  # a quote opened and never closed
        raise _NeedsCareful
    if b"\r" in body and body.count(b"\r") != body.count(b"\r\n"):
        raise _NeedsCareful  # pyarrow ends a row at a lone carriage return
    if not _is_utf8(body):
        raise _NeedsCareful  # pyarrow cannot show a bad row that is not UTF-8
    try:
        table, skipped = _parse(body, count)
    except pa.ArrowInvalid as exc:  # e.g. a row longer than a block
        raise _NeedsCareful from exc
    if any("\n" in text for _, _, text in skipped) or (
        quotes and _has_line_ends(table)
    ):
        raise _NeedsCareful  # quotes may pair across rows: find the broken ones
    rows = table.num_rows + len(skipped)
    lines: list[np.ndarray] = []

    def line_of(position: int) -> int:
        if not lines:
            lines.append(_record_lines(body, header_line))
            if len(lines[0]) != rows:
                raise _NeedsCareful
        return int(lines[0][position])

    bad_positions = [number - 1 for number, _, _ in skipped]
    bad = [
        _wrong_width(position, line_of(position), text, fields, names)
        for position, (_, fields, text) in zip(bad_positions, skipped, strict=True)
    ]
    good = _all_but(rows, bad_positions)
    return _finish(table, bad, good, line_of)


def _is_utf8(body: bytes) -> bool:
    """Whether ``body`` is valid UTF-8, checked by pyarrow without a copy."""
    offsets = pa.py_buffer(np.array([0, len(body)], dtype=np.int64).tobytes())
    text = pa.Array.from_buffers(
        pa.large_string(), 1, [None, offsets, pa.py_buffer(body)]
    )
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _has_line_ends(table: pa.Table) -> bool:
    """Whether a cell holds a line end (a quoted field over several lines)."""
    return any(
        pc.any(pc.match_substring(column, "\n")).as_py() for column in table.columns
    )


def _all_but(size: int, positions: list[int]) -> np.ndarray:
    """``0..size-1`` without ``positions``."""
    keep = np.ones(size, dtype=bool)
    keep[positions] = False
    return np.flatnonzero(keep)


def _record_lines(body: bytes, header_line: int) -> np.ndarray:
    """The line number where each non-blank record of ``body`` starts."""
    raw = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(raw == ord("\n"))
    quotes = np.flatnonzero(raw == ord('"'))
    ends = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    starts = np.concatenate(([0], ends + 1))
    stops = np.append(ends, len(body))
    lengths = stops - starts
    first = raw[np.minimum(starts, len(raw) - 1)] if len(raw) else np.zeros(0)
    blank = (lengths == 0) | ((lengths == 1) & (first == ord("\r")))
    return header_line + 1 + np.searchsorted(newlines, starts[~blank])


def _read_carefully(
    body: bytes, names: list[str], header_line: int
) -> tuple[pa.Table, list[_BadRow]]:
    """Split ``body`` into records line by line, then each record into fields.

    Only for files the fast path cannot read row by row. Each line is one
    record unless a quoted field holds line ends, so a stray quote or carriage
    return costs its own line only. The sound records are parsed by pyarrow;
    those it would read differently (a lone carriage return, or quotes inside
    a field) by Python's ``csv``.
    """
    count = len(names)
    utf8 = _is_utf8(body)
    lone_cr = b"\r" in body and body.count(b"\r") != body.count(b"\r\n")
    batch: list[bytes] = []  # sound records, for pyarrow
    batch_positions: list[int] = []
    rows: list[bytes] = []  # sound records that only Python reads right
    row_positions: list[int] = []
    line_at: list[int] = []
    bad: list[_BadRow] = []
    for position, (line, record, problem) in enumerate(
        _records(body.split(b"\n"), count, header_line + 1)
    ):
        line_at.append(line)
        if problem is not None:
            rule, reason = problem
            fields = _fields(record[:MAX_ROW_BYTES], count)
            bad.append(_BadRow(position, line, fields, rule, f"line {line} {reason}"))
        elif not utf8 and not _is_utf8(record):
            fields = _fields(record, count)
            reason = f"line {line} {_not_utf8(names, _first_not_utf8(record, count))}"
            bad.append(_BadRow(position, line, fields, RULE_NOT_UTF8, reason))
        elif lone_cr and _has_lone_cr(record):  # pyarrow would end the row there
            rows.append(record)
            row_positions.append(position)
        else:
            batch.append(record)
            batch_positions.append(position)
    table, skipped = _parse(b"\n".join(batch), count)
    if table.num_rows + len(skipped) != len(batch):
        # pyarrow split the records differently (a quote inside a field).
        rows, row_positions = rows + batch, row_positions + batch_positions
        table, skipped = _parse(b"", count)
        batch_positions = []
    for number, fields, text in skipped:
        position = batch_positions[number - 1]
        bad.append(_wrong_width(position, line_at[position], text, fields, names))
    gone = {number - 1 for number, _, _ in skipped}
    good = [p for index, p in enumerate(batch_positions) if index not in gone]
    read: list[tuple[str | None, ...]] = []
    for position, record in zip(row_positions, rows, strict=True):
        fields = _fields(record, count, pad=False)
        if len(fields) == count:
            read.append(fields)
            good.append(position)
        else:
            line = line_at[position]
            bad.append(_wrong_width(position, line, _text(record), len(fields), names))
    if read:
        by_python = pa.Table.from_arrays(
            [pa.array(list(values), type=pa.string()) for values in zip(*read)],
            names=_positional(count),
        )
        table = pa.concat_tables([table, by_python])
        order = np.argsort(np.asarray(good), kind="stable")
        table = table.take(pa.array(order))
        good = sorted(good)
    bad.sort(key=lambda row: row.position)
    return _finish(table, bad, np.asarray(good, dtype=np.int64), line_at.__getitem__)


def _has_lone_cr(record: bytes) -> bool:
    """Whether ``record`` holds a carriage return that does not end a line."""
    inner = record.rstrip(b"\r")
    return inner.count(b"\r") != inner.count(b"\r\n")


def _first_not_utf8(record: bytes, count: int) -> int:
    """The index of the first field of ``record`` that is not UTF-8."""
    fields = _fields(record.decode("utf-8", errors="surrogateescape"), count)
    for index, field in enumerate(fields):
        if field is not None and any("\udc80" <= c <= "\udcff" for c in field):
            return index
    return 0


def _not_utf8(names: list[str], index: int) -> str:
    name = show_value(names[index]) if index < len(names) else f"field {index + 1}"
    return (
        f"has bytes that are not UTF-8 text in column {name} (shown as \ufffd); "
        f"save the file as UTF-8"
    )


def _records(
    lines: list[bytes], count: int, first_line: int
) -> Iterator[tuple[int, bytes, tuple[str, str] | None]]:
    """Each non-blank record: its line, its bytes, and ``(rule, reason)`` if broken.

    A record is one line, or several when a quoted field holds line ends. A
    quote still open after ``MAX_RECORD_LINES`` lines or at the end of the
    file, or whose record then has the wrong number of fields, is broken: that
    one line is the bad row and reading goes on with the next line.
    """
    index = 0
    while index < len(lines):
        line = lines[index]
        number = first_line + index
        if not line.strip(b"\r"):
            index += 1
            continue
        if len(line) > MAX_ROW_BYTES:
            yield number, line, (RULE_TOO_LONG, _too_long(len(line)))
            index += 1
            continue
        quotes = line.count(_QUOTE)
        end = index + 1
        size = len(line)
        while quotes % 2 and end < len(lines) and end - index < MAX_RECORD_LINES:
            quotes += lines[end].count(_QUOTE)
            size += len(lines[end]) + 1
            end += 1
            if size > MAX_ROW_BYTES:
                break
        if quotes % 2 == 0 and size <= MAX_ROW_BYTES:
            record = b"\n".join(lines[index:end])
            if end == index + 1 or (
                len(_fields(record, count, pad=False)) == count
                and not _swallows_rows(lines[index:end], count)
            ):
                yield number, record, None
                index = end
                continue
        yield number, line, (RULE_QUOTE, "has a quote that is never closed")
        index += 1


def _swallows_rows(lines: list[bytes], count: int) -> bool:
    """Whether a quoted field over ``lines`` looks like a stray quote's doing.

    A field with line ends in it leaves its inner lines with fewer fields than
    a row, and its last line too, unless the field is the row's first. Whole
    rows inside are rows that an unclosed quote swallowed.
    """
    inner = lines[1:-1] if lines[0].startswith(_QUOTE) else lines[1:]
    return any(len(_fields(line, count, pad=False)) == count for line in inner)


def _fields(
    record: bytes | str, count: int, *, pad: bool = True
) -> tuple[str | None, ...]:
    """The fields of one record as text; padded with ``None`` to ``count``."""
    text = (_text(record) if isinstance(record, bytes) else record).rstrip("\r")
    try:
        fields: list[str | None] = list(next(csv.reader([text], strict=False), []))
    except csv.Error:
        fields = [text]
    fields = [None if field in NA_TOKENS else field for field in fields]
    if pad:
        fields = (fields + [None] * count)[:count]
    return tuple(fields)


def _wrong_width(
    position: int, line: int, text: str, fields: int, names: list[str]
) -> _BadRow:
    """The bad row of a record with ``fields`` fields where the header has more/less."""
    raw = text.encode("utf-8", errors="surrogateescape")
    parsed = _fields(raw, len(names))
    if len(raw) > MAX_ROW_BYTES:
        reason = f"line {line} {_too_long(len(raw))}"
        return _BadRow(position, line, parsed, RULE_TOO_LONG, reason)
    extra = ""
    if fields > len(names):
        extras = _fields(raw, fields)[len(names) :]
        extra = " (extra: " + ", ".join(show_value(v or "") for v in extras[:3]) + ")"
    reason = (
        f"line {line} has {fields} field{'s' if fields != 1 else ''} but the header "
        f"has {len(names)}{extra}; check that line's delimiters and quotes"
    )
    return _BadRow(position, line, parsed, RULE_FIELDS, reason)


def _too_long(size: int) -> str:
    return (
        f"is {size:,} bytes long; a row holds at most {MAX_ROW_BYTES:,} bytes "
        f"(is a quote or a line end missing?)"
    )


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _finish(
    table: pa.Table,
    bad: list[_BadRow],
    good: np.ndarray,
    line_of: Callable[[int], int],
) -> tuple[pa.Table, list[_BadRow]]:
    """Rows longer than ``MAX_ROW_BYTES`` found; the bad rows put back in place.

    ``table`` holds the rows read, as text; ``good[i]`` is the position among
    the file's rows of row ``i`` of ``table``.
    """
    lengths = np.zeros(table.num_rows, dtype=np.int64)
    for column in table.columns:
        sizes = pc.fill_null(pc.binary_length(column), 0)
        lengths += sizes.to_numpy(zero_copy_only=False)
    problems = {
        int(row): (RULE_TOO_LONG, _too_long(int(lengths[row])))
        for row in np.flatnonzero(lengths > MAX_ROW_BYTES)
    }
    if problems:
        for row, (rule, reason) in problems.items():
            position = int(good[row])
            line = line_of(position)
            values = tuple(table.slice(row, 1).to_pylist()[0].values())
            bad.append(_BadRow(position, line, values, rule, f"line {line} {reason}"))
        keep = _all_but(table.num_rows, list(problems))
        table = table.take(pa.array(keep))
        good = good[keep]
        bad.sort(key=lambda row: row.position)
    if not bad:
        return table, []
    return _put_back(table, bad, good), bad


def _put_back(table: pa.Table, bad: list[_BadRow], good: np.ndarray) -> pa.Table:
    """``table`` (the good rows) with the bad rows inserted at their positions."""
    fields = list(zip(*(row.fields for row in bad), strict=True))
    rejected = pa.Table.from_arrays(
        [pa.array(list(values), type=pa.string()) for values in fields],
        names=table.column_names,
    )
    combined = pa.concat_tables([table, rejected])
    positions = np.concatenate(
        (good.astype(np.int64), np.array([row.position for row in bad], dtype=np.int64))
    )
    return combined.take(pa.array(np.argsort(positions, kind="stable")))
