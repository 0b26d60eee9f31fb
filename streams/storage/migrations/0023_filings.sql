-- 0023 SEC filings (issue 18): market.filings, EDGAR's filings list of each ticker.
-- One row per filing (accession number) and the time EDGAR accepted it. No retention.
-- Same conventions as 0021: exact ns integers and a stored `time` checked against
-- ns_to_timestamptz(ts_event).

CREATE TABLE filings (
    time              timestamptz NOT NULL,
    ts_event          bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init           bigint      NOT NULL CHECK (ts_init >= 0),
    source            text        NOT NULL,
    symbol            text        NOT NULL,
    cik               bigint      NOT NULL CHECK (cik >= 1),
    accession         text        NOT NULL,
    form              text        NOT NULL,
    filed             date        NOT NULL,
    report_date       date,
    primary_document  text,
    description       text,
    items             text,
    PRIMARY KEY (source, accession, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

DO $filings$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('bars_5m')) IS DISTINCT FROM 'v'
    THEN
        RETURN;
    END IF;
    PERFORM create_hypertable('filings'::regclass, by_range('time', interval '365 days'));
    ALTER TABLE filings SET (timescaledb.compress,
                             timescaledb.compress_segmentby = 'source, symbol',
                             timescaledb.compress_orderby = 'time DESC, accession');
END
$filings$;

-- The API lists a company's filings, newest first.
CREATE INDEX IF NOT EXISTS filings_symbol_time_idx ON filings (symbol, time DESC);
