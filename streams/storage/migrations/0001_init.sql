-- 0001 init: tables for the data that exists on the log today.
--
-- Plain PostgreSQL (runs on the embedded pgserver and on TimescaleDB alike). A later
-- migration turns the time-series tables into hypertables when the extension exists.
--
-- Time: every table keeps the wire's exact integers, `ts_event` / `ts_init` (ns since the
-- epoch), and one `time timestamptz` column: the event time truncated to microseconds, the
-- column queries bucket on (`time_bucket` or `date_bin`) and hypertables partition by.
-- `time` is stored rather than generated because TimescaleDB cannot partition by a generated
-- column; a CHECK keeps it equal to ns_to_timestamptz() of its source.
-- Keys: each primary key is the natural, deterministic identity of a record and includes
-- `time`, so a re-delivered record upserts and a table can become a hypertable unchanged.
-- Money and prices are numeric (exact, as on the wire); sizes and counters bigint.

CREATE FUNCTION ns_to_timestamptz(ns bigint) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT timestamptz 'epoch' + (ns / 1000) * interval '1 microsecond' $$;

COMMENT ON FUNCTION ns_to_timestamptz(bigint) IS
    'ns since the epoch -> timestamptz, truncated to microseconds (how `time` columns are set)';

-- market.trades: every trade print.
CREATE TABLE trades (
    time        timestamptz NOT NULL,
    symbol      text        NOT NULL,
    trade_uid   text        NOT NULL,
    ts_event    bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init     bigint      NOT NULL CHECK (ts_init >= 0),
    price       numeric     NOT NULL,
    size        bigint      NOT NULL CHECK (size > 0),
    aggressor   text        CHECK (aggressor IN ('buy', 'sell')),
    trade_id    text,
    venue       text,
    PRIMARY KEY (symbol, time, trade_uid),
    CHECK (time = ns_to_timestamptz(ts_event))
);
COMMENT ON COLUMN trades.trade_uid IS
    'deterministic id set by the writer: the venue trade id when known, else the record''s '
    'topic/partition/offset, so a re-delivered trade upserts';

-- market.bars.1m: closed 1-minute OHLCV bars; `time` is the bar's start.
CREATE TABLE bars_1m (
    time         timestamptz      NOT NULL,
    symbol       text             NOT NULL,
    bar_id       text             NOT NULL,
    start_ns     bigint           NOT NULL CHECK (start_ns >= 0),
    ts_event     bigint           NOT NULL CHECK (ts_event >= 0),
    ts_init      bigint           NOT NULL CHECK (ts_init >= 0),
    open         numeric          NOT NULL,
    high         numeric          NOT NULL,
    low          numeric          NOT NULL,
    close        numeric          NOT NULL,
    volume       bigint           NOT NULL CHECK (volume > 0),
    trade_count  bigint           NOT NULL CHECK (trade_count > 0),
    vwap         double precision NOT NULL,
    PRIMARY KEY (symbol, time),
    UNIQUE (bar_id, time),
    CHECK (time = ns_to_timestamptz(start_ns)),
    CHECK (low <= open AND low <= close AND high >= open AND high >= close)
);

-- logic.engine.health: one row per engine worker every few seconds.
CREATE TABLE engine_health (
    time           timestamptz NOT NULL,
    engine         text        NOT NULL,
    worker         text        NOT NULL,
    ts_event       bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init        bigint      NOT NULL CHECK (ts_init >= 0),
    status         text        NOT NULL
        CHECK (status IN ('starting', 'running', 'degraded', 'stopped')),
    lag            bigint      NOT NULL,
    events_in      bigint      NOT NULL,
    events_out     bigint      NOT NULL,
    errors         bigint      NOT NULL,
    dead_letters   bigint      NOT NULL,
    last_event_ts  bigint      CHECK (last_event_ts >= 0),
    PRIMARY KEY (engine, worker, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

-- logic.deadletter: records that failed to decode or validate, with the original bytes.
-- Keyed by the source record alone (not by time): a re-delivered bad record is one row.
CREATE TABLE dead_letters (
    source_topic      text        NOT NULL,
    source_partition  integer     NOT NULL CHECK (source_partition >= 0),
    source_offset     bigint      NOT NULL CHECK (source_offset >= 0),
    time              timestamptz NOT NULL,
    ts_event          bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init           bigint      NOT NULL CHECK (ts_init >= 0),
    reason            text        NOT NULL,
    key               bytea,
    value             bytea       NOT NULL,
    PRIMARY KEY (source_topic, source_partition, source_offset),
    CHECK (time = ns_to_timestamptz(ts_event))
);
CREATE INDEX dead_letters_time_idx ON dead_letters (time DESC);
