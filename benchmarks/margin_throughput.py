"""Throughput of the margin recompute, against a per-account numpy loop measured in the same
run on the same book.

The book (seeded): --accounts accounts x --positions positions each over --instruments
instruments; quantities from -1,000 to 1,000 (no zeros), prices from 0.50 to 500 USD
(about a fifth under 5 USD, so both short rules of Reg T run), a tenth of the instruments
futures with multipliers and scan ranges of their own, half the accounts under each method,
cash around each account's maintenance; the EWMA covariance (lambda 0.94) of 250 bars of
factor-model returns, --instruments x --instruments. Then one batch of new marks (every
instrument moves by one bar's return) and a full recompute of every account: Reg T, the
portfolio scan, equity and excess, sigma_usd = sqrt(v' S v) with v the dollar positions,
parametric VaR 99% of one bar (2.326 sigma_usd), the call probability and time to call.

  1. tensor: processors/margin/figures.py, all accounts at once, on the CPU, accounts as rows
     of a dense [accounts, instruments] matrix; marks per instrument (one batch of marks for
     everyone) and, as the engine holds them, per account and instrument; the median of
     three runs after a warm-up, and each part alone;
  2. numpy loop: processors/margin/reference.py, one account at a time over its own
     positions (its block of the covariance gathered); all accounts when they take at most
     --loop-budget-s, else the accounts done by then, scaled to all (it says so);
  3. cuda, when torch sees a GPU: the tensor code there (book already on the device).

The figures of every account the loop computed must equal the tensor code's (and the GPU's
the CPU's) to 1e-9; a disagreement exits 1. The last line is the key=value summary, with the
tensor time of `device` (cuda when there is one, else cpu).
Usage: python -m benchmarks.margin_throughput [--accounts N --positions P --instruments M]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from processors.margin.figures import Figures, figures
from processors.margin.methods import dollar_sigma, portfolio_scan, reg_t
from processors.margin.reference import AccountFigures, Accounts, each_account

H, BAR_S, LAMBDA, BARS = 60, 60.0, 0.94, 250
Z_99 = 2.3263478740408408  # Phi^-1(0.99)
TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class Book:
    """The accounts (as the loop reads them), their dense rows, and the new marks."""

    accounts: Accounts
    quantity: np.ndarray  # [A, N], float
    new_mark: np.ndarray  # [N]


def make_book(accounts: int, positions: int, instruments: int, seed: int = 1) -> Book:
    rng = np.random.default_rng(seed)
    price = np.round(np.exp(rng.uniform(np.log(0.5), np.log(500), instruments)), 2)
    future = rng.random(instruments) < 0.1
    multiplier = np.where(future, rng.choice([5.0, 20.0, 50.0], instruments), 1.0)
    scan_range = np.where(future, rng.uniform(0.03, 0.12, instruments), 0.15)
    loadings = rng.normal(0, 1, (instruments, 5)) * 0.004
    returns = rng.normal(0, 1, (BARS, 5)) @ loadings.T + rng.normal(0, 0.006, (BARS, instruments))
    weights = (1 - LAMBDA) * LAMBDA ** np.arange(BARS - 1, -1, -1)  # newest weighs most
    covariance = (returns * weights[:, None]).T @ returns
    columns = np.sort(rng.random((accounts, instruments)).argpartition(positions, axis=1)
                      [:, :positions], axis=1)
    sizes = rng.integers(1, 1_001, (accounts, positions)) * rng.choice([-1, 1],
                                                                       (accounts, positions))
    quantity = np.zeros((accounts, instruments))
    np.put_along_axis(quantity, columns, sizes, axis=1)
    value = quantity * price * multiplier
    cash = -value.sum(1) + 0.3 * np.abs(value).sum(1) * rng.uniform(0.5, 1.5, accounts)
    book = Accounts(columns=list(columns), quantities=list(sizes.astype(float)), cash=cash,
                    methods=rng.choice(["reg_t", "portfolio"], accounts).tolist(),
                    mark=np.round(price * (1 + returns[-1]), 2).clip(min=0.01),
                    multiplier=multiplier, scan_range=scan_range, covariance=covariance)
    return Book(book, quantity, book.mark)


@dataclass(frozen=True, slots=True)
class OnDevice:
    quantity: torch.Tensor
    mark: torch.Tensor
    multiplier: torch.Tensor
    scan_range: torch.Tensor
    covariance: torch.Tensor
    cash: torch.Tensor
    portfolio: torch.Tensor


def on_device(book: Book, device: torch.device, *, per_account_marks: bool) -> OnDevice:
    a = book.accounts
    mark = np.broadcast_to(book.new_mark, book.quantity.shape) if per_account_marks \
        else book.new_mark

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(x, dtype=np.float64)).to(device)

    return OnDevice(t(book.quantity), t(mark), t(a.multiplier), t(a.scan_range),
                    t(a.covariance), t(a.cash),
                    torch.tensor([m == "portfolio" for m in a.methods], device=device))


def recompute(d: OnDevice) -> tuple[Figures, torch.Tensor]:
    """Every account's figures and one-bar parametric VaR 99%."""
    result = figures(d.quantity, d.mark, d.multiplier, d.scan_range, d.covariance, d.cash,
                     d.portfolio, horizon_bars=H, bar_seconds=BAR_S)
    return result, Z_99 * result.sigma_usd


def timed_ms(run: Callable[[], object], device: torch.device, repeats: int = 3) -> list[float]:
    """Wall times of `repeats` runs after a warm-up (the device synchronized)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    run()
    sync()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        sync()
        times.append((time.perf_counter() - started) * 1e3)
    return times


def loop(book: Book, budget_s: float) -> tuple[list[AccountFigures], float]:
    """The per-account loop until every account is done or `budget_s` passes: the figures
    (VaR is Z_99 * sigma_usd, as in the tensor path) and the elapsed ms."""
    done: list[AccountFigures] = []
    started = time.perf_counter()
    for account in each_account(book.accounts, range(len(book.accounts.cash)),
                                horizon_bars=H, bar_seconds=BAR_S):
        done.append(account)
        if time.perf_counter() - started > budget_s:
            break
    return done, (time.perf_counter() - started) * 1e3


def disagreements(result: Figures, var: torch.Tensor, loop_figures: list[AccountFigures]
                  ) -> list[str]:
    """Accounts whose tensor figures differ from the loop's beyond TOLERANCE."""
    names = ("equity", "initial", "maintenance", "excess", "sigma_usd", "call_probability",
             "time_to_call_s")
    columns = {n: getattr(result, n)[: len(loop_figures)].cpu().tolist() for n in names}
    columns["var"] = var[: len(loop_figures)].cpu().tolist()
    bad = []
    for a, want in enumerate(loop_figures):
        expected = {n: getattr(want, n) for n in names} | {"var": Z_99 * want.sigma_usd}
        scale = max(1.0, abs(want.equity), abs(want.maintenance), abs(want.initial))
        for n, value in expected.items():
            got = columns[n][a]
            same = (got == value) if math.isinf(value) else math.isclose(
                got, value, rel_tol=TOLERANCE,
                abs_tol=TOLERANCE * (1.0 if n == "call_probability" else scale))
            if not same:
                bad.append(f"account {a} {n}: tensor {got!r}, loop {value!r}")
    return bad


def parts_ms(d: OnDevice) -> dict[str, float]:
    """Each part alone (one run after a warm-up), to see what bounds the recompute."""
    value = d.quantity * d.mark * d.multiplier
    return {
        "reg_t": timed_ms(lambda: reg_t(d.quantity, d.mark, d.multiplier), d.quantity.device,
                          1)[0],
        "portfolio scan": timed_ms(lambda: portfolio_scan(d.quantity, d.mark, d.multiplier,
                                                          d.scan_range), d.quantity.device, 1)[0],
        "v' S v (covariance product)": timed_ms(lambda: dollar_sigma(value, d.covariance),
                                                d.quantity.device, 1)[0],
    }


def cpu_runs(book: Book, accounts: int) -> tuple[float, Figures, torch.Tensor]:
    """The tensor recompute on the CPU: its median ms and its figures."""
    cpu = torch.device("cpu")
    shared = on_device(book, cpu, per_account_marks=False)
    runs = timed_ms(lambda: recompute(shared), cpu)
    median = statistics.median(runs)
    print(f"tensor, cpu, marks per instrument: {median:,.1f} ms "
          f"(runs {' / '.join(f'{t:,.1f}' for t in runs)} ms), "
          f"{median * 1e3 / accounts:,.1f} us per account")
    for part, ms in parts_ms(shared).items():
        print(f"  {part}: {ms:,.1f} ms")
    result, var = recompute(shared)
    print(f"tensor, cpu, marks per account and instrument (as the engine holds them): "
          f"{per_account_marks_ms(book):,.1f} ms")
    return median, result, var


def per_account_marks_ms(book: Book) -> float:
    held = on_device(book, torch.device("cpu"), per_account_marks=True)
    return statistics.median(timed_ms(lambda: recompute(held), torch.device("cpu")))


def loop_run(book: Book, accounts: int, budget_s: float) -> tuple[float, list[AccountFigures]]:
    """The per-account loop: its ms for all accounts (scaled from those done within
    `budget_s`) and their figures."""
    loop_figures, elapsed_ms = loop(book, budget_s)
    done = len(loop_figures)
    loop_ms = elapsed_ms * accounts / done
    scaled = "" if done == accounts else (
        f" (timed {done:,} of {accounts:,} accounts in {elapsed_ms / 1e3:,.1f} s, "
        "scaled to all)")
    print(f"numpy loop, one account at a time: {loop_ms:,.1f} ms{scaled}, "
          f"{loop_ms * 1e3 / accounts:,.1f} us per account")
    return loop_ms, loop_figures


def cuda_run(book: Book, loop_figures: list[AccountFigures]) -> tuple[float, list[str]]:
    """The tensor recompute on the GPU: its median ms and its disagreements with the loop."""
    gpu = torch.device("cuda")
    on_gpu = on_device(book, gpu, per_account_marks=False)
    runs = timed_ms(lambda: recompute(on_gpu), gpu)
    print(f"tensor, {torch.cuda.get_device_name(gpu)}: {statistics.median(runs):,.2f} ms "
          f"(runs {' / '.join(f'{t:,.2f}' for t in runs)} ms)")
    result, var = recompute(on_gpu)
    return statistics.median(runs), [f"cuda: {line}" for line in
                                     disagreements(result, var, loop_figures)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--positions", type=int, default=500, help="per account")
    parser.add_argument("--instruments", type=int, default=2_000)
    parser.add_argument("--loop-budget-s", type=float, default=60.0,
                        help="longest the numpy loop runs before it is scaled from a sample")
    args = parser.parse_args(argv)
    if not 0 < args.positions <= args.instruments:
        parser.error("--positions must be between 1 and --instruments")

    started = time.perf_counter()
    book = make_book(args.accounts, args.positions, args.instruments)
    shorts_under_5 = int(((book.quantity < 0) & (book.new_mark < 5)).sum())
    print(f"book: {args.accounts:,} accounts x {args.positions:,} positions over "
          f"{args.instruments:,} instruments ({shorts_under_5:,} shorts under 5 USD), "
          f"built in {time.perf_counter() - started:.1f} s")
    tensor_ms, result, var = cpu_runs(book, args.accounts)
    loop_ms, loop_figures = loop_run(book, args.accounts, args.loop_budget_s)
    bad, device = disagreements(result, var, loop_figures), "cpu"
    if torch.cuda.is_available():
        tensor_ms, gpu_bad = cuda_run(book, loop_figures)
        bad, device = bad + gpu_bad, "cuda"
    if bad:
        print(f"tensor and loop disagree on {len(bad)} figures; first: {bad[0]}",
              file=sys.stderr)
        return 1
    print(f"tensor and loop agree on all {len(loop_figures):,} accounts the loop computed "
          f"(to {TOLERANCE})")
    print(f"accounts={args.accounts} positions_per_account={args.positions} "
          f"tensor_ms={tensor_ms:.1f} numpy_loop_ms={loop_ms:.1f} "
          f"per_account_us={tensor_ms * 1e3 / args.accounts:.2f} device={device}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
