-- 0018 the daily factor model (issue 17, section 2): logic.factor.returns, one row per model
-- and day (the factor returns and the EWMA factor covariance as of the day, named numbers
-- jsonb), and logic.factor.exposures, one row per model, symbol and day (style exposures
-- jsonb, residual return and its EWMA variance). `time` is the end of the UTC `day` (the
-- next midnight), checked against ns_to_timestamptz(ts_event) as in 0010; a later fit of a
-- day replaces its rows.
CREATE TABLE factor_returns (
    time        timestamptz NOT NULL,
    ts_event    bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init     bigint      NOT NULL CHECK (ts_init >= 0),
    model       text        NOT NULL,
    day         date        NOT NULL,
    returns     jsonb       NOT NULL,
    covariance  jsonb       NOT NULL,
    symbols     integer     NOT NULL CHECK (symbols > 0),
    PRIMARY KEY (model, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

CREATE TABLE factor_exposures (
    time               timestamptz      NOT NULL,
    ts_event           bigint           NOT NULL CHECK (ts_event >= 0),
    ts_init            bigint           NOT NULL CHECK (ts_init >= 0),
    model              text             NOT NULL,
    symbol             text             NOT NULL,
    day                date             NOT NULL,
    sector             text             NOT NULL,
    market_cap         double precision NOT NULL CHECK (market_cap > 0),
    exposures          jsonb            NOT NULL,
    residual           double precision NOT NULL,
    specific_variance  double precision NOT NULL CHECK (specific_variance >= 0),
    PRIMARY KEY (model, symbol, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

DO $factor_model$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('bars_5m')) IS DISTINCT FROM 'v'
    THEN
        RETURN;
    END IF;
    PERFORM create_hypertable('factor_returns'::regclass, by_range('time', interval '365 days'));
    PERFORM create_hypertable('factor_exposures'::regclass,
                              by_range('time', interval '90 days'));
    ALTER TABLE factor_returns SET (timescaledb.compress,
                                    timescaledb.compress_segmentby = 'model',
                                    timescaledb.compress_orderby = 'time DESC');
    ALTER TABLE factor_exposures SET (timescaledb.compress,
                                      timescaledb.compress_segmentby = 'model, symbol',
                                      timescaledb.compress_orderby = 'time DESC');
END
$factor_model$;

CREATE INDEX IF NOT EXISTS factor_returns_time_idx ON factor_returns (time DESC);
CREATE INDEX IF NOT EXISTS factor_exposures_time_idx ON factor_exposures (time DESC);
CREATE INDEX IF NOT EXISTS factor_exposures_symbol_time_idx
    ON factor_exposures (symbol, time DESC);
