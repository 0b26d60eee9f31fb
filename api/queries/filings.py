"""A company's SEC filings (table filings), newest first, as known at an instant.

A row is one filing (its accession number) of one source and the `time` EDGAR accepted it,
which is when it became known: a filing is listed as of any instant from its acceptance on.
The list runs newest first, by time and then accession and source (the rows' key), on
filings_symbol_time_idx.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from api.queries import dated_known_at, fetch_rows

COLUMNS = sql.SQL("source, symbol, cik, accession, form, filed, report_date, primary_document, "
                  "description, items, time, ts_event")
ARCHIVE_URL = "https://www.sec.gov/Archives/edgar/data"


def document_url(cik: int, accession: str, primary_document: str | None) -> str | None:
    """Where a filing's main document is on EDGAR; None without one. A form 4's document
    name holds a folder (`xslF345X05/form4.xml`): its slash stays one."""
    if primary_document is None:
        return None
    return f"{ARCHIVE_URL}/{cik}/{accession.replace('-', '')}/{quote(primary_document)}"



async def filings(
    conn: psycopg.AsyncConnection, symbol: str, source: str | None, forms: Sequence[str],
    lo: date | None, hi: date | None, as_of_ns: int | None,
    after: tuple[datetime, str, str] | None, limit: int,
) -> list[dict[str, Any]]:
    """Up to `limit` filings of `symbol` (of `source` only, when given; of `forms` only,
    when any) filed in [lo, hi) and accepted by `as_of_ns` (None: all stored), newest first
    (time descending, then accession and source) after the cursor's key (those three), each
    with the `url` of its main document."""
    filters: list[sql.Composable] = [sql.SQL("symbol = %(symbol)s")]
    if source is not None:
        filters.append(sql.SQL("source = %(source)s"))
    if forms:
        filters.append(sql.SQL("form = ANY(%(forms)s)"))
    dated, params = dated_known_at("filed", lo, hi, as_of_ns)
    filters += dated
    params |= {"symbol": symbol, "source": source, "forms": list(forms), "n": limit}
    if after is not None:
        # the plain bound on time lets the index scan start at the cursor
        filters.append(sql.SQL("time <= %(a_time)s AND (time < %(a_time)s OR "
                               "(accession, source) > (%(a_accession)s, %(a_source)s))"))
        params |= dict(zip(("a_time", "a_accession", "a_source"), after, strict=True))
    query = sql.SQL("SELECT {columns} FROM filings WHERE {filters} "
                    "ORDER BY time DESC, accession, source LIMIT %(n)s").format(
        columns=COLUMNS, filters=sql.SQL(" AND ").join(filters))
    rows = await fetch_rows(conn, query, params)
    for row in rows:
        row["url"] = document_url(row["cik"], row["accession"], row["primary_document"])
    return rows
