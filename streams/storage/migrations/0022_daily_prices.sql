-- 0022 Vendors' daily prices (issue 18): market.prices.1d, Alpha Vantage's daily series.
-- One row per source, symbol, day and the time it became known: the day's unadjusted OHLCV
-- with the dividend and split that take effect on it (NULL where the vendor's series does
-- not say). Adjusted prices are not stored: they are derived as of an instant from these
-- rows, so no row carries what happened after its day. A later correction is a row of its
-- own (a later time). No retention: the daily factor model reads years of history. Same
-- conventions as 0021: exact ns integers and a stored `time` checked against
-- ns_to_timestamptz(ts_event).

CREATE TABLE daily_prices (
    time        timestamptz      NOT NULL,
    ts_event    bigint           NOT NULL CHECK (ts_event >= 0),
    ts_init     bigint           NOT NULL CHECK (ts_init >= 0),
    source      text             NOT NULL,
    symbol      text             NOT NULL,
    date        date             NOT NULL,
    open        numeric          NOT NULL CHECK (open > 0),
    high        numeric          NOT NULL CHECK (high > 0),
    low         numeric          NOT NULL CHECK (low > 0),
    close       numeric          NOT NULL CHECK (close > 0),
    volume      bigint           NOT NULL CHECK (volume >= 0),
    dividend    numeric          CHECK (dividend >= 0),
    split       double precision CHECK (split > 0),
    PRIMARY KEY (source, symbol, date, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

DO $daily_prices$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('bars_5m')) IS DISTINCT FROM 'v'
    THEN
        RETURN;
    END IF;
    PERFORM create_hypertable('daily_prices'::regclass, by_range('time', interval '365 days'));
    ALTER TABLE daily_prices SET (timescaledb.compress,
                                  timescaledb.compress_segmentby = 'source, symbol',
                                  timescaledb.compress_orderby = 'time DESC, date');
END
$daily_prices$;

-- The API reads a symbol's days as of an instant.
CREATE INDEX IF NOT EXISTS daily_prices_symbol_date_idx ON daily_prices (symbol, date, time DESC);
