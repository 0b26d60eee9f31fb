"""Which allocator Arrow uses in a worker: the system's, so memory freed by decoding goes back.

A worker decodes every fetch with Arrow (streams/codec.py), on its decode threads. The
pyarrow wheels' default pool is mimalloc, which keeps the pages those batches free for reuse:
under the default `up` feed (2,000 trades/s) a worker's anonymous memory grew about 6 MB a
minute while nothing it holds grew (issue 16: engine state, the runtime's per-key structures,
Faust's offset bookkeeping and Python's object counts all flat), all of it in mimalloc's
region; with the system allocator the same run grew 0.5 MB a minute at the same throughput,
and an in-process decode loop held 85 MB instead of 140 MB. `ARROW_DEFAULT_MEMORY_POOL`
(Arrow's own variable: system, mimalloc, jemalloc) still chooses, when set.
"""

from __future__ import annotations

import os

import pyarrow as pa

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def use_system_allocator() -> str:
    """Make Arrow allocate with the system allocator, unless `ARROW_DEFAULT_MEMORY_POOL`
    chose a pool; returns the name of the pool Arrow uses now."""
    if not os.environ.get(POOL_VARIABLE):
        pa.set_memory_pool(pa.system_memory_pool())
    return pa.default_memory_pool().backend_name
