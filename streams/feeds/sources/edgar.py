"""SEC EDGAR: company facts (XBRL financial data) of listed companies onto market.fundamentals,
and their recent filings onto market.filings.

Per ticker, three kinds of request (https://www.sec.gov/search-filings/edgar-application-
programming-interfaces): the ticker -> CIK map (www.sec.gov/files/company_tickers.json, once
per source), the company facts (data.sec.gov/api/xbrl/companyfacts/CIK##########.json) and the
filings list (data.sec.gov/submissions/CIK##########.json, and its older pages only when a
fact's filing is not among the recent ones). The SEC requires a declared User-Agent (a name and
an email: NAUTILUS_EDGAR_USER_AGENT; unset, the source is off) and at most 10 requests a second:
the bucket gives 9 a second, one at a time, so no second ever sees more than 10.

Fields, from these concepts (the first one a filing reports for a period wins, per filing and
period, so a company that moved from SalesRevenueNet to ASC 606's concept keeps one series):
revenue (us-gaap Revenues, then RevenueFromContractWithCustomerExcludingAssessedTax, then
SalesRevenueNet: Revenues is the total where a filer tags both), net_income (NetIncomeLoss),
operating_cash_flow (NetCashProvidedByUsedInOperatingActivities), assets (Assets), equity
(StockholdersEquity), all in USD, and shares_outstanding (dei EntityCommonStockSharesOutstanding,
shares, as of the cover page's date). Facts in other units are left out.

Each fact of a filing is a record, comparatives included: the same period reported again in a
later filing (a restatement, or the prior year shown beside the current one) is a record of its
own, with that filing's `filed`, `form` and time. Durations are twelve months in an annual
report and three months in any report (an annual report's fourth quarter is `2023Q4` beside
`FY2023`, same end); year-to-date figures (six, nine months) are left out: they are sums of
quarters, and no `period` label names them. `period` is the fact's own fiscal period
(`FY2023`, `2024Q1`; an instant at a fiscal year end is `FY2023`), worked out from the
filing's `fy`/`fp` (which are the filing's, not the fact's) and how far the fact's end lies
before the filing's period end; a filing without `fy`/`fp` gives calendar labels (`CY2023`,
`CY2023Q4`), as the SEC's frames do.

The filing's period end is its `reportDate` in the filings list (else the latest end among
its facts), so an amendment that restates only last year's figure still labels it last year.

ts_event is the filing's acceptance time (`acceptanceDateTime` of the filings list). The SEC
writes it with a `Z`, yet for some filers it is New York time: it is read as New York time,
which is never early (at worst 4-5 hours late where it was UTC), so a replay never sees a
figure before EDGAR had it. A filing missing from the list is dated at the end (the last ns,
UTC) of `filed`, as FRED's days are: EDGAR's filing day ends at 17:30 or 22:00 New York time,
before midnight UTC, so that is late, never early.

The filings: every filing of the list's `recent` part (the SEC's: at least a year's, or the
latest 1,000) is a Filing record (form, filed, report date, primary document and its
description, an 8-K's items), dated as above; `since` keeps those filed from then on.

Configuration: NAUTILUS_EDGAR_USER_AGENT (required), NAUTILUS_EDGAR_TICKERS (what a poll
fetches), NAUTILUS_EDGAR_URL and NAUTILUS_EDGAR_TICKERS_URL (another server: a mirror, tests).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from streams.feeds.sources.base import Fetched, Source, SourceConfig, SourceRecord, parse_tickers
from streams.feeds.sources.exceptions import PayloadError
from streams.feeds.sources.http import HttpFetcher
from streams.schema import Filing, Fundamental

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_AGENT = re.compile(r"^\S.*\s<?[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+>?$")  # a name, an email
ACCESSION = r"^\d{10}-\d{2}-\d{6}$"
NEW_YORK = ZoneInfo("America/New_York")
DAYS_PER_YEAR = 365.25
DAYS_PER_QUARTER = DAYS_PER_YEAR / 4
QUARTER_DAYS = range(80, 101)  # 13 weeks, give or take a 52/53-week calendar
YEAR_DAYS = range(350, 381)
QUARTER_OF_FP = {"Q1": 1, "Q2": 2, "Q3": 3, "Q4": 4, "FY": 4}
ANNUAL_FORMS = {"10-K", "10-KT", "20-F", "40-F"}
Kind = Literal["duration", "instant", "cover"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A Fundamental field: its concepts by precedence (taxonomy, name), unit, kind."""

    concepts: tuple[tuple[str, str], ...]
    unit: str
    kind: Kind


FIELDS: dict[str, FieldSpec] = {
    "revenue": FieldSpec((("us-gaap", "Revenues"),
                          ("us-gaap", "RevenueFromContractWithCustomerExcludingAssessedTax"),
                          ("us-gaap", "SalesRevenueNet")), "USD", "duration"),
    "net_income": FieldSpec((("us-gaap", "NetIncomeLoss"),), "USD", "duration"),
    "operating_cash_flow": FieldSpec(
        (("us-gaap", "NetCashProvidedByUsedInOperatingActivities"),), "USD", "duration"),
    "assets": FieldSpec((("us-gaap", "Assets"),), "USD", "instant"),
    "equity": FieldSpec((("us-gaap", "StockholdersEquity"),), "USD", "instant"),
    "shares_outstanding": FieldSpec((("dei", "EntityCommonStockSharesOutstanding"),),
                                    "shares", "cover"),
}


class EdgarConfig(SourceConfig):
    """EDGAR's variables; the source is off while NAUTILUS_EDGAR_USER_AGENT is unset."""

    user_agent: str = Field(pattern=USER_AGENT.pattern, max_length=200,
                            validation_alias="NAUTILUS_EDGAR_USER_AGENT")
    tickers: tuple[str, ...] = Field(default=(), validation_alias="NAUTILUS_EDGAR_TICKERS")
    url: str = Field(default="https://data.sec.gov", pattern=r"^https?://",
                     validation_alias="NAUTILUS_EDGAR_URL")
    tickers_url: str = Field(default="https://www.sec.gov/files/company_tickers.json",
                             pattern=r"^https?://", validation_alias="NAUTILUS_EDGAR_TICKERS_URL")

    @field_validator("tickers", mode="before")
    @classmethod
    def _ticker_list(cls, value: object) -> object:
        return parse_tickers(value) if isinstance(value, str) else value


class _Fact(BaseModel):
    """One value of a concept in company facts (fields we do not use ignored)."""

    model_config = ConfigDict(extra="ignore")

    start: dt.date | None = None
    end: dt.date
    val: float = Field(allow_inf_nan=False)
    accn: str = Field(pattern=ACCESSION)
    fy: int | None = None
    fp: str | None = None
    form: str = Field(min_length=1, max_length=64)
    filed: dt.date


class _Concept(BaseModel):
    model_config = ConfigDict(extra="ignore")

    units: dict[str, list[_Fact]]


class _TickerEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cik_str: int = Field(ge=1)
    ticker: str


class _FilingColumns(BaseModel):
    """The filings list's columns (one entry per filing) that date a filing, give the period
    it reports on (`reportDate`, empty for forms that have none) and describe it (the last
    four: None where the SEC leaves a column out)."""

    model_config = ConfigDict(extra="ignore")

    accessionNumber: list[Annotated[str, Field(pattern=ACCESSION)]]  # noqa: N815 (the SEC's)
    acceptanceDateTime: list[dt.datetime]  # noqa: N815
    reportDate: list[str]  # noqa: N815
    form: list[str] | None = None
    filingDate: list[dt.date] | None = None  # noqa: N815
    primaryDocument: list[str] | None = None  # noqa: N815
    primaryDocDescription: list[str] | None = None  # noqa: N815
    items: list[str] | None = None


@dataclass(frozen=True, slots=True)
class _Filing:
    """What the filings list says of one filing: when accepted (ns), which period it reports,
    and (`recent`: in the list's recent part) its form, filing day and documents."""

    accepted_ns: int
    report_date: dt.date | None
    recent: bool = False
    form: str | None = None
    filed: dt.date | None = None
    primary_document: str | None = None
    description: str | None = None
    items: str | None = None


class _FilingFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=r"^CIK\d{10}-submissions-\d{3}\.json$")


class _Filings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    recent: _FilingColumns
    files: list[_FilingFile] = []


class _Submissions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    filings: _Filings


_TICKER_MAP = TypeAdapter(dict[str, _TickerEntry])


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A fact chosen for a field, with the precedence of its concept (0 first)."""

    field: str
    rank: int
    fact: _Fact


class EdgarSource(Source[EdgarConfig]):
    """Company facts and recent filings of SEC EDGAR, each dated when EDGAR accepted the
    filing."""

    name = "edgar"
    topics = ("market.fundamentals", "market.filings")
    config_model = EdgarConfig
    requests_per_s: ClassVar[float] = 9.0  # the SEC: at most 10 a second
    burst: ClassVar[int] = 1

    def __init__(self, config: EdgarConfig, http: HttpFetcher) -> None:
        super().__init__(config, http)
        self._ciks: dict[str, int] | None = None

    @classmethod
    def http_headers(cls, config: SourceConfig) -> Mapping[str, str]:
        assert isinstance(config, EdgarConfig)
        return {"User-Agent": config.user_agent}

    def items(self) -> list[str]:
        return list(self.config.tickers)

    def fetch(self, item: str, *, since: dt.date | None, ts_init: int) -> Fetched:
        ticker = item.upper()
        cik = self.cik(ticker)
        chosen = choose_facts(self._concepts(ticker, cik))
        if since is not None:
            chosen = [c for c in chosen if c.fact.end >= since]
        filings = self._filings(ticker, cik, {c.fact.accn for c in chosen})
        ends = filing_period_ends(chosen, filings)
        records: list[SourceRecord] = [self._record(ticker, c, filings, ends, ts_init)
                                       for c in chosen]
        records += filing_records(ticker, cik, filings, since, ts_init)
        return Fetched(item, records)

    def _record(self, ticker: str, chosen: _Candidate, filings: dict[str, _Filing],
                ends: dict[str, dt.date], ts_init: int) -> Fundamental:
        fact, spec = chosen.fact, FIELDS[chosen.field]
        filing = filings.get(fact.accn)
        try:
            return Fundamental(
                ts_event=filing.accepted_ns if filing is not None else end_of_day_ns(fact.filed),
                ts_init=ts_init, source=self.name, symbol=ticker, field=chosen.field,
                period=fiscal_period(fact, spec.kind, ends.get(fact.accn)),
                period_end=fact.end, value=fact.val, unit=spec.unit, filed=fact.filed,
                form=fact.form)
        except ValidationError as exc:
            raise PayloadError(f"EDGAR {ticker} filing {fact.accn}: not a valid record: "
                               f"{_first(exc)}") from None

    def cik(self, ticker: str) -> int:
        """The ticker's CIK from the SEC's map (fetched once); a PayloadError if unknown."""
        if self._ciks is None:
            what = "EDGAR ticker map"
            doc = self.http.get(self.config.tickers_url).json(what)
            try:
                entries = _TICKER_MAP.validate_python(doc)
            except ValidationError as exc:
                raise PayloadError(f"{what}: malformed payload: {_first(exc)}") from None
            self._ciks = {e.ticker.upper(): e.cik_str for e in entries.values()}
        for spelling in (ticker, ticker.replace(".", "-")):  # the SEC writes BRK-B
            if spelling in self._ciks:
                return self._ciks[spelling]
        raise PayloadError(f"EDGAR: ticker {ticker} is not in the SEC's ticker map")

    def _concepts(self, ticker: str, cik: int) -> dict[tuple[str, str], _Concept]:
        """The concepts FIELDS reads, as company facts has them (absent ones left out)."""
        what = f"EDGAR {ticker} company facts"
        doc = self._get_json(f"api/xbrl/companyfacts/CIK{cik:010d}.json", what)
        facts = doc.get("facts")
        if not isinstance(facts, dict):
            raise PayloadError(f"{what}: malformed payload: no `facts` object")
        concepts = {}
        for spec in FIELDS.values():
            for taxonomy, name in spec.concepts:
                raw = (facts.get(taxonomy) or {}).get(name)
                if raw is None:
                    continue
                try:
                    concepts[taxonomy, name] = _Concept.model_validate(raw)
                except ValidationError as exc:
                    raise PayloadError(f"{what}: malformed payload: {taxonomy}:{name}: "
                                       f"{_first(exc)}") from None
        return concepts

    def _filings(self, ticker: str, cik: int, accessions: set[str]) -> dict[str, _Filing]:
        """The filings list's entries, of `accessions` at least where it has them: the older
        pages are read only while some filing is not found yet."""
        what = f"EDGAR {ticker} filings"
        doc = self._get_json(f"submissions/CIK{cik:010d}.json", what)
        try:
            filings = _Submissions.model_validate(doc).filings
        except ValidationError as exc:
            raise PayloadError(f"{what}: malformed payload: {_first(exc)}") from None
        found = _listed(filings.recent, what, recent=True)
        for file in filings.files:
            if accessions <= found.keys():
                break
            page_what = f"{what} ({file.name})"
            try:
                page = _FilingColumns.model_validate(
                    self._get_json(f"submissions/{file.name}", page_what))
            except ValidationError as exc:
                raise PayloadError(f"{page_what}: malformed payload: {_first(exc)}") from None
            found.update(_listed(page, page_what, recent=False))
        return found

    def _get_json(self, path: str, what: str) -> dict[str, object]:
        doc = self.http.get(f"{self.config.url.rstrip('/')}/{path}").json(what)
        if not isinstance(doc, dict):
            raise PayloadError(f"{what}: malformed payload: not a JSON object")
        return doc


def _listed(columns: _FilingColumns, what: str, *, recent: bool) -> dict[str, _Filing]:
    named = {"accession numbers": columns.accessionNumber,
             "acceptance times": columns.acceptanceDateTime, "report dates": columns.reportDate,
             **{name: values for name, values in (
                 ("forms", columns.form), ("filing dates", columns.filingDate),
                 ("primary documents", columns.primaryDocument),
                 ("descriptions", columns.primaryDocDescription), ("items", columns.items))
                if values is not None}}
    if len({len(values) for values in named.values()}) > 1:
        counts = ", ".join(f"{len(values)} {name}" for name, values in named.items())
        raise PayloadError(f"{what}: {counts} (partial payload)")
    listed = {}
    for i, (accn, when, report) in enumerate(zip(columns.accessionNumber,
                                                 columns.acceptanceDateTime,
                                                 columns.reportDate, strict=True)):
        try:
            report_date = dt.date.fromisoformat(report) if report else None
        except ValueError:
            raise PayloadError(f"{what}: {accn}: reportDate {report!r} is not a date") from None
        listed[accn] = _Filing(acceptance_ns(when), report_date, recent,
                               _entry(columns.form, i), _entry(columns.filingDate, i),
                               _entry(columns.primaryDocument, i),
                               _entry(columns.primaryDocDescription, i),
                               _entry(columns.items, i))
    return listed


def _entry(column: list[T] | None, i: int) -> T | None:
    """Row `i` of an optional column; None where the column is absent or the cell empty."""
    return column[i] or None if column is not None else None


def filing_records(ticker: str, cik: int, filings: dict[str, _Filing], since: dt.date | None,
                   ts_init: int) -> list[Filing]:
    """The filings of the list's recent part (filed from `since` on) as records, oldest
    first; a PayloadError for one without its form or filing date."""
    records = []
    for accn, filing in filings.items():
        if not filing.recent:
            continue
        if filing.form is None or filing.filed is None:
            raise PayloadError(f"EDGAR {ticker} filings: {accn} has no form or filingDate "
                               "(partial payload)")
        if since is not None and filing.filed < since:
            continue
        try:
            records.append(Filing(
                ts_event=filing.accepted_ns, ts_init=ts_init, source=EdgarSource.name,
                symbol=ticker, cik=cik, accession=accn, form=filing.form, filed=filing.filed,
                report_date=filing.report_date, primary_document=filing.primary_document,
                description=filing.description, items=filing.items))
        except ValidationError as exc:
            raise PayloadError(f"EDGAR {ticker} filing {accn}: not a valid record: "
                               f"{_first(exc)}") from None
    return sorted(records, key=lambda r: (r.ts_event, r.accession))


def acceptance_ns(when: dt.datetime) -> int:
    """An `acceptanceDateTime` as ns since the epoch, its clock read as New York time."""
    local = when.replace(tzinfo=None).replace(tzinfo=NEW_YORK)
    return int(local.timestamp()) * 1_000_000_000 + local.microsecond * 1_000


def end_of_day_ns(day: dt.date) -> int:
    """The last ns of `day`, UTC."""
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
    return (start + 86_400) * 10**9 - 1


def choose_facts(concepts: dict[tuple[str, str], _Concept]) -> list[_Candidate]:
    """Per field, filing and period, the fact of the first concept (see the module
    docstring); durations only of a quarter, or of a year in an annual report."""
    best: dict[tuple[str, str, dt.date, bool], _Candidate] = {}
    for field, spec in FIELDS.items():
        for rank, concept_id in enumerate(spec.concepts):
            concept = concepts.get(concept_id)
            for fact in concept.units.get(spec.unit, []) if concept is not None else []:
                if spec.kind == "duration" and not _filing_length(fact):
                    continue
                key = (field, fact.accn, fact.end, _is_quarter(fact))
                held = best.get(key)
                if held is None or rank < held.rank:
                    best[key] = _Candidate(field, rank, fact)
                elif rank == held.rank and fact.val != held.fact.val:
                    log.warning("edgar fact reported twice, the first kept concept=%s:%s "
                                "accn=%s end=%s values=%s,%s", *concept_id, fact.accn,
                                fact.end, held.fact.val, fact.val)
    return sorted(best.values(), key=lambda c: (c.fact.filed, c.fact.accn, c.field, c.fact.end,
                                              _is_quarter(c.fact)))


def _filing_length(fact: _Fact) -> bool:
    """Whether a duration is a period of its own: a quarter, or a year in an annual report.
    A duration without `start` is malformed."""
    if fact.start is None:
        raise PayloadError(f"EDGAR filing {fact.accn}: a duration ending {fact.end} has no "
                           "start (malformed payload)")
    days = (fact.end - fact.start).days + 1
    return days in QUARTER_DAYS or (days in YEAR_DAYS and _annual_filing(fact))


def _is_quarter(fact: _Fact) -> bool:
    """Whether a fact is a three-month duration (instants are not)."""
    return fact.start is not None and (fact.end - fact.start).days + 1 in QUARTER_DAYS


def _annual_filing(fact: _Fact) -> bool:
    if fact.fp is not None:
        return fact.fp == "FY"
    return fact.form.removesuffix("/A") in ANNUAL_FORMS


def filing_period_ends(chosen: list[_Candidate], filings: dict[str, _Filing]
                       ) -> dict[str, dt.date]:
    """Each filing's own period end: its `reportDate`, else the latest end of its
    financial-statement facts (the cover page's share count is dated after it)."""
    ends: dict[str, dt.date] = {}
    for c in chosen:
        if FIELDS[c.field].kind != "cover":
            ends[c.fact.accn] = max(c.fact.end, ends.get(c.fact.accn, c.fact.end))
    for accn, filing in filings.items():
        if accn in ends and filing.report_date is not None:
            ends[accn] = filing.report_date
    return ends


def fiscal_period(fact: _Fact, kind: Kind, filing_end: dt.date | None) -> str:
    """The fiscal period a fact belongs to (`FY2023`, `2024Q1`), from its filing's fy/fp and
    how many years or quarters its end lies before the filing's period end."""
    quarter = QUARTER_OF_FP.get(fact.fp or "")
    if fact.fy is None or quarter is None:
        return _calendar_period(fact, kind)
    if kind == "cover":  # the cover page belongs to the filing's period
        return f"FY{fact.fy}" if fact.fp == "FY" else f"{fact.fy}{fact.fp}"
    filing_end = filing_end or fact.end
    if kind == "duration" and not _is_quarter(fact):
        years_back = round((filing_end - fact.end).days / DAYS_PER_YEAR)
        return f"FY{fact.fy - years_back}"
    quarters_back = round((filing_end - fact.end).days / DAYS_PER_QUARTER)
    year, index = divmod(fact.fy * 4 + quarter - 1 - quarters_back, 4)
    if kind == "instant" and index == 3:
        return f"FY{year}"
    return f"{year}Q{index + 1}"


def _calendar_period(fact: _Fact, kind: Kind) -> str:
    if kind == "duration" and not _is_quarter(fact):
        return f"CY{fact.end.year}"
    return f"CY{fact.end.year}Q{(fact.end.month - 1) // 3 + 1}"


def _first(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


SOURCE = EdgarSource
