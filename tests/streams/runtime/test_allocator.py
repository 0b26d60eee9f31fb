"""The worker's Arrow allocator (streams/runtime/allocator.py): the system's, unless the user
chose one with ARROW_DEFAULT_MEMORY_POOL."""

from collections.abc import Iterator

import pyarrow as pa
import pytest

from streams.runtime.allocator import POOL_VARIABLE, use_system_allocator


@pytest.fixture
def arrow_pool() -> Iterator[None]:
    """The test may change Arrow's process-wide pool; the others get it back."""
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def test_arrow_allocates_with_the_system_allocator(
    arrow_pool: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(POOL_VARIABLE, raising=False)
    pa.set_memory_pool(pa.mimalloc_memory_pool())  # the pyarrow wheels' default

    assert use_system_allocator() == "system"
    assert pa.default_memory_pool().backend_name == "system"


def test_a_pool_the_user_chose_is_kept(
    arrow_pool: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POOL_VARIABLE, "mimalloc")
    pa.set_memory_pool(pa.mimalloc_memory_pool())  # what Arrow chose from the variable

    assert use_system_allocator() == "mimalloc"
