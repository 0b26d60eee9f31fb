"""A fake Alpha Vantage on loopback serving `query?function=OVERVIEW` in its documented JSON
(https://www.alphavantage.co/documentation/#company-overview): every value a string, "None"
where it has none; synthetic companies, a made-up key.

Like Alpha Vantage it answers with status 200 throughout: an unknown key gets an
"Error Message", an unknown symbol `{}`, and once `daily_limit` requests were answered, an
"Information" naming the daily limit (and echoing the key, as Alpha Vantage does). `note_next()`
answers the next request with a "Note" (the older per-minute limit); `tamper[symbol] = fn`
rewrites a document (a dict) or replaces it (bytes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.streams.feeds.sources.loopback import Answer, LoopbackFake, Request

API_KEY = "FAKEKEY0123456789"  # made up: Alpha Vantage keys are 16 upper-case alnum
NOTE = ("Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per "
        "minute. Please visit https://www.alphavantage.co/premium/ if you would like to target "
        "a higher API call frequency.")


def overview(symbol: str, latest_quarter: str, **values: str) -> dict[str, str]:
    """An OVERVIEW document of a synthetic company; `values` override its figures."""
    return {"Symbol": symbol, "AssetType": "Common Stock", "Name": f"{symbol} Synthetic Corp",
            "Description": "A company made up for tests.", "CIK": "1234567",
            "Exchange": "NYSE", "Currency": "USD", "Country": "USA", "Sector": "TECHNOLOGY",
            "Industry": "SOFTWARE", "FiscalYearEnd": "December", "LatestQuarter": latest_quarter,
            "MarketCapitalization": "150000000000", "EBITDA": "14000000000",
            "PERatio": "22.5", "BookValue": "25.3", "DividendPerShare": "None", "EPS": "6.1",
            "RevenuePerShareTTM": "68.2", "ProfitMargin": "0.09", "RevenueTTM": "62000000000",
            "GrossProfitTTM": "34000000000", "DilutedEPSTTM": "6.05",
            "SharesOutstanding": "910000000", "52WeekHigh": "199.2", "52WeekLow": "150.1",
            **values}


@dataclass
class FakeAlphaVantage(LoopbackFake):
    overviews: dict[str, dict[str, str]] = field(default_factory=dict)
    daily_limit: int = 25
    tamper: dict[str, Callable[[dict], dict | bytes]] = field(default_factory=dict)
    answered: int = 0
    _notes: int = 0

    def note_next(self) -> None:
        self._notes += 1

    @property
    def env(self) -> dict[str, str]:
        return {"ALPHAVANTAGE_API_KEY": API_KEY,
                "NAUTILUS_ALPHAVANTAGE_URL": f"{self.url}/query"}

    def _serve(self, request: Request) -> Answer:
        params = request.params
        if params.get("apikey") != API_KEY:
            return _json({"Error Message": "the parameter apikey is invalid or missing. Please "
                          "claim your free API key on (https://www.alphavantage.co/support/"
                          "#api-key). It should take less than 20 seconds."})
        if self._notes:
            self._notes -= 1
            return _json({"Note": NOTE})
        if self.answered >= self.daily_limit:
            return _json({"Information": f"We have detected your API key as {API_KEY} and our "
                          "standard API rate limit is 25 requests per day. Please subscribe to "
                          "any of the premium plans at https://www.alphavantage.co/premium/ to "
                          "instantly remove all daily rate limits."})
        self.answered += 1
        if params.get("function") != "OVERVIEW":
            return _json({"Error Message": "This API function does not exist."})
        symbol = params.get("symbol", "")
        doc: dict | bytes = dict(self.overviews.get(symbol, {}))
        if symbol in self.tamper:
            doc = self.tamper[symbol](doc)  # type: ignore[arg-type]
        return Answer(200, doc if isinstance(doc, bytes) else json.dumps(doc).encode(),
                      {"Content-Type": "application/json"})


def _json(doc: dict) -> Answer:
    return Answer(200, json.dumps(doc).encode(), {"Content-Type": "application/json"})
