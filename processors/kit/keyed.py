"""Group a batch's rows by key (symbol, account, ...), keeping arrival order within a key.

Keys are hashed (`pd.factorize`), not sorted as strings, and the rows stably sorted by the
key's code: each key's rows are then one contiguous run, in the order they arrived.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True, slots=True)
class KeyGroups:
    """The rows of one batch by key.

    `keys`: the distinct keys in order of first appearance; `codes`: each row's index into
    `keys` (rows in arrival order); `order`: the rows sorted by code, stably; `bounds`: key
    k's rows are `order[bounds[k]:bounds[k + 1]]`.
    """

    keys: list[str]
    codes: np.ndarray
    order: np.ndarray
    bounds: np.ndarray

    def rows(self, code: int) -> np.ndarray:
        """The rows of `keys[code]`, in arrival order."""
        return self.order[self.bounds[code]: self.bounds[code + 1]]

    @property
    def sorted_codes(self) -> np.ndarray:
        """The code of each row of `order`."""
        return self.codes[self.order]


def key_codes(keys: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Each row's index into the distinct keys, and those keys in order of first appearance
    (for an engine that orders rows its own way, e.g. by tensor slot)."""
    codes, uniques = pd.factorize(keys)
    return codes, [str(k) for k in uniques]


def group_by_key(keys: np.ndarray) -> KeyGroups:
    """Group rows by their key column."""
    codes, names = key_codes(keys)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    return KeyGroups(names, codes, order, bounds)
