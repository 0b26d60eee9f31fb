"""The engine kit: building blocks engines share.

- `keyed`: group a batch's rows by key, arrival order kept within a key (numpy).
- `tensors`: per-key state as torch tensors (`KeyTable`, one slot per key; `RowStore`).
- `segments`: vectorised torch helpers over rows grouped by slot, and per-slot rings.
- `timebars`: time bars per key on a `KeyTable`.

Only `keyed` is free of torch; import the others from engines that keep tensors.
"""
