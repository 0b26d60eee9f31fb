"""CSV and Parquet files read in chunks as text cells, each row with its line number.

Arrow does the parsing (`pyarrow.csv.open_csv`, `ParquetFile.iter_batches`), one block at a
time, so memory stays flat whatever the file size. Every CSV column is read as text (an
arrow string array; empty cells are "", never null) so the parsers downstream see exactly what
the file says and decide per cell. Parquet columns are cast to text too, except timestamps,
which keep their type (and time zone, or lack of one).

Line numbers are physical lines: with a header, data starts on line 2. Blank lines are
skipped but still counted; a line with the wrong number of fields is a bad row, reported
with its line. A value may not span lines (no newlines inside quotes).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from streams.exceptions import InputFileError
from streams.feeds.badrows import BadRow

DEFAULT_BLOCK_BYTES = 2 << 20  # arrow reads several blocks ahead: keep them small
ByteCounter = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class CellChunk:
    """Rows of one chunk: cells per (lower-cased) column, line numbers, malformed lines."""

    cells: dict[str, pa.Array]
    lines: np.ndarray
    malformed: list[BadRow]

    def __len__(self) -> int:
        return int(self.lines.size)

    def raw(self, rows: np.ndarray) -> list[str]:
        """The cells of these rows as `name=value` text, for reports and dead letters."""
        if not len(rows):
            return []
        table = pa.table(self.cells).take(pa.array(rows, pa.int64()))
        return [",".join(f"{k}={v}" for k, v in row.items()) for row in table.to_pylist()]


def first_fields(path: Path) -> list[str]:
    """The fields of a CSV file's first line (its header, or its first row)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig") as fh:
            return next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputFileError(f"{path}: cannot read as CSV: {exc}") from exc


def csv_chunks(
    path: Path,
    *,
    names: Sequence[str] | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    counter: ByteCounter | None = None,
) -> Iterator[CellChunk]:
    """Chunks of a CSV (or .csv.gz) file; `names` for a file without a header line."""
    header = list(names) if names is not None else first_fields(path)
    if not header:
        raise InputFileError(f"{path}: empty file (expected a header line)")
    columns = [h.strip().lower() for h in header]
    check_unique(path, columns)
    first_line = 1 if names is not None else 2
    malformed: list[BadRow] = []
    raw = pa.OSFile(str(path))
    stream = pa.CompressedInputStream(raw, "gzip") if path.name.lower().endswith(".gz") else raw
    try:
        reader = pv.open_csv(
            stream,
            read_options=pv.ReadOptions(
                use_threads=False, block_size=block_bytes,  # threads lose line numbers
                column_names=header if names is not None else None,
            ),
            parse_options=pv.ParseOptions(
                invalid_row_handler=_Malformed(path, len(header), malformed),
                ignore_empty_lines=False,
            ),
            convert_options=pv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )
        yield from _numbered(reader, columns, first_line, malformed, raw, counter)
    except (OSError, pa.ArrowException) as exc:
        raise InputFileError(f"{path}: cannot read as CSV: {exc}") from exc
    finally:
        raw.close()


class _Malformed:
    """Arrow's handler for lines with the wrong number of fields: note them, skip them.

    Lines of only blanks are noted too (with no reason): they are blank lines, not bad rows,
    but they take a line number all the same.
    """

    def __init__(self, path: Path, width: int, out: list[BadRow]) -> None:
        self._path, self._width, self._out = path, width, out

    def __call__(self, row: pv.InvalidRow) -> str:
        reason = f"expected {self._width} fields, got {row.actual_columns}"
        blank = not row.text.strip()
        self._out.append(BadRow(self._path, row.number, "" if blank else reason, row.text))
        return "skip"


def _numbered(
    reader: pv.CSVStreamingReader,
    columns: list[str],
    first_line: int,
    skipped: list[BadRow],
    raw: pa.NativeFile,
    counter: ByteCounter | None,
) -> Iterator[CellChunk]:
    """Number each batch's rows: the lines that skipped lines did not take.

    Arrow parses a block before it hands out its rows, so every skipped line up to a batch's
    last row is known when the batch arrives. Skipped lines are passed on (the malformed ones
    as bad rows) and forgotten batch by batch.
    """
    rows_done, skips_done, bytes_done = 0, 0, 0
    for batch in reader:
        lines_skipped = np.array([r.line for r in skipped], dtype=np.int64)
        # A row's line is first_line + its index + the skipped lines before it; skipped line
        # j (counting those already passed on) precedes rows with index >= line - first - j.
        before = lines_skipped - first_line - skips_done - np.arange(lines_skipped.size)
        index = np.arange(rows_done, rows_done + batch.num_rows)
        lines = first_line + index + skips_done + np.searchsorted(before, index, side="right")
        last = int(lines[-1]) if lines.size else first_line + rows_done + skips_done
        passed = [r for r in skipped if r.line <= last]
        del skipped[:len(passed)]
        rows_done += batch.num_rows
        skips_done += len(passed)
        cells = dict(zip(columns, batch.columns, strict=True))
        keep = ~_blank(cells, batch.num_rows)
        malformed = [r for r in passed if r.reason]
        if counter is not None:
            position = raw.tell()
            counter(position - bytes_done)
            bytes_done = position
        yield CellChunk({k: v.filter(keep) for k, v in cells.items()}, lines[keep], malformed)
    if any(r.reason for r in skipped):
        yield CellChunk({c: pa.array([], pa.string()) for c in columns},
                        np.empty(0, np.int64), [r for r in skipped if r.reason])


def _blank(cells: dict[str, pa.Array], n: int) -> np.ndarray:
    """Rows whose every cell is empty: blank lines."""
    blank = np.ones(n, dtype=bool)
    for column in cells.values():
        blank &= pc.equal(column, "").to_numpy(zero_copy_only=False)
    return blank


def parquet_chunks(
    path: Path, *, batch_rows: int = 262_144, counter: ByteCounter | None = None
) -> Iterator[CellChunk]:
    """Chunks of a Parquet file; row n (from 0) is numbered line n + 2, as if under a header."""
    try:
        file = pq.ParquetFile(path)
        columns = [n.strip().lower() for n in file.schema_arrow.names]
        check_unique(path, columns)
        total_rows = max(file.metadata.num_rows, 1)
        size, done = path.stat().st_size, 0
        for batch in file.iter_batches(batch_size=batch_rows):
            lines = np.arange(done + 2, done + 2 + batch.num_rows, dtype=np.int64)
            cells = {c: _as_text(col) for c, col in zip(columns, batch.columns, strict=True)}
            if counter is not None:
                counter(size * (done + batch.num_rows) // total_rows - size * done // total_rows)
            done += batch.num_rows
            yield CellChunk(cells, lines, [])
    except (OSError, pa.ArrowException) as exc:
        raise InputFileError(f"{path}: cannot read as Parquet: {exc}") from exc


def _as_text(column: pa.Array) -> pa.Array:
    """A Parquet column as text ("" for null); timestamps stay timestamps."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        return column
    if pa.types.is_floating(kind):
        text = pc.cast(column, pa.string())
        exponent = pc.fill_null(pc.match_substring(text, "e"), False)
        if pc.any(exponent).as_py():  # 1e-07 -> 0.0000001: prices stay plain decimals
            plain = [np.format_float_positional(v, trim="-") if v is not None else None
                     for v in column.to_pylist()]
            text = pc.if_else(exponent, pa.array(plain, pa.string()), text)
        return pc.fill_null(text, "")
    return pc.fill_null(pc.cast(column, pa.string()), "")


def check_unique(path: Path, header: list[str]) -> None:
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise InputFileError(f"{path}: column(s) named twice: {', '.join(repeated)}")
