"""The margin benchmark at a tiny size: its book has what it claims, its tensor recompute
and its per-account loop agree, its summary line has the promised shape, and the tensor code
on a GPU equals the CPU's (run where torch sees CUDA). Nothing here is timed."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from benchmarks.margin_throughput import (
    disagreements,
    loop,
    main,
    make_book,
    on_device,
    recompute,
)

HAS_CUDA = torch.cuda.is_available()


def test_the_book_has_its_sizes_both_methods_and_shorts_under_5_usd() -> None:
    book = make_book(accounts=40, positions=12, instruments=50)

    assert book.quantity.shape == (40, 50)
    assert ((book.quantity != 0).sum(1) == 12).all()
    assert [len(c) for c in book.accounts.columns] == [12] * 40
    assert set(book.accounts.methods) == {"reg_t", "portfolio"}
    assert ((book.quantity < 0) & (book.new_mark < 5)).any()
    assert np.allclose(book.accounts.covariance, book.accounts.covariance.T)


@pytest.mark.parametrize("per_account_marks", [False, True])
def test_tensor_recompute_and_the_per_account_loop_agree(per_account_marks: bool) -> None:
    book = make_book(accounts=60, positions=15, instruments=40)

    result, var = recompute(on_device(book, torch.device("cpu"),
                                      per_account_marks=per_account_marks))
    loop_figures, _ = loop(book, budget_s=600)

    assert len(loop_figures) == 60
    assert disagreements(result, var, loop_figures) == []


def test_the_benchmark_ends_with_its_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--accounts", "30", "--positions", "8", "--instruments", "25"]) == 0

    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"accounts=30 positions_per_account=8 tensor_ms=[\d.]+ "
                        r"numpy_loop_ms=[\d.]+ per_account_us=[\d.]+ device=(cpu|cuda)", last)


def test_a_loop_past_its_budget_is_scaled_from_the_accounts_it_did(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--accounts", "50", "--positions", "5", "--instruments", "10",
                 "--loop-budget-s", "0"]) == 0

    assert "timed 1 of 50 accounts" in capsys.readouterr().out


@pytest.mark.skipif(not HAS_CUDA, reason="torch sees no CUDA device on this machine")
def test_the_tensor_recompute_on_cuda_equals_the_loop() -> None:
    book = make_book(accounts=200, positions=30, instruments=120)

    result, var = recompute(on_device(book, torch.device("cuda"), per_account_marks=False))
    loop_figures, _ = loop(book, budget_s=600)

    assert result.equity.device.type == "cuda"
    assert disagreements(result, var, loop_figures) == []
