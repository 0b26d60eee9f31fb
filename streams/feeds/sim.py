"""A seeded synthetic market: trades, quotes and 10-level depth for a set of symbols.

Per symbol, a latent mid (in ticks, float) follows a random walk in event time with the
symbol's volatility; the quoted book is that mid quantised onto the tick grid, so prices are
exact decimals, always positive (the walk reflects off a floor well above zero). Trades arrive
as one Poisson process at `trades_per_s`, split unevenly across symbols; sizes are Pareto
(heavy-tailed); a buy lifts the ask, a sell hits the bid. After every `quote_every`-th trade of a
symbol a Quote follows, after every `depth_every`-th a DepthSnapshot, both at the trade's time.

Informed-flow episodes make the tape interesting for toxicity engines: for 30-120 s one symbol
trades mostly one way (85-95 %), in larger sizes, and its price drifts that way. They start at
random (`informed_probability` per simulated minute) or where a test forces one.

History (`history_s`, for a backfill before going live): the tape's first `history_s` seconds
trade at `trades_per_s / history_merge`, each trade standing for `history_merge` trades of the
live rate (its size is the sum of that many sizes, on one side), so each symbol trades the same
volume per second with 1/history_merge of the trades, quotes and snapshots; the walk, the
episodes and the book are the same processes. The rest of the tape starts exactly
`history_s` after the first: trade numbers, prices and episodes carry on across the change.

Determinism: everything is drawn from generators seeded by `seed` alone, in fixed-size chunks
of trades, so the same seed (and history) gives the same tape; `start_ns` only shifts it in time.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Literal

import numpy as np

from streams.exceptions import ConfigError
from streams.feeds import MarketEvent
from streams.schema import DEPTH_LEVELS, DepthSnapshot, Quote, Trade

log = logging.getLogger(__name__)

Side = Literal["buy", "sell"]
NS_PER_S = 1_000_000_000
MINUTE_NS = 60 * NS_PER_S
SESSION_S = 23_400.0  # a 6.5 h trading day: what `daily_vol` refers to
EPISODE_MOVE_SIGMAS = 4.0  # an episode moves the price this many of its own noise sigmas
MAX_TRADE_SIZE = 10_000_000
SIZE_PARETO_SHAPE = 1.6  # trade sizes: min_size * (1 + Lomax(shape))
DEFAULT_TRADES_PER_S = 2_000.0
MIN_START_TICKS = 100
VENUE = "SIM"
_SYMBOL_OK = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/^-")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """How one symbol trades: start price, tick, volatility, share of the flow, sizes."""

    price: Decimal
    tick: Decimal
    daily_vol: float  # standard deviation of a session's return, as a fraction
    weight: float  # relative share of the overall trade rate
    min_size: int  # Pareto scale of trade sizes
    depth_size: int  # typical resting size at one book level
    extra_spread_ticks: float  # mean spread beyond the one-tick minimum

    def __post_init__(self) -> None:
        what = f"symbol spec price={self.price} tick={self.tick}"
        _check(self.tick > 0 and self.price % self.tick == 0, f"{what}: price not on the tick")
        _check(self.start_ticks >= MIN_START_TICKS, f"{what}: under {MIN_START_TICKS} ticks")
        _check(self.daily_vol >= 0 and self.weight > 0, f"{what}: need daily_vol >= 0, weight > 0")
        _check(self.min_size >= 1 and self.depth_size >= 1, f"{what}: sizes must be >= 1")
        _check(self.extra_spread_ticks >= 0, f"{what}: extra_spread_ticks must be >= 0")

    @property
    def start_ticks(self) -> int:
        return int(self.price / self.tick)

    @property
    def floor_ticks(self) -> int:
        """The mid reflects off this level, which keeps ten levels of bids above zero."""
        return max(self.start_ticks // 5, 40)

    @property
    def sigma_ticks(self) -> float:
        """Random-walk volatility of the mid, in ticks per sqrt(second)."""
        return self.start_ticks * self.daily_vol / math.sqrt(SESSION_S)


KNOWN_SYMBOLS: dict[str, SymbolSpec] = {
    "ESZ6": SymbolSpec(Decimal("5000"), Decimal("0.25"), 0.010, 0.30, 1, 40, 0.05),
    "NQZ6": SymbolSpec(Decimal("17500"), Decimal("0.25"), 0.013, 0.20, 1, 12, 0.3),
    "AAPL": SymbolSpec(Decimal("190"), Decimal("0.01"), 0.015, 0.22, 10, 300, 0.4),
    "MSFT": SymbolSpec(Decimal("420"), Decimal("0.01"), 0.014, 0.16, 10, 200, 0.6),
    "EURUSD": SymbolSpec(Decimal("1.0850"), Decimal("0.00005"), 0.005, 0.12, 1000, 2_000_000, 1.0),
}


def symbol_spec(symbol: str) -> SymbolSpec:
    """The spec of a known symbol, or a stable one derived from the symbol's name."""
    if symbol in KNOWN_SYMBOLS:
        return KNOWN_SYMBOLS[symbol]
    crc = zlib.crc32(symbol.encode())
    price = Decimal(2_000 + crc % 48_000) / 100  # 20.00 .. 499.99
    weight = 0.05 + (crc >> 16) % 100 / 1_000  # 0.05 .. 0.149
    return SymbolSpec(price, Decimal("0.01"), 0.02, weight, 1, 200, 0.8)


def volume_per_s(symbols: Sequence[str], trades_per_s: float) -> dict[str, float]:
    """Each symbol's expected traded volume per second at this rate, outside episodes.

    Sizes are `min_size * (1 + Lomax(1.6))`, whose mean is `min_size * 1.6 / 0.6`. `up` hands
    it to the engines that size their parameters to a feed (VPIN's bucket volume).
    """
    specs = [symbol_spec(s) for s in symbols]
    total_weight = sum(s.weight for s in specs)
    return {
        symbol: trades_per_s * spec.weight / total_weight
        * spec.min_size * SIZE_PARETO_SHAPE / (SIZE_PARETO_SHAPE - 1)
        for symbol, spec in zip(symbols, specs, strict=True)
    }


@dataclass(frozen=True, slots=True)
class Episode:
    """A stretch of informed, one-sided flow on one symbol, in absolute event time."""

    symbol: str
    side: Side
    start_ns: int
    end_ns: int
    share: float  # fraction of the symbol's trades on `side` during the episode
    size_multiplier: float
    forced: bool = False

    @property
    def buy_share(self) -> float:
        return self.share if self.side == "buy" else 1.0 - self.share

    def overlaps(self, other: Episode) -> bool:
        """Same symbol and intersecting time spans."""
        return (
            self.symbol == other.symbol
            and self.start_ns < other.end_ns
            and other.start_ns < self.end_ns
        )


class SimMarket:
    """A deterministic synthetic market over `symbols`; iterate `events(start_ns)`.

    `informed_probability` is the chance that an informed episode starts in any one simulated
    minute; `quote_every` / `depth_every` emit a Quote / DepthSnapshot after every n-th trade of
    a symbol (0 turns them off). `specs` overrides how chosen symbols trade (else `symbol_spec`).
    The first `history_s` seconds are history, each trade merging `history_merge` live-rate
    trades (see the module docstring); `live_start_ns(start_ns)` is where it ends.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        seed: int = 7,
        trades_per_s: float = DEFAULT_TRADES_PER_S,
        quote_every: int = 1,
        depth_every: int = 10,
        informed_probability: float = 0.1,
        chunk_trades: int = 4_096,
        specs: Mapping[str, SymbolSpec] | None = None,
        history_s: float = 0.0,
        history_merge: int = 1,
    ) -> None:
        _check_symbols(symbols)
        _check(isinstance(seed, int) and seed >= 0, f"seed must be a non-negative int: {seed!r}")
        _check(
            math.isfinite(trades_per_s) and trades_per_s > 0,
            f"trades_per_s must be positive, got {trades_per_s!r}",
        )
        for name, every in (("quote_every", quote_every), ("depth_every", depth_every)):
            _check(isinstance(every, int) and every >= 0, f"{name} must be an int >= 0: {every!r}")
        _check(
            0.0 <= informed_probability <= 1.0,
            f"informed_probability must be in [0, 1], got {informed_probability!r}",
        )
        _check(chunk_trades >= 1, f"chunk_trades must be >= 1, got {chunk_trades!r}")
        _check(math.isfinite(history_s) and history_s >= 0,
               f"history_s must be >= 0, got {history_s!r}")
        _check(isinstance(history_merge, int) and history_merge >= 1,
               f"history_merge must be an int >= 1, got {history_merge!r}")
        self.symbols = list(symbols)
        self.seed = seed
        self.trades_per_s = float(trades_per_s)
        self.quote_every = quote_every
        self.depth_every = depth_every
        self.informed_probability = float(informed_probability)
        self.chunk_trades = chunk_trades
        self.history_ns = round(history_s * NS_PER_S)
        self.history_merge = history_merge
        self.specs = [(specs or {}).get(s) or symbol_spec(s) for s in self.symbols]
        self._forced: list[Episode] = []  # times relative to the tape's start

    def force_episode(
        self,
        symbol: str,
        start_offset_s: float,
        duration_s: float,
        side: Side,
        share: float = 0.9,
        size_multiplier: float = 3.0,
    ) -> None:
        """Add an informed episode `start_offset_s` after the tape's start (call before events).

        Random episodes never overlap a forced one on the same symbol, so a test that also sets
        `informed_probability=0` knows exactly where the informed flow is.
        """
        _check(symbol in self.symbols, f"force_episode: {symbol!r} is not a simulated symbol")
        _check(side in ("buy", "sell"), f"force_episode: side must be buy or sell, got {side!r}")
        _check(
            start_offset_s >= 0 and duration_s > 0,
            "force_episode: start_offset_s must be >= 0 and duration_s > 0",
        )
        _check(0.5 < share <= 1.0, f"force_episode: share must be in (0.5, 1], got {share!r}")
        _check(size_multiplier >= 1.0, "force_episode: size_multiplier must be >= 1")
        start = round(start_offset_s * NS_PER_S)
        new = Episode(
            symbol, side, start, start + round(duration_s * NS_PER_S), share, size_multiplier,
            forced=True,
        )
        _check(
            not any(new.overlaps(old) for old in self._forced),
            f"force_episode: overlaps another forced episode on {symbol}",
        )
        self._forced.append(new)

    def episodes(self, start_ns: int, end_ns: int) -> list[Episode]:
        """Every episode of the tape `events(start_ns)` that overlaps [start_ns, end_ns)."""
        schedule = _EpisodeSchedule(self, start_ns)
        found = schedule.extend_to(end_ns)
        return sorted(
            (e for e in schedule.forced + found if e.start_ns < end_ns and e.end_ns > start_ns),
            key=lambda e: (e.start_ns, e.symbol),
        )

    def live_start_ns(self, start_ns: int) -> int:
        """Where the history of the tape `events(start_ns)` ends and the live rate begins."""
        return start_ns + self.history_ns

    def events(self, start_ns: int) -> Iterator[MarketEvent]:
        """The infinite tape from `start_ns`: time-ordered, identical for the same seed."""
        _check(isinstance(start_ns, int) and start_ns >= 0, "start_ns must be an int >= 0")
        return self._generate(start_ns)

    def _generate(self, start_ns: int) -> Iterator[MarketEvent]:
        rng = np.random.default_rng([self.seed, 0])
        state = _WalkState.initial(self.specs, start_ns)
        schedule = _EpisodeSchedule(self, start_ns)
        emitter = _Emitter(self)
        history = _Phase(self.trades_per_s / self.history_merge, self.history_merge,
                         self.live_start_ns(start_ns))
        for phase in (history, _Phase(self.trades_per_s, 1, None)):
            while phase.end_ns is None or state.now_ns < phase.end_ns:
                chunk = _next_chunk(self, rng, state, schedule, phase)
                if chunk is not None:
                    yield from emitter.emit(chunk)


def _check_symbols(symbols: Sequence[str]) -> None:
    _check(
        not isinstance(symbols, str) and len(symbols) > 0, "symbols must be a non-empty list"
    )
    _check(len(set(symbols)) == len(symbols), f"symbols repeat: {list(symbols)}")
    for s in symbols:
        _check(
            isinstance(s, str) and 0 < len(s) <= 64 and set(s) <= _SYMBOL_OK,
            f"invalid symbol {s!r}: letters, digits and ._:/^- only",
        )


# ---- episodes ----------------------------------------------------------------------------


class _EpisodeSchedule:
    """Forced episodes plus random ones drawn minute by minute from their own seeded stream.

    Minute m of the tape has its own generator (seed, 1, m), so the schedule does not depend
    on how the trade stream is chunked.
    """

    def __init__(self, market: SimMarket, start_ns: int) -> None:
        self._market = market
        self._start_ns = start_ns
        self.forced = [
            replace(e, start_ns=start_ns + e.start_ns, end_ns=start_ns + e.end_ns)
            for e in market._forced
        ]
        self._recent: list[Episode] = []  # random episodes that may still be running
        self._minutes = 0

    def extend_to(self, until_ns: int) -> list[Episode]:
        """Draw the random episodes of every minute starting at or before `until_ns`."""
        new: list[Episode] = []
        while self._start_ns + self._minutes * MINUTE_NS <= until_ns:
            minute_start = self._start_ns + self._minutes * MINUTE_NS
            episode = self._draw(self._minutes, minute_start)
            if episode is not None and not self._clashes(episode):
                self._recent.append(episode)
                new.append(episode)
                log.debug("sim episode symbol=%s side=%s start_ns=%d end_ns=%d",
                          episode.symbol, episode.side, episode.start_ns, episode.end_ns)
            self._minutes += 1
        return new

    def active(self, lo_ns: int, hi_ns: int) -> list[Episode]:
        """Episodes overlapping [lo_ns, hi_ns]; `lo_ns` never decreases between calls."""
        self.extend_to(hi_ns)
        self._recent = [e for e in self._recent if e.end_ns > lo_ns]
        return [e for e in self.forced + self._recent if e.start_ns <= hi_ns and e.end_ns > lo_ns]

    def _draw(self, minute: int, minute_start: int) -> Episode | None:
        m = self._market
        u = np.random.default_rng([m.seed, 1, minute]).random(7)
        if m.informed_probability == 0.0 or u[0] >= m.informed_probability:
            return None
        start = minute_start + int(u[1] * MINUTE_NS)
        duration = int((30.0 + 90.0 * u[2]) * NS_PER_S)
        symbol = m.symbols[int(u[3] * len(m.symbols))]
        side: Side = "buy" if u[4] < 0.5 else "sell"
        return Episode(symbol, side, start, start + duration, 0.85 + 0.10 * u[5], 2.0 + 2.0 * u[6])

    def _clashes(self, new: Episode) -> bool:
        return any(new.overlaps(e) for e in self.forced + self._recent)


# ---- chunks of trades, vectorised ---------------------------------------------------------


@dataclass(slots=True)
class _WalkState:
    """What carries from one chunk to the next: time, latent mids, trade counts."""

    now_ns: int
    center: np.ndarray  # latent mid per symbol, in ticks
    last_ns: np.ndarray  # time of the symbol's last trade
    count: np.ndarray  # trades so far per symbol

    @classmethod
    def initial(cls, specs: list[SymbolSpec], start_ns: int) -> _WalkState:
        n = len(specs)
        center = np.array([s.start_ticks for s in specs], dtype=np.float64)
        return cls(start_ns, center, np.full(n, start_ns, np.int64), np.zeros(n, np.int64))


@dataclass(slots=True)
class _Chunk:
    """One chunk of trades and the book right after each, as parallel arrays."""

    ts: np.ndarray
    sym: np.ndarray
    side: np.ndarray  # 1 buy, -1 sell
    size: np.ndarray
    bid: np.ndarray  # best bid, ticks
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    count: np.ndarray  # the trade's 1-based number within its symbol
    quote: np.ndarray  # bool: a Quote follows this trade
    depth_rows: np.ndarray  # indices of trades followed by a DepthSnapshot
    depth: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Phase:
    """A stretch of the tape: its trade rate, how many live-rate trades each trade merges,
    and where it ends (None: never)."""

    trades_per_s: float
    merge: int
    end_ns: int | None


def _next_chunk(
    market: SimMarket, rng: np.random.Generator, state: _WalkState, schedule: _EpisodeSchedule,
    phase: _Phase,
) -> _Chunk | None:
    """Draw the next `chunk_trades` trades of `phase` (fewer where it ends; None when none
    is left before its end, which `state.now_ns` then reaches): arrivals, symbols, walk,
    book, sides, sizes."""
    k, specs = market.chunk_trades, market.specs
    weights = np.array([s.weight for s in specs])
    gaps = np.floor(rng.exponential(NS_PER_S / phase.trades_per_s, k)).astype(np.int64)
    ts = state.now_ns + np.cumsum(gaps)
    if phase.end_ns is not None and ts[-1] >= phase.end_ns:
        k = int(np.searchsorted(ts, phase.end_ns))
        ts, state.now_ns = ts[:k], phase.end_ns
        if k == 0:
            return None
    sym = rng.choice(len(specs), size=k, p=weights / weights.sum())
    z = rng.standard_normal(k)
    buy_share, size_mult, drift = _episode_fields(market, schedule, ts, sym)
    center, count = _walk(market, state, ts, sym, z, drift)
    state.now_ns = max(state.now_ns, int(ts[-1]))

    floor = np.array([s.floor_ticks for s in specs], dtype=np.float64)[sym]
    center = floor + np.abs(center - floor)  # reflect: prices stay well above zero
    extra = np.array([s.extra_spread_ticks for s in specs])[sym]
    spread = np.minimum(1 + rng.poisson(extra), 10).astype(np.int64)
    bid = np.floor(center - spread / 2 + 0.5).astype(np.int64)
    side = np.where(rng.random(k) < buy_share, 1, -1).astype(np.int8)
    min_size = np.array([s.min_size for s in specs], dtype=np.float64)[sym]
    draws = 1.0 + rng.pareto(SIZE_PARETO_SHAPE, (k, phase.merge))
    sizes = np.floor(min_size[:, None] * draws * size_mult[:, None])
    size = np.clip(sizes, 1, MAX_TRADE_SIZE).sum(axis=1)  # each of the merged trades' sizes
    depth_size = np.log(np.array([s.depth_size for s in specs], dtype=np.float64))[sym]
    tops = np.maximum(1, np.rint(rng.lognormal(depth_size[:, None], 0.5, (k, 2))))
    depth_rows = _every(count, market.depth_every).nonzero()[0]
    chunk = _Chunk(
        ts=ts, sym=sym, side=side, size=size.astype(np.int64),
        bid=bid, ask=bid + spread, bid_size=tops[:, 0].astype(np.int64),
        ask_size=tops[:, 1].astype(np.int64), count=count,
        quote=_every(count, market.quote_every), depth_rows=depth_rows,
    )
    chunk.depth = _depth_levels(rng, chunk, depth_size)
    return chunk


def _every(count: np.ndarray, every: int) -> np.ndarray:
    if every == 0:
        return np.zeros(count.shape, dtype=bool)
    return count % every == 0


def _episode_fields(
    market: SimMarket, schedule: _EpisodeSchedule, ts: np.ndarray, sym: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per trade: probability of a buy, size multiplier, mid drift (ticks per second)."""
    k = ts.size
    buy_share, size_mult, drift = np.full(k, 0.5), np.ones(k), np.zeros(k)
    for ep in schedule.active(int(ts[0]), int(ts[-1])):
        i = market.symbols.index(ep.symbol)
        mask = (sym == i) & (ts >= ep.start_ns) & (ts < ep.end_ns)
        duration_s = (ep.end_ns - ep.start_ns) / NS_PER_S
        sign = 1.0 if ep.side == "buy" else -1.0
        buy_share[mask] = ep.buy_share
        size_mult[mask] = ep.size_multiplier
        move_ticks = EPISODE_MOVE_SIGMAS * market.specs[i].sigma_ticks * math.sqrt(duration_s)
        drift[mask] = sign * move_ticks / duration_s
    return buy_share, size_mult, drift


def _walk(
    market: SimMarket,
    state: _WalkState,
    ts: np.ndarray,
    sym: np.ndarray,
    z: np.ndarray,
    drift: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Advance each symbol's latent mid to each of its trades; also number its trades."""
    center = np.empty(ts.size)
    count = np.empty(ts.size, np.int64)
    for i, spec in enumerate(market.specs):
        idx = np.flatnonzero(sym == i)
        if idx.size == 0:
            continue
        dt_s = np.diff(ts[idx], prepend=state.last_ns[i]) / NS_PER_S
        steps = spec.sigma_ticks * np.sqrt(dt_s) * z[idx] + drift[idx] * dt_s
        center[idx] = state.center[i] + np.cumsum(steps)
        count[idx] = state.count[i] + np.arange(1, idx.size + 1)
        last = idx[-1]
        state.center[i], state.last_ns[i], state.count[i] = center[last], ts[last], count[last]
    return center, count


def _depth_levels(
    rng: np.random.Generator, chunk: _Chunk, log_size: np.ndarray
) -> dict[str, np.ndarray]:
    """Ten levels a side for the snapshot rows: mostly one tick apart, sizes grow with depth."""
    rows = chunk.depth_rows
    m, levels = rows.size, DEPTH_LEVELS
    gaps = 1 + rng.binomial(2, 0.1, (m, 2, levels - 1))
    steps = np.concatenate([np.zeros((m, 2, 1), np.int64), np.cumsum(gaps, axis=2)], axis=2)
    shape = 1.0 + 0.25 * np.arange(levels)
    sizes = np.rint(rng.lognormal(log_size[rows][:, None, None], 0.6, (m, 2, levels)) * shape)
    sizes = np.maximum(sizes, 1).astype(np.int64)
    sizes[:, 0, 0], sizes[:, 1, 0] = chunk.bid_size[rows], chunk.ask_size[rows]
    return {
        "bid_ticks": chunk.bid[rows][:, None] - steps[:, 0, :],
        "ask_ticks": chunk.ask[rows][:, None] + steps[:, 1, :],
        "bid_sizes": sizes[:, 0, :],
        "ask_sizes": sizes[:, 1, :],
    }


# ---- chunks -> wire models ----------------------------------------------------------------


class _Emitter:
    """Turns chunks into Trade / Quote / DepthSnapshot models with exact decimal prices."""

    _CACHE_LIMIT = 200_000

    def __init__(self, market: SimMarket) -> None:
        self._symbols = market.symbols
        self._ticks = []
        for spec in market.specs:
            _, digits, exponent = spec.tick.as_tuple()
            self._ticks.append((int("".join(map(str, digits))), int(exponent)))
        self._cache: list[dict[int, Decimal]] = [{} for _ in market.symbols]

    def _price(self, sym: int, ticks: int) -> Decimal:
        cache = self._cache[sym]
        price = cache.get(ticks)
        if price is None:
            if len(cache) > self._CACHE_LIMIT:
                cache.clear()
            units, exponent = self._ticks[sym]
            price = cache[ticks] = Decimal(ticks * units).scaleb(exponent)
        return price

    def emit(self, chunk: _Chunk) -> Iterator[MarketEvent]:
        cols = zip(
            chunk.ts.tolist(), chunk.sym.tolist(), chunk.side.tolist(), chunk.size.tolist(),
            chunk.bid.tolist(), chunk.ask.tolist(), chunk.bid_size.tolist(),
            chunk.ask_size.tolist(), chunk.count.tolist(), chunk.quote.tolist(), strict=True,
        )
        depth_at = {int(r): j for j, r in enumerate(chunk.depth_rows)}
        for row, (ts, s, side, size, bid, ask, bsz, asz, n, quote) in enumerate(cols):
            symbol, price = self._symbols[s], self._price
            yield Trade(
                ts_event=ts, ts_init=ts, symbol=symbol,
                price=price(s, ask if side > 0 else bid), size=size,
                aggressor="buy" if side > 0 else "sell", trade_id=str(n), venue=VENUE,
            )
            if quote:
                yield Quote(
                    ts_event=ts, ts_init=ts, symbol=symbol, bid_price=price(s, bid),
                    bid_size=bsz, ask_price=price(s, ask), ask_size=asz, venue=VENUE,
                )
            if row in depth_at:
                yield self._snapshot(chunk, depth_at[row], ts, s)

    def _snapshot(self, chunk: _Chunk, j: int, ts: int, s: int) -> DepthSnapshot:
        d = chunk.depth
        return DepthSnapshot(
            ts_event=ts, ts_init=ts, symbol=self._symbols[s],
            bid_prices=[self._price(s, t) for t in d["bid_ticks"][j].tolist()],
            bid_sizes=d["bid_sizes"][j].tolist(),
            ask_prices=[self._price(s, t) for t in d["ask_ticks"][j].tolist()],
            ask_sizes=d["ask_sizes"][j].tolist(),
            venue=VENUE,
        )
