-- 0002 engine outputs: tables for what the VPIN, microstructure and risk engines publish.
--
-- Same conventions as 0001: exact `ts_event` / `ts_init` integers, a stored `time` column
-- checked against ns_to_timestamptz(ts_event), and primary keys that are the natural,
-- deterministic identity of a record and include `time`, so the sink's re-delivered batches
-- change nothing and each table can become a hypertable unchanged.

-- logic.engine.health: `lag` is null until a worker knows where its partitions end
-- (EngineHealth.lag is optional on the wire).
ALTER TABLE engine_health ALTER COLUMN lag DROP NOT NULL;

-- logic.vpin: one reading per completed volume bucket of a symbol.
CREATE TABLE vpin_readings (
    time           timestamptz      NOT NULL,
    symbol         text             NOT NULL,
    bucket         bigint           NOT NULL CHECK (bucket >= 0),
    ts_event       bigint           NOT NULL CHECK (ts_event >= 0),
    ts_init        bigint           NOT NULL CHECK (ts_init >= 0),
    bucket_volume  bigint           NOT NULL CHECK (bucket_volume > 0),
    buy_volume     double precision NOT NULL,
    sell_volume    double precision NOT NULL,
    vpin           double precision,
    vpin_cdf       double precision,
    PRIMARY KEY (symbol, bucket, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

-- logic.microstructure: order-book features of a symbol at one instant.
CREATE TABLE microstructure_features (
    time          timestamptz      NOT NULL,
    symbol        text             NOT NULL,
    ts_event      bigint           NOT NULL CHECK (ts_event >= 0),
    ts_init       bigint           NOT NULL CHECK (ts_init >= 0),
    spread        double precision,
    mid           double precision,
    microprice    double precision,
    imbalance_1   double precision NOT NULL,
    imbalance_5   double precision NOT NULL,
    imbalance_10  double precision NOT NULL,
    bid_depth     bigint[]         NOT NULL,
    ask_depth     bigint[]         NOT NULL,
    pressure      double precision NOT NULL,
    PRIMARY KEY (symbol, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

-- logic.risk.alerts: an alert's transitions; one row per (alert, state).
CREATE TABLE alerts (
    time      timestamptz NOT NULL,
    alert_id  text        NOT NULL,
    state     text        NOT NULL CHECK (state IN ('raised', 'cleared')),
    ts_event  bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init   bigint      NOT NULL CHECK (ts_init >= 0),
    kind      text        NOT NULL,
    severity  text        NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    symbol    text,
    message   text        NOT NULL,
    "values"  jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (alert_id, state, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);
CREATE INDEX alerts_symbol_time_idx ON alerts (symbol, time DESC);
