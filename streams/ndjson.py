"""A batch of wire records as one Arrow table, read by Arrow's JSON reader as newline-delimited
JSON, with the records it must not see set aside one by one.

Arrow only ever sees records it can take safely: single-line JSON objects (pyarrow 26 crashes
the process on some other top-level values, `null` then `1`, and a newline would shift
records), in UTF-8 (its strings would not decode otherwise), with at most
MAX_OPENINGS_PER_RECORD `[` and `{` (its parser recurses, and a record some 30,000 levels deep
overflows the stack: the process dies). A record that is not so is doubtful: it is left out of
the read, for the per-row path to name. So is a record the reader stops at (bad JSON, a field
that changes type): its row is in the reader's message when the batch is one parse block, and
the rest is read again without it, a few times at most. The checks are vectorised over the
joined bytes: no Python per record unless the batch has a doubtful one.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json

# A record with more `[` and `{` than this (in strings too: a bound on its nesting) takes the
# per-row path, whose parser has a recursion limit. Far above any model's records, far below
# the depth that overflows Arrow's stack, and below orjson's limit (1,024) for OBJECT columns.
MAX_OPENINGS_PER_RECORD = 512
# Arrow parses a batch in blocks of this many bytes, on its threads; a reader's message names
# the row within its block, so only a batch of one block can set a record aside by it.
BLOCK_BYTES = 1 << 20
# How often a batch is read again without the record the reader stopped at, before the
# per-row path takes the whole batch (each read costs about what the per-row path does).
MAX_READS = 4
# The reader stopping this early sets aside the rows before too: any of them may be the odd one.
FEW_FIRST_ROWS = 16
_NOT_OPENING_OR_NEWLINE = bytes(b for b in range(256) if b not in b"[{\n")
_ROW_IN_MESSAGE = re.compile(r" in row (\d+)$")
_OPENINGS = np.array([ord("["), ord("{")], np.uint8)


@dataclass(frozen=True, slots=True)
class Read:
    """Arrow's table of the records read, their bytes as Arrow read them (joined by
    newlines), and where each record ends in them."""

    table: pa.Table
    data: bytes
    ends: np.ndarray

    def holding(self, pattern: bytes) -> np.ndarray:
        """Which records' bytes match `pattern` (a regex), found in the joined bytes: no
        Python per record."""
        rows = np.zeros(len(self.ends), bool)
        starts = [m.start() for m in re.finditer(pattern, self.data)]
        if starts:
            rows[np.searchsorted(self.ends, starts)] = True
        return rows


def read_table(values: Sequence[bytes], doubtful: np.ndarray, *, threads: bool = True
               ) -> Read | None:
    """The table of the records not `doubtful` (a mask over `values`, in order), after setting
    aside (marking in `doubtful`) those Arrow must not see or stops at; None where the reader
    fails and its message does not say at which record. `threads`: Arrow parses the blocks
    on its threads (not where the caller already reads batches side by side)."""
    data = b"\n".join(values)
    lengths = np.fromiter(map(len, values), np.int64, len(values))
    doubtful |= unsafe_records(values, data, lengths)
    for _ in range(MAX_READS):
        kept = np.flatnonzero(~doubtful)
        if not len(kept):
            return Read(pa.table({}), b"", kept)
        if len(kept) < len(values):
            data = b"\n".join(itertools.compress(values, ~doubtful))
        try:
            table = pa_json.read_json(
                io.BytesIO(data),
                read_options=pa_json.ReadOptions(use_threads=threads, block_size=BLOCK_BYTES),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
            row = _row_in(exc, data, len(kept))
            if row is None:
                return None
            # A field changing type at row N may be the first rows' oddity, not row N's
            doubtful[kept[row] if row > FEW_FIRST_ROWS else kept[:row + 1]] = True
            continue
        if table.num_rows != len(kept):
            return None
        return Read(table, data, _ends(lengths[kept]))
    return None


def unsafe_records(values: Sequence[bytes], data: bytes, lengths: np.ndarray) -> np.ndarray:
    """Which records Arrow must not see (`data`: them joined by newlines; `lengths`: theirs):
    not one `{...}` line, not UTF-8, or too deep."""
    n = len(values)
    if not data:
        return np.ones(n, bool)
    ends = _ends(lengths)
    starts = ends - lengths + 1
    whole = np.frombuffer(data, np.uint8)
    framed = lengths >= 2
    unsafe = ~framed | (whole[np.where(framed, starts, 0)] != ord("{")) \
        | (whole[np.where(framed, ends, 0)] != ord("}"))
    kept = data.translate(None, _NOT_OPENING_OR_NEWLINE)
    lines = np.flatnonzero(np.frombuffer(kept, np.uint8) == ord("\n"))
    if len(lines) == n - 1:  # a newline between each two records, none in them
        openings = np.diff(lines, prepend=-1, append=len(kept)) - 1
    else:
        newlines = np.flatnonzero(whole == ord("\n"))
        inner = newlines[~np.isin(newlines, ends[:-1] + 1)]
        unsafe[np.searchsorted(ends, inner)] = True
        at = np.cumsum(np.isin(whole, _OPENINGS))
        openings = at[ends.clip(0)] - np.where(starts > 0, at[(starts - 1).clip(0)], 0)
    unsafe |= openings > MAX_OPENINGS_PER_RECORD
    if not data.isascii() and not _utf8(data):
        unsafe |= np.array([not _utf8(v) for v in values], bool)
    return unsafe


def _ends(lengths: np.ndarray) -> np.ndarray:
    """Where each record ends (its last byte) in the records joined by newlines."""
    return np.cumsum(lengths + 1) - 2


def _utf8(data: bytes) -> bool:
    """Whether bytes are UTF-8: Arrow's reader does not check, and a string that is not
    fails when it becomes a Python str."""
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _row_in(exc: Exception, data: bytes, rows: int) -> int | None:
    """The record the reader stopped at, where its message can be trusted to name it."""
    found = _ROW_IN_MESSAGE.search(str(exc))
    if found is None or len(data) > BLOCK_BYTES:
        return None
    row = int(found.group(1))
    return row if row < rows else None
