"""A fake Alpha Vantage on loopback serving `query?function=OVERVIEW`,
`TIME_SERIES_DAILY_ADJUSTED` and `TIME_SERIES_DAILY` in their documented JSON
(https://www.alphavantage.co/documentation/#company-overview, #dailyadj, #daily): every value
a string, "None" where it has none, days newest first; synthetic companies, a made-up key.
`compact` answers the latest 100 days. With `premium=True` (a free key, as Alpha Vantage made
the adjusted series premium) TIME_SERIES_DAILY_ADJUSTED, and `outputsize=full`, get the
"Information" Alpha Vantage gives for a premium endpoint.

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


PREMIUM = ("Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe to "
           "any of the premium plans at https://www.alphavantage.co/premium/ to instantly "
           "unlock all premium endpoints")


def day(open_: str, high: str, low: str, close: str, volume: str, dividend: str = "0.0000",
        split: str = "1.0", adjusted: str | None = None) -> dict[str, str]:
    """One day of TIME_SERIES_DAILY_ADJUSTED, as Alpha Vantage writes it."""
    return {"1. open": open_, "2. high": high, "3. low": low, "4. close": close,
            "5. adjusted close": adjusted or close, "6. volume": volume,
            "7. dividend amount": dividend, "8. split coefficient": split}


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
    days: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # symbol -> date
    premium: bool = False
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
        function, symbol = params.get("function"), params.get("symbol", "")
        doc: dict | bytes
        if function in ("TIME_SERIES_DAILY_ADJUSTED", "TIME_SERIES_DAILY"):
            if self.premium and (function == "TIME_SERIES_DAILY_ADJUSTED"
                                 or params.get("outputsize") == "full"):
                return _json({"Information": PREMIUM})
            doc = self._series(function, symbol, params.get("outputsize", "compact"))
        elif function == "OVERVIEW":
            doc = dict(self.overviews.get(symbol, {}))
        else:
            return _json({"Error Message": "This API function does not exist."})
        if symbol in self.tamper:
            doc = self.tamper[symbol](doc)  # type: ignore[arg-type]
        return Answer(200, doc if isinstance(doc, bytes) else json.dumps(doc).encode(),
                      {"Content-Type": "application/json"})


    def _series(self, function: str, symbol: str, outputsize: str) -> dict:
        if symbol not in self.days:
            return {"Error Message": f"Invalid API call. Please retry or visit the documentation "
                    f"(https://www.alphavantage.co/documentation/) for {function}."}
        dates = sorted(self.days[symbol], reverse=True)[:100 if outputsize == "compact" else None]
        adjusted = function == "TIME_SERIES_DAILY_ADJUSTED"
        series = {d: self.days[symbol][d] if adjusted else _unadjusted(self.days[symbol][d])
                  for d in dates}
        info = ("Daily Time Series with Splits and Dividend Events" if adjusted
                else "Daily Prices (open, high, low, close) and Volumes")
        return {"Meta Data": {"1. Information": info, "2. Symbol": symbol,
                              "3. Last Refreshed": dates[0] if dates else "",
                              "4. Output Size": outputsize.capitalize(),
                              "5. Time Zone": "US/Eastern"},
                "Time Series (Daily)": series}


def _unadjusted(values: dict[str, str]) -> dict[str, str]:
    return {"1. open": values["1. open"], "2. high": values["2. high"],
            "3. low": values["3. low"], "4. close": values["4. close"],
            "5. volume": values["6. volume"]}


def _json(doc: dict) -> Answer:
    return Answer(200, json.dumps(doc).encode(), {"Content-Type": "application/json"})
