-- 0014 performance analytics (issue 15): logic.analytics, one row per account, figure set
-- (`performance`, `rolling`) and instant. Same conventions as 0010: exact ns integers, a
-- stored `time` checked against ns_to_timestamptz(ts_event), named numbers jsonb (null where a
-- figure is undefined). The topic's records were keyed by symbol before; none were stored.

CREATE TABLE analytics_results (
    time            timestamptz NOT NULL,
    account         text        NOT NULL,
    name            text        NOT NULL,
    ts_event        bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init         bigint      NOT NULL CHECK (ts_init >= 0),
    period_seconds  integer     NOT NULL CHECK (period_seconds > 0),
    periods         integer     NOT NULL CHECK (periods >= 0),
    final           boolean     NOT NULL,
    "values"        jsonb       NOT NULL,
    PRIMARY KEY (account, name, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

DO $analytics$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('bars_5m')) IS DISTINCT FROM 'v'
    THEN
        RETURN;
    END IF;
    PERFORM create_hypertable('analytics_results'::regclass, by_range('time', interval '30 days'));
    ALTER TABLE analytics_results SET (timescaledb.compress,
                                       timescaledb.compress_segmentby = 'account',
                                       timescaledb.compress_orderby = 'time DESC, name');
END
$analytics$;

CREATE INDEX IF NOT EXISTS analytics_results_time_idx ON analytics_results (time DESC);
