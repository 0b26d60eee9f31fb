-- 0017 the factor catalog's values (issue 17): logic.factors, one row per symbol and closed
-- 1-minute bar, dated at the bar's end. Same conventions as 0010's features: exact ns
-- integers, a stored `time` checked against ns_to_timestamptz(ts_event), the named values
-- jsonb (a factor without a value is absent from it).

CREATE TABLE factors (
    time      timestamptz NOT NULL,
    symbol    text        NOT NULL,
    ts_event  bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init   bigint      NOT NULL CHECK (ts_init >= 0),
    "values"  jsonb       NOT NULL,
    PRIMARY KEY (symbol, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

DO $factors$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('bars_5m')) IS DISTINCT FROM 'v'
    THEN
        RETURN;
    END IF;
    PERFORM create_hypertable('factors'::regclass, by_range('time', interval '7 days'));
    ALTER TABLE factors SET (timescaledb.compress,
                             timescaledb.compress_segmentby = 'symbol',
                             timescaledb.compress_orderby = 'time DESC');
END
$factors$;

CREATE INDEX IF NOT EXISTS factors_time_idx ON factors (time DESC);
