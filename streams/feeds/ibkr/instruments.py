"""What to subscribe to at Interactive Brokers: stocks, futures and FX pairs.

Instruments come from flags (`--symbols AAPL,MSFT`, `--stock SAP:SMART:EUR:IBIS`,
`--future ES:202703:CME`, `--fx EURUSD`) or from a small file, YAML or CSV, with one
instrument per entry or row:

    # instruments.yaml (a list, or the same list under `instruments:`)
    - {type: stock, symbol: AAPL}                          # SMART-routed, USD
    - {type: stock, symbol: SAP, exchange: IBIS, currency: EUR}
    - {type: future, symbol: ES, expiry: "202703", exchange: CME}
    - {type: fx, symbol: EURUSD}                           # IDEALPRO

    # instruments.csv (only type and symbol are required; blank cells take the defaults)
    type,symbol,exchange,currency,expiry,local_symbol,primary_exchange,trading_class,multiplier,name

Each instrument's key on the market topics is `name` when given, else derived from the
qualified contract: the stock symbol (`BRK B` -> `BRK.B`), the future's local symbol (`ESH7`),
the FX pair (`EURUSD`). This module knows nothing of ib_async; `client.to_contract` does.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from streams.exceptions import ConfigError
from streams.schema.base import SYMBOL_PATTERN

InstrumentKind = Literal["stock", "future", "fx"]
KINDS: tuple[InstrumentKind, ...] = ("stock", "future", "fx")
FILE_FIELDS = ("type", "symbol", "exchange", "currency", "expiry", "local_symbol",
               "primary_exchange", "trading_class", "multiplier", "name")
_SYMBOL = re.compile(SYMBOL_PATTERN)
_IB_CODE = re.compile(r"^[A-Za-z0-9. &/-]{1,32}$")
_EXPIRY = re.compile(r"^\d{6}(\d{2})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MULTIPLIER = re.compile(r"^\d+(\.\d+)?$")


@dataclass(frozen=True, slots=True)
class Instrument:
    """One contract to subscribe to, as IB identifies it before qualification."""

    kind: InstrumentKind
    symbol: str  # IB symbol: AAPL, ES; for FX the base currency (EUR)
    exchange: str = ""  # SMART, CME, IDEALPRO, ...
    currency: str = ""  # USD; for FX the quote currency
    expiry: str = ""  # futures: contract month YYYYMM or last trading day YYYYMMDD
    local_symbol: str = ""  # futures: the exchange's code (ESH7), instead of or with expiry
    primary_exchange: str = ""  # stocks: disambiguates a SMART-routed listing (NASDAQ)
    trading_class: str = ""  # futures: tells weekly contracts from the monthly one
    multiplier: str = ""  # futures: contract size, another way to tell them apart (50)
    name: str | None = None  # the key on our topics; None: derived after qualification

    def __post_init__(self) -> None:
        what = f"instrument {self.kind} {self.symbol!r}"
        if self.kind not in KINDS:
            raise ConfigError(f"{what}: type must be one of {', '.join(KINDS)}")
        for label, value in (("symbol", self.symbol), ("exchange", self.exchange),
                             ("local_symbol", self.local_symbol),
                             ("primary_exchange", self.primary_exchange),
                             ("trading_class", self.trading_class)):
            if value and not _IB_CODE.match(value):
                raise ConfigError(f"{what}: invalid {label} {value!r}")
        if not self.symbol:
            raise ConfigError(f"{what}: symbol is required")
        if self.currency and not _CURRENCY.match(self.currency):
            raise ConfigError(f"{what}: currency must be a 3-letter code, got {self.currency!r}")
        if self.expiry and not _EXPIRY.match(self.expiry):
            raise ConfigError(f"{what}: expiry must be YYYYMM or YYYYMMDD, got {self.expiry!r}")
        if self.multiplier and not _MULTIPLIER.match(self.multiplier):
            raise ConfigError(f"{what}: multiplier must be a number, got {self.multiplier!r}")
        if self.kind == "future" and not (self.expiry or self.local_symbol):
            raise ConfigError(f"{what}: a future needs an expiry (YYYYMM) or a local_symbol")
        if self.kind == "future" and not self.exchange:
            raise ConfigError(f"{what}: a future needs its exchange (CME, EUREX, ...)")
        if self.kind == "fx" and not (_CURRENCY.match(self.symbol) and self.currency):
            raise ConfigError(f"{what}: an FX pair is base and quote currency, e.g. EURUSD")
        if self.name is not None and not _SYMBOL.match(self.name):
            raise ConfigError(f"{what}: name {self.name!r} may use letters, digits, ._:/^- only")

    @property
    def label(self) -> str:
        """How messages name it before it is qualified."""
        if self.name:
            return self.name
        if self.kind == "fx":
            return self.symbol + self.currency
        if self.kind == "future":
            return self.local_symbol or f"{self.symbol} {self.expiry}"
        return self.symbol


def stock(text: str) -> Instrument:
    """`AAPL`, `AAPL:SMART`, `SAP:IBIS:EUR`, `SAP:SMART:EUR:IBIS`
    (symbol[:exchange[:currency[:primary exchange]]])."""
    parts = _split(text, 1, 4, "SYMBOL[:EXCHANGE[:CURRENCY[:PRIMARY_EXCHANGE]]]")
    symbol, exchange, currency, primary = (parts + ["", "", ""])[:4]
    return Instrument("stock", symbol.upper(), (exchange or "SMART").upper(),
                      (currency or "USD").upper(), primary_exchange=primary.upper())


def future(text: str) -> Instrument:
    """`ES:202703:CME`, `ES:202703:CME:USD`, `ES:202703:CME:USD:ES:50`
    (symbol:expiry:exchange[:currency[:trading class[:multiplier]]])."""
    parts = _split(text, 3, 6,
                   "SYMBOL:YYYYMM[DD]:EXCHANGE[:CURRENCY[:TRADING_CLASS[:MULTIPLIER]]]")
    symbol, expiry, exchange, currency, trading_class, multiplier = (parts + [""] * 3)[:6]
    return Instrument("future", symbol.upper(), exchange.upper(), currency.upper(),
                      expiry=expiry, trading_class=trading_class.upper(), multiplier=multiplier)


def fx(text: str) -> Instrument:
    """`EURUSD` or `EUR.USD`, traded on IDEALPRO."""
    pair = text.strip().upper().replace(".", "").replace("/", "")
    if not re.fullmatch(r"[A-Z]{6}", pair):
        raise ConfigError(f"FX pair must be six letters like EURUSD, got {text!r}")
    return Instrument("fx", pair[:3], "IDEALPRO", pair[3:])


def _split(text: str, least: int, most: int, form: str) -> list[str]:
    parts = [p.strip() for p in text.strip().split(":")]
    if not least <= len(parts) <= most or not all(parts[:least]):
        raise ConfigError(f"instrument {text!r}: expected {form}")
    return parts


def load_instruments(path: Path | str) -> list[Instrument]:
    """Instruments from a .yaml / .yml / .csv file (format in the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such instruments file")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        rows = _yaml_rows(path)
    elif suffix == ".csv":
        rows = _csv_rows(path)
    else:
        raise ConfigError(f"{path}: instruments file must be .yaml, .yml or .csv")
    instruments = [_from_row(path, where, row) for where, row in rows]
    if not instruments:
        raise ConfigError(f"{path}: no instruments in the file")
    return instruments


def _yaml_rows(path: Path) -> list[tuple[str, Mapping[str, object]]]:
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if isinstance(doc, dict) and set(doc) == {"instruments"}:
        doc = doc["instruments"]
    if not isinstance(doc, list) or not all(isinstance(item, dict) for item in doc):
        raise ConfigError(f"{path}: expected a list of instruments (mappings with type, symbol)")
    return [(f"entry {i + 1}", item) for i, item in enumerate(doc)]


def _csv_rows(path: Path) -> list[tuple[str, Mapping[str, object]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = [h.strip().lower() for h in reader.fieldnames or []]
        if "type" not in header or "symbol" not in header:
            raise ConfigError(f"{path}: CSV header needs at least type,symbol")
        reader.fieldnames = header
        return [(f"line {reader.line_num}", row) for row in reader]


def _from_row(path: Path, where: str, row: Mapping[str, object]) -> Instrument:
    cells = {str(k).strip().lower(): "" if v is None else str(v).strip()
             for k, v in row.items() if k is not None}
    unknown = sorted(set(cells) - set(FILE_FIELDS))
    if unknown:
        raise ConfigError(f"{path} {where}: unknown field(s) {', '.join(unknown)}; "
                          f"known: {', '.join(FILE_FIELDS)}")
    kind = cells.get("type", "").lower()
    symbol = cells.get("symbol", "")
    try:
        if kind == "fx":
            base = fx(symbol)
            return Instrument("fx", base.symbol, cells.get("exchange") or base.exchange,
                              base.currency, name=cells.get("name") or None)
        if kind not in KINDS:
            raise ConfigError(f"type must be one of {', '.join(KINDS)}, got {kind!r}")
        return Instrument(
            kind,  # type: ignore[arg-type]
            symbol.upper(),
            (cells.get("exchange") or ("SMART" if kind == "stock" else "")).upper(),
            (cells.get("currency") or ("USD" if kind == "stock" else "")).upper(),
            expiry=cells.get("expiry", ""),
            local_symbol=cells.get("local_symbol", ""),
            primary_exchange=cells.get("primary_exchange", "").upper(),
            trading_class=cells.get("trading_class", "").upper(),
            multiplier=cells.get("multiplier", ""),
            name=cells.get("name") or None,
        )
    except ConfigError as exc:
        raise ConfigError(f"{path} {where}: {exc}") from None


def collect(
    symbols: Iterable[str] = (),
    stocks: Iterable[str] = (),
    futures: Iterable[str] = (),
    fx_pairs: Iterable[str] = (),
    files: Iterable[Path] = (),
) -> list[Instrument]:
    """Every instrument given by flags and files, in order; a repeated one is an error."""
    found: list[Instrument] = [stock(s) for s in symbols]
    found += [stock(s) for s in stocks]
    found += [future(s) for s in futures]
    found += [fx(s) for s in fx_pairs]
    for path in files:
        found += load_instruments(path)
    seen: set[Instrument] = set()
    for inst in found:
        if inst in seen:
            raise ConfigError(f"instrument {inst.label} is given twice")
        seen.add(inst)
    return found


def topic_symbol(inst: Instrument, ib_symbol: str, local_symbol: str) -> str:
    """The instrument's key on our topics, from its qualified contract's names."""
    if inst.name:
        return inst.name
    if inst.kind == "fx":
        raw = inst.symbol + inst.currency
    elif inst.kind == "future":
        raw = local_symbol or ib_symbol
    else:
        raw = ib_symbol
    symbol = re.sub(r"\s+", ".", raw.strip())
    if not _SYMBOL.match(symbol):
        raise ConfigError(
            f"instrument {inst.label}: IB name {raw!r} is not a valid symbol here; "
            "give it a name (name: in the instruments file)"
        )
    return symbol
