"""The FRED source against the fake FRED (its documented JSON): pages, vintages, missing
values, malformed and partial payloads, the series file and the configuration."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.exceptions import ConfigError
from streams.feeds.sources.base import read_config
from streams.feeds.sources.exceptions import FetchError, PayloadError
from streams.feeds.sources.fred import SHIPPED_SERIES_FILE, FredSource, load_series
from streams.feeds.sources.http import HttpFetcher, HttpPolicy, TokenBucket
from streams.schema import MacroObservation
from tests.streams.feeds.sources.fake_fred import API_KEY, OBSERVATIONS, OPEN_END, FakeFred

NS_PER_DAY = 86_400 * 10**9


@pytest.fixture
def fake() -> Iterator[FakeFred]:
    with FakeFred() as server:
        yield server


def fred_source(fake: FakeFred, page_size: int = 100_000, **env: str) -> FredSource:
    """The source as `open_source` makes it, retries immediate, the rate limit recorded."""
    config = read_config(FredSource, {"FRED_API_KEY": API_KEY, "NAUTILUS_FRED_URL": fake.url,
                                      "NAUTILUS_FRED_PAGE_SIZE": str(page_size), **env})
    assert not isinstance(config, str)
    waits: list[float] = []
    http = HttpFetcher("fred", HttpPolicy(backoff_s=0.0), TokenBucket(1_000, 1_000),
                       sleep=waits.append)
    return FredSource(config, http)  # type: ignore[arg-type]


def _end_of_day_ns(day: str) -> int:
    """The last ns of `day` (UTC): a vintage is known once its first real-time day is over."""
    return (dt.date.fromisoformat(day) - dt.date(1970, 1, 1)).days * NS_PER_DAY + NS_PER_DAY - 1


def test_the_shipped_series_are_32_in_five_groups_with_the_yield_curve() -> None:
    series = load_series(SHIPPED_SERIES_FILE)

    assert len(series) == 32
    assert {s.group for s in series} == {"growth", "employment", "inflation",
                                         "rates_and_monetary_policy", "financial_conditions"}
    assert {"DGS3MO", "DGS2", "DGS10"} <= {s.id for s in series}


def test_readme_lists_the_shipped_series_by_group() -> None:
    readme = (SHIPPED_SERIES_FILE.parent / "README.md").read_text()
    rows = dict(re.findall(r"^\| (\w+) \| ([A-Z0-9, ]+) \|$", readme, re.MULTILINE))
    groups: dict[str, list[str]] = {}
    for entry in load_series(SHIPPED_SERIES_FILE):
        groups.setdefault(entry.group, []).append(entry.id)

    assert {group: ", ".join(ids) for group, ids in groups.items()} == {
        group: rows.get(group) for group in groups}


@pytest.mark.parametrize(("text", "error"), [
    ("growth:\n  - {title: no id}\n", "needs an `id`"),
    ("growth:\n  - {id: DGS10}\nrates:\n  - {id: DGS10}\n", "DGS10 is listed twice"),
    ("growth: DGS10\n", "group 'growth' is not a list"),
])
def test_a_wrong_series_file_names_the_entry(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "series.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError, match=error):
        load_series(path)


def test_without_the_key_fred_is_off_naming_the_variable() -> None:
    assert read_config(FredSource, {}) == "FRED_API_KEY not set"
    assert read_config(FredSource, {"FRED_API_KEY": ""}) == "FRED_API_KEY not set"


def test_only_the_named_variables_configure_it() -> None:
    # a field's own name (`api_key`, `url`) in the environment belongs to something else
    assert read_config(FredSource, {"api_key": API_KEY}) == "FRED_API_KEY not set"


def test_a_wrong_variable_is_named_with_its_value() -> None:
    with pytest.raises(ConfigError, match=r"NAUTILUS_FRED_PAGE_SIZE='0': input should be"):
        read_config(FredSource, {"FRED_API_KEY": API_KEY, "NAUTILUS_FRED_PAGE_SIZE": "0"})


def test_pages_follow_offset_and_limit_up_to_the_count(fake: FakeFred) -> None:
    for day in range(1, 6):
        fake.add("DGS10", f"2024-01-0{day}", f"4.0{day}", f"2024-01-0{day + 1}")

    fetched = fred_source(fake, page_size=2).fetch("DGS10", since=None, ts_init=7)

    observations = [q for q in fake.requests if q.path == OBSERVATIONS]
    assert [r.value for r in fetched.records] == [4.01, 4.02, 4.03, 4.04, 4.05]
    assert [q.params["offset"] for q in observations] == ["0", "2", "4"]
    assert {(q.params["limit"], q.params["output_type"], q.params["file_type"],
             q.params["realtime_start"], q.params["realtime_end"]) for q in observations} == {
        ("2", "1", "json", "1776-07-04", "9999-12-31")}


def test_more_vintages_than_one_request_may_span_are_read_in_windows(fake: FakeFred) -> None:
    # a value revised on days 2, 4 and 6 and one that never changes, across windows of two
    # vintage dates: FRED clips periods at each window's edge, the records do not repeat them
    _revised_dff(fake)
    fake.max_vintages = 2
    with pytest.raises(FetchError, match="This exceeds the maximum number of vintage dates"):
        fred_source(fake).fetch("DFF", since=None, ts_init=7)

    fetched = fred_source(fake, NAUTILUS_FRED_VINTAGES_PER_REQUEST="2").fetch(
        "DFF", since=None, ts_init=7)

    assert [(r.date.isoformat(), r.realtime_start.isoformat(), r.value)
            for r in fetched.records] == [
        ("2024-01-01", "2024-01-02", 5.33),
        ("2024-01-02", "2024-01-03", 5.31),
        ("2024-01-02", "2024-01-04", 5.32),
        ("2024-01-02", "2024-01-06", 5.33),
        ("2024-01-04", "2024-01-05", 5.30),
    ]
    windows = [(q.params["realtime_start"], q.params["realtime_end"])
               for q in fake.requests if q.path == OBSERVATIONS][1:]
    assert windows == [("1776-07-04", "2024-01-03"), ("2024-01-04", "2024-01-05"),
                       ("2024-01-06", "9999-12-31")]


def _revised_dff(fake: FakeFred) -> None:
    """DFF with vintages on days 2 to 6 (the windows test's series)."""
    fake.add("DFF", "2024-01-01", "5.33", "2024-01-02")
    fake.add("DFF", "2024-01-02", "5.31", "2024-01-03")
    fake.revise("DFF", "2024-01-02", "5.32", on="2024-01-04", last_day_before="2024-01-03")
    fake.add("DFF", "2024-01-04", "5.30", "2024-01-05")
    fake.revise("DFF", "2024-01-02", "5.33", on="2024-01-06", last_day_before="2024-01-05")


def test_a_series_held_is_asked_from_its_newest_vintage_in_windows_from_there(
        fake: FakeFred) -> None:
    """What the topic holds up to the vintage of day 4: only the real-time periods from day 4
    are asked, the values valid on day 4 come back clipped (and are left to the poll, which
    holds them), and day 6's revision is new."""
    _revised_dff(fake)
    source = fred_source(fake, NAUTILUS_FRED_VINTAGES_PER_REQUEST="2")
    source.resume({("DFF", dt.date(2024, 1, 1)): (dt.date(2024, 1, 2), 5.33),
                   ("DFF", dt.date(2024, 1, 2)): (dt.date(2024, 1, 4), 5.32)})

    fetched = source.fetch("DFF", since=None, ts_init=7)

    assert [(r.date.isoformat(), r.realtime_start.isoformat(), r.value)
            for r in fetched.records] == [
        ("2024-01-01", "2024-01-04", 5.33),  # valid on day 4: clipped, the poll holds it
        ("2024-01-02", "2024-01-04", 5.32),
        ("2024-01-02", "2024-01-06", 5.33),
        ("2024-01-04", "2024-01-05", 5.30),
    ]
    assert [(q.path.rsplit("/", 1)[1], q.params["realtime_start"], q.params["realtime_end"])
            for q in fake.requests] == [("vintagedates", "2024-01-04", OPEN_END),
                                        ("observations", "2024-01-04", "2024-01-05"),
                                        ("observations", "2024-01-06", OPEN_END)]


@pytest.mark.parametrize("held", [
    {("DFF", dt.date(2024, 1, 2)): (dt.date(2024, 1, 4), 5.32)},  # no vintage of Jan 1
    {("DFF", dt.date(2024, 1, 1)): (dt.date(2024, 1, 2), 5.00),  # another value of Jan 1
     ("DFF", dt.date(2024, 1, 2)): (dt.date(2024, 1, 4), 5.32)},
])
def test_a_value_valid_at_the_newest_vintage_but_not_held_reads_the_whole_history(
        fake: FakeFred, held: dict) -> None:  # type: ignore[type-arg]
    """A gap (an earlier poll with --since, a lost record): dating the missing value at the
    cut would make it late and drop its vintages, so every vintage is read."""
    _revised_dff(fake)
    source = fred_source(fake)
    source.resume(held)

    fetched = source.fetch("DFF", since=None, ts_init=7)

    assert ("2024-01-01", "2024-01-02", 5.33) in [
        (r.date.isoformat(), r.realtime_start.isoformat(), r.value) for r in fetched.records]
    assert [q.params["realtime_start"] for q in fake.requests] == [
        "2024-01-04", "2024-01-04", "1776-07-04", "1776-07-04"]


def test_two_vintages_of_one_period_are_two_records_each_dated_when_known(
        fake: FakeFred) -> None:
    fake.add("GDPC1", "2024-01-01", "22758.752", "2024-04-25")
    fake.revise("GDPC1", "2024-01-01", "22768.866", on="2024-05-30",
                last_day_before="2024-05-29")

    fetched = fred_source(fake).fetch("GDPC1", since=None, ts_init=7)

    assert fetched.records == [
        MacroObservation(ts_event=_end_of_day_ns("2024-04-25"), ts_init=7, source="fred",
                         series="GDPC1", date=dt.date(2024, 1, 1),
                         realtime_start=dt.date(2024, 4, 25), value=22758.752,
                         unit="bn chained 2017 USD"),
        MacroObservation(ts_event=_end_of_day_ns("2024-05-30"), ts_init=7, source="fred",
                         series="GDPC1", date=dt.date(2024, 1, 1),
                         realtime_start=dt.date(2024, 5, 30), value=22768.866,
                         unit="bn chained 2017 USD"),
    ]


def test_a_vintage_before_1970_is_dated_at_the_epoch(fake: FakeFred) -> None:
    fake.add("GNPCA", "1958-01-01", "2500.1", "1959-07-20")

    (record,) = fred_source(fake).fetch("GNPCA", since=None, ts_init=7).records

    assert record.ts_event == 0 and record.realtime_start == dt.date(1959, 7, 20)


def test_missing_values_are_counted_and_give_no_record(fake: FakeFred) -> None:
    fake.add("DGS10", "2024-01-01", ".", "2024-01-02")  # a holiday
    fake.add("DGS10", "2024-01-02", "3.95", "2024-01-03")

    fetched = fred_source(fake).fetch("DGS10", since=None, ts_init=7)

    assert [r.date for r in fetched.records] == [dt.date(2024, 1, 2)] and fetched.missing == 1


def test_since_limits_the_periods_not_the_vintages(fake: FakeFred) -> None:
    fake.add("DGS10", "2019-12-31", "1.92", "2020-01-02")
    fake.add("DGS10", "2020-01-02", "1.88", "2020-01-03")

    fetched = fred_source(fake).fetch("DGS10", since=dt.date(2020, 1, 1), ts_init=7)

    assert [r.date for r in fetched.records] == [dt.date(2020, 1, 2)]
    (request,) = [q for q in fake.requests if q.path == OBSERVATIONS]
    assert request.params["observation_start"] == "2020-01-01"
    assert request.params["realtime_start"] == "1776-07-04"


def _drop_date_of_first_row(doc: dict) -> dict:
    if doc["offset"] == 2:
        del doc["observations"][0]["date"]
    return doc


def _empty_last_page(doc: dict) -> dict:
    if doc["offset"] == 2:
        doc["observations"] = []  # the count still says 4
    return doc


def _offset_ignored(doc: dict) -> dict:
    """Every page is the first, as a server ignoring `offset` would send."""
    doc["observations"] = [{"realtime_start": f"2024-01-0{day + 1}", "realtime_end": OPEN_END,
                            "date": f"2024-01-0{day}", "value": "4.0"} for day in (1, 2)]
    return doc


@pytest.mark.parametrize(("tamper", "error"), [
    (_drop_date_of_first_row,
     r"FRED DGS10 series/observations \(offset 2\): malformed payload: "
     r"observations.0.date: Field required"),
    (_empty_last_page,
     r"FRED DGS10 series/observations: the count says 4 items, the page at offset 2 has none "
     r"\(partial payload\)"),
    (_offset_ignored, r"FRED DGS10 series/observations: pages repeat observations"),
    (lambda doc: b'{"count": 4, "observations": [',
     r"FRED DGS10 series/observations \(offset 0\): response is not JSON"),
    (lambda doc: {**doc, "observations": [{**doc["observations"][0], "value": "n/a"}]},
     r"FRED DGS10 2024-01-01 \(vintage 2024-01-02\): value 'n/a' is not a number"),
])
def test_a_malformed_or_partial_payload_fails_the_whole_series(fake: FakeFred, tamper,  # type: ignore[no-untyped-def]
                                                               error: str) -> None:
    for day in range(1, 5):
        fake.add("DGS10", f"2024-01-0{day}", "4.0", f"2024-01-0{day + 1}")
    fake.tamper["DGS10"] = tamper

    with pytest.raises(PayloadError, match=error):
        fred_source(fake, page_size=2).fetch("DGS10", since=None, ts_init=7)


def test_an_unknown_series_is_an_error_with_freds_message(fake: FakeFred) -> None:
    with pytest.raises(FetchError, match=r"HTTP 400: .*The series does not exist"):
        fred_source(fake).fetch("NOPE", since=None, ts_init=7)
