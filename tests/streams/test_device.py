"""Device selection: auto prefers MPS, then CUDA, then CPU; explicit choices must exist."""

from __future__ import annotations

import pytest
import torch

from streams.device import float_dtype, resolve_device, select_device
from streams.exceptions import ConfigError

HAS_CUDA = torch.cuda.is_available()
HAS_MPS = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def test_cpu_is_cpu() -> None:
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_follows_the_preference_order() -> None:
    # Arrange: what this machine offers decides what auto must pick.
    expected = "mps" if HAS_MPS else "cuda" if HAS_CUDA else "cpu"

    # Act
    device = resolve_device("auto")

    # Assert
    assert device.type == expected


def test_auto_prefers_mps_then_cuda_then_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # The order itself, independent of this machine's hardware.
    import streams.device as device_module

    cases = [((True, True), "mps"), ((False, True), "cuda"), ((False, False), "cpu")]
    seen = []
    for (mps, cuda), _ in cases:
        monkeypatch.setattr(device_module, "_mps_available", lambda mps=mps: mps)
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        seen.append(resolve_device("auto").type)

    assert seen == [expected for _, expected in cases]


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_explicit_cuda_without_cuda_raises() -> None:
    with pytest.raises(ConfigError, match="NAUTILUS_DEVICE=cuda"):
        resolve_device("cuda")


@pytest.mark.skipif(not HAS_CUDA, reason="this machine has no CUDA")
def test_explicit_cuda_with_cuda_is_cuda() -> None:
    assert resolve_device("cuda").type == "cuda"


@pytest.mark.skipif(HAS_MPS, reason="this machine has MPS")
def test_explicit_mps_without_mps_raises() -> None:
    with pytest.raises(ConfigError, match="NAUTILUS_DEVICE=mps"):
        resolve_device("mps")


@pytest.mark.parametrize("choice", ["gpu", "CPU", "", "cuda:0", "tpu"])
def test_nonsense_choice_raises(choice: str) -> None:
    with pytest.raises(ConfigError, match="must be auto, cpu, cuda or mps"):
        resolve_device(choice)


def test_select_device_resolves_once_per_choice() -> None:
    first = select_device("cpu")

    assert select_device("cpu") is first
    assert first == torch.device("cpu")


@pytest.mark.parametrize(
    ("device", "dtype"),
    [
        (torch.device("cpu"), torch.float64),
        (torch.device("cuda"), torch.float64),
        (torch.device("mps"), torch.float32),
    ],
)
def test_float_dtype_is_the_widest_the_device_supports(
    device: torch.device, dtype: torch.dtype
) -> None:
    assert float_dtype(device) == dtype
