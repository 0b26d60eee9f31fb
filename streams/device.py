"""Pick the torch device once per process (NAUTILUS_DEVICE=auto|cpu|cuda|mps).

`auto` prefers MPS (Apple silicon), then CUDA, then CPU. Engines get the device injected.
"""

from __future__ import annotations

import logging
from functools import cache

import torch

from streams.exceptions import ConfigError

log = logging.getLogger(__name__)


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(choice: str) -> torch.device:
    """The device for a NAUTILUS_DEVICE value; an unavailable explicit choice is an error."""
    if choice == "auto":
        if _mps_available():
            return torch.device("mps")
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("NAUTILUS_DEVICE=cuda but torch sees no CUDA device")
        return torch.device("cuda")
    if choice == "mps":
        if not _mps_available():
            raise ConfigError("NAUTILUS_DEVICE=mps but MPS is not available on this machine")
        return torch.device("mps")
    raise ConfigError(f"NAUTILUS_DEVICE must be auto, cpu, cuda or mps, not {choice!r}")


@cache
def select_device(choice: str) -> torch.device:
    """`resolve_device`, once per process per choice, logged."""
    device = resolve_device(choice)
    log.info("device selected choice=%s device=%s", choice, device)
    return device


def float_dtype(device: torch.device) -> torch.dtype:
    """The widest float the device supports: MPS has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64
