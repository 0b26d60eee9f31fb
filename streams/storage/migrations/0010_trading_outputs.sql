-- 0010 trading outputs: a table for every catalog model the next engines publish, so an engine
-- that writes an existing topic needs no migration (streams/schema/storage.py names each
-- model's table and key; the sink writes `time` and every wire field under its own name).
--
-- Same conventions as 0001 and 0002: exact `ts_event` / `ts_init` integers, a stored `time`
-- checked against ns_to_timestamptz(ts_event), primary keys that are the record's natural,
-- deterministic identity and include `time`, prices and money numeric (exact, as on the
-- wire), sizes bigint, named numbers (a dict on the wire) jsonb. Orders and executions are
-- trading records: no retention policy drops them; the rest follow the reading retention.

-- market.executions: fills of our orders as the broker reported them.
CREATE TABLE executions (
    time        timestamptz NOT NULL,
    exec_id     text        NOT NULL,
    ts_event    bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init     bigint      NOT NULL CHECK (ts_init >= 0),
    order_id    text        NOT NULL,
    account     text        NOT NULL,
    symbol      text        NOT NULL,
    side        text        NOT NULL CHECK (side IN ('buy', 'sell')),
    price       numeric     NOT NULL,
    quantity    bigint      NOT NULL CHECK (quantity > 0),
    commission  numeric     NOT NULL,
    venue       text,
    PRIMARY KEY (exec_id, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

-- market.macro: observations of macro series; `time` is the publication.
CREATE TABLE macro_observations (
    time      timestamptz      NOT NULL,
    series    text             NOT NULL,
    ts_event  bigint           NOT NULL CHECK (ts_event >= 0),
    ts_init   bigint           NOT NULL CHECK (ts_init >= 0),
    value     double precision NOT NULL,
    unit      text,
    source    text,
    PRIMARY KEY (series, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

-- logic.features: named numeric features of a symbol at one instant.
CREATE TABLE features (
    time      timestamptz NOT NULL,
    symbol    text        NOT NULL,
    ts_event  bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init   bigint      NOT NULL CHECK (ts_init >= 0),
    "values"  jsonb       NOT NULL,
    PRIMARY KEY (symbol, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

-- logic.signals: a strategy's direction and strength for a symbol.
CREATE TABLE signals (
    time       timestamptz      NOT NULL,
    signal_id  text             NOT NULL,
    ts_event   bigint           NOT NULL CHECK (ts_event >= 0),
    ts_init    bigint           NOT NULL CHECK (ts_init >= 0),
    strategy   text             NOT NULL,
    symbol     text             NOT NULL,
    direction  smallint         NOT NULL CHECK (direction IN (-1, 0, 1)),
    strength   double precision NOT NULL,
    PRIMARY KEY (signal_id, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

-- logic.predictions: a model's prediction for a symbol and horizon.
CREATE TABLE predictions (
    time           timestamptz      NOT NULL,
    prediction_id  text             NOT NULL,
    ts_event       bigint           NOT NULL CHECK (ts_event >= 0),
    ts_init        bigint           NOT NULL CHECK (ts_init >= 0),
    model          text             NOT NULL,
    symbol         text             NOT NULL,
    horizon_ns     bigint           NOT NULL CHECK (horizon_ns >= 0),
    value          double precision NOT NULL,
    PRIMARY KEY (prediction_id, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

-- logic.margin: margin and collateral of an account (the topic keeps the latest; the table
-- keeps the history).
CREATE TABLE margin_states (
    time                timestamptz NOT NULL,
    account             text        NOT NULL,
    ts_event            bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init             bigint      NOT NULL CHECK (ts_init >= 0),
    currency            text        NOT NULL,
    equity              numeric     NOT NULL,
    initial_margin      numeric     NOT NULL,
    maintenance_margin  numeric     NOT NULL,
    excess_liquidity    numeric     NOT NULL,
    PRIMARY KEY (account, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

-- logic.orders: orders decided by strategies, before routing.
CREATE TABLE orders (
    time         timestamptz NOT NULL,
    order_id     text        NOT NULL,
    ts_event     bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init      bigint      NOT NULL CHECK (ts_init >= 0),
    strategy     text        NOT NULL,
    account      text        NOT NULL,
    symbol       text        NOT NULL,
    side         text        NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity     bigint      NOT NULL,
    order_type   text        NOT NULL CHECK (order_type IN ('market', 'limit')),
    limit_price  numeric,
    PRIMARY KEY (order_id, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

-- logic.positions: an account's position in a symbol (history of the compacted topic).
CREATE TABLE positions (
    time          timestamptz NOT NULL,
    account       text        NOT NULL,
    symbol        text        NOT NULL,
    ts_event      bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init       bigint      NOT NULL CHECK (ts_init >= 0),
    quantity      bigint      NOT NULL,
    avg_price     numeric     NOT NULL,
    realized_pnl  numeric     NOT NULL,
    PRIMARY KEY (account, symbol, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

-- logic.portfolio: valuation and P&L of an account.
CREATE TABLE portfolio_snapshots (
    time            timestamptz NOT NULL,
    account         text        NOT NULL,
    ts_event        bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init         bigint      NOT NULL CHECK (ts_init >= 0),
    currency        text        NOT NULL,
    equity          numeric     NOT NULL,
    cash            numeric     NOT NULL,
    gross_exposure  numeric     NOT NULL,
    net_exposure    numeric     NOT NULL,
    unrealized_pnl  numeric     NOT NULL,
    realized_pnl    numeric     NOT NULL,
    PRIMARY KEY (account, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

-- With TimescaleDB (where 0006 made the rollups continuous aggregates): hypertables with
-- week-long chunks, compressed chunks segmented and ordered so that each unique key is covered
-- (see 0007).
DO $trading_outputs$
DECLARE
    hypertable record;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('bars_5m')) IS DISTINCT FROM 'v'
    THEN
        RETURN;
    END IF;

    FOR hypertable IN
        SELECT * FROM (VALUES
            ('executions', 'symbol', 'time DESC, exec_id'),
            ('macro_observations', 'series', 'time DESC'),
            ('features', 'symbol', 'time DESC'),
            ('signals', 'symbol', 'time DESC, signal_id'),
            ('predictions', 'symbol', 'time DESC, prediction_id'),
            ('margin_states', 'account', 'time DESC'),
            ('orders', 'symbol', 'time DESC, order_id'),
            ('positions', 'account, symbol', 'time DESC'),
            ('portfolio_snapshots', 'account', 'time DESC')
        ) AS t (name, segment_by, order_by)
    LOOP
        PERFORM create_hypertable(hypertable.name::regclass,
                                  by_range('time', interval '7 days'));
        EXECUTE format('ALTER TABLE %I SET (timescaledb.compress, '
                       'timescaledb.compress_segmentby = %L, timescaledb.compress_orderby = %L)',
                       hypertable.name, hypertable.segment_by, hypertable.order_by);
    END LOOP;
END
$trading_outputs$;

-- The generic API routes list by time: TimescaleDB made these indexes (its default on a
-- hypertable's time column) above; plain PostgreSQL gets them here.
CREATE INDEX IF NOT EXISTS executions_time_idx ON executions (time DESC);
CREATE INDEX IF NOT EXISTS macro_observations_time_idx ON macro_observations (time DESC);
CREATE INDEX IF NOT EXISTS features_time_idx ON features (time DESC);
CREATE INDEX IF NOT EXISTS signals_time_idx ON signals (time DESC);
CREATE INDEX IF NOT EXISTS predictions_time_idx ON predictions (time DESC);
CREATE INDEX IF NOT EXISTS margin_states_time_idx ON margin_states (time DESC);
CREATE INDEX IF NOT EXISTS orders_time_idx ON orders (time DESC);
CREATE INDEX IF NOT EXISTS positions_time_idx ON positions (time DESC);
CREATE INDEX IF NOT EXISTS portfolio_snapshots_time_idx ON portfolio_snapshots (time DESC);
