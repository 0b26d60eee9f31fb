"""A fake SEC EDGAR on loopback serving, in the SEC's documented JSON formats
(https://www.sec.gov/search-filings/edgar-application-programming-interfaces), what a test
adds: the ticker map (`/files/company_tickers.json`), company facts
(`/api/xbrl/companyfacts/CIK##########.json`) and filings lists
(`/submissions/CIK##########.json`, with the older filings in
`/submissions/CIK##########-submissions-001.json` beyond `recent` of them). Synthetic
companies; nothing recorded.

It refuses (403, as the SEC does) a request whose User-Agent declares no name and email.
Faults: `fail_next(status)` answers the next request with that status; `tamper[path] = fn`
rewrites a JSON document (a dict) or replaces it (bytes) before it is sent.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.streams.feeds.sources.loopback import Answer, LoopbackFake, Request

USER_AGENT = "Nautilus Tests tests@example.com"
DECLARED = re.compile(r"\S.*\s\S+@\S+\.\S+")
UNDECLARED = (b"<html><body><h1>Your Request Originates from an Undeclared Automated Tool"
              b"</h1></body></html>")


@dataclass
class Filing:
    accn: str
    form: str
    filed: str
    accepted: str  # acceptanceDateTime as the SEC writes it ("2024-02-01T16:30:00.000Z")
    report_date: str


@dataclass
class FakeEdgar(LoopbackFake):
    tickers: dict[str, tuple[int, str]] = field(default_factory=dict)  # ticker -> cik, title
    facts: dict[int, dict[str, dict[str, dict[str, list[dict]]]]] = field(default_factory=dict)
    filings: dict[int, list[Filing]] = field(default_factory=dict)
    recent: int = 1000  # the newest filings in `filings.recent`; older ones in page 001
    tamper: dict[str, Callable[[dict], dict | bytes]] = field(default_factory=dict)
    _faults: deque[int] = field(default_factory=deque)

    def add_company(self, ticker: str, cik: int, title: str) -> None:
        self.tickers[ticker] = (cik, title)
        self.facts.setdefault(cik, {})
        self.filings.setdefault(cik, [])

    def add_filing(self, cik: int, filing: Filing) -> None:
        self.filings[cik].append(filing)

    def add_fact(self, cik: int, concept: str, unit: str, filing: Filing, *, end: str,
                 val: float, fy: int | None, fp: str | None, start: str | None = None) -> None:
        """A value of `concept` ("us-gaap:Revenues") reported in `filing`."""
        taxonomy, name = concept.split(":")
        fact: dict = {"end": end, "val": val, "accn": filing.accn, "fy": fy, "fp": fp,
                      "form": filing.form, "filed": filing.filed}
        if start is not None:
            fact = {"start": start, **fact}
        units = self.facts[cik].setdefault(taxonomy, {}).setdefault(
            name, {"label": name, "description": f"{name} (synthetic)", "units": {}})["units"]
        units.setdefault(unit, []).append(fact)

    def fail_next(self, status: int) -> None:
        self._faults.append(status)

    @property
    def env(self) -> dict[str, str]:
        """The variables that point the source at this server."""
        return {"NAUTILUS_EDGAR_USER_AGENT": USER_AGENT, "NAUTILUS_EDGAR_URL": self.url,
                "NAUTILUS_EDGAR_TICKERS_URL": f"{self.url}/files/company_tickers.json"}

    def _serve(self, request: Request) -> Answer:
        if not DECLARED.fullmatch(request.headers.get("user-agent", "")):
            return Answer(403, UNDECLARED, {"Content-Type": "text/html"})
        if self._faults:
            return Answer(self._faults.popleft(), b"", {})
        doc = self._document(request.path)
        if doc is None:
            return Answer(404, b"<Error><Code>NoSuchKey</Code></Error>",
                          {"Content-Type": "application/xml"})
        if request.path in self.tamper:
            doc = self.tamper[request.path](doc)
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return Answer(200, body, {"Content-Type": "application/json"})

    def _document(self, path: str) -> dict | None:
        if path == "/files/company_tickers.json":
            return {str(i): {"cik_str": cik, "ticker": ticker, "title": title}
                    for i, (ticker, (cik, title)) in enumerate(self.tickers.items())}
        if match := re.fullmatch(r"/api/xbrl/companyfacts/CIK(\d{10})\.json", path):
            cik = int(match[1])
            if cik not in self.facts:
                return None
            return {"cik": cik, "entityName": self._title(cik), "facts": self.facts[cik]}
        if match := re.fullmatch(r"/submissions/CIK(\d{10})(-submissions-001)?\.json", path):
            cik = int(match[1])
            if cik not in self.filings:
                return None
            newest = sorted(self.filings[cik], key=lambda f: f.accepted, reverse=True)
            if match[2]:
                return _columns(newest[self.recent:])
            files = ([{"name": f"CIK{cik:010d}-submissions-001.json",
                       "filingCount": len(newest) - self.recent,
                       "filingFrom": newest[-1].filed, "filingTo": newest[self.recent].filed}]
                     if len(newest) > self.recent else [])
            return {"cik": f"{cik:010d}", "entityType": "operating", "name": self._title(cik),
                    "tickers": [t for t, (c, _) in self.tickers.items() if c == cik],
                    "filings": {"recent": _columns(newest[:self.recent]), "files": files}}
        return None

    def _title(self, cik: int) -> str:
        return next(title for c, title in self.tickers.values() if c == cik)


def _columns(filings: list[Filing]) -> dict[str, list]:
    """Filings as the SEC lists them: one array per attribute, one entry per filing."""
    return {"accessionNumber": [f.accn for f in filings],
            "filingDate": [f.filed for f in filings],
            "reportDate": [f.report_date for f in filings],
            "acceptanceDateTime": [f.accepted for f in filings],
            "form": [f.form for f in filings],
            "isXBRL": [1 for _ in filings],
            "primaryDocument": [f"doc{i}.htm" for i, _ in enumerate(filings)]}
