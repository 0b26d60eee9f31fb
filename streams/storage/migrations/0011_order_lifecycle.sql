-- 0011 order lifecycle: what the trading loop (issue 13) adds to 0010's tables.
--
-- Orders carry their time in force; order state changes (logic.order.events) get a table of
-- their own, kept forever like orders and executions; positions carry their mark and
-- unrealized P&L. Same conventions as 0010.

ALTER TABLE orders
    ADD COLUMN time_in_force text NOT NULL DEFAULT 'GTC'
        CHECK (time_in_force IN ('GTC', 'IOC', 'DAY'));

ALTER TABLE positions
    ADD COLUMN mark            numeric,
    ADD COLUMN unrealized_pnl  numeric NOT NULL DEFAULT 0;

-- logic.order.events: an order's state changes at the venue.
CREATE TABLE order_events (
    time             timestamptz NOT NULL,
    event_id         text        NOT NULL,
    ts_event         bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init          bigint      NOT NULL CHECK (ts_init >= 0),
    order_id         text        NOT NULL,
    strategy         text        NOT NULL,
    account          text        NOT NULL,
    symbol           text        NOT NULL,
    state            text        NOT NULL CHECK (state IN ('submitted', 'accepted', 'rejected',
                                     'partially_filled', 'filled', 'canceled', 'expired')),
    filled_quantity  bigint      NOT NULL CHECK (filled_quantity >= 0),
    leaves_quantity  bigint      NOT NULL CHECK (leaves_quantity >= 0),
    avg_fill_price   numeric,
    reason           text,
    PRIMARY KEY (event_id, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

DO $order_lifecycle$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('bars_5m')) IS DISTINCT FROM 'v'
    THEN
        RETURN;
    END IF;
    PERFORM create_hypertable('order_events'::regclass, by_range('time', interval '7 days'));
    ALTER TABLE order_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol',
                                  timescaledb.compress_orderby = 'time DESC, event_id');
END
$order_lifecycle$;

CREATE INDEX IF NOT EXISTS order_events_time_idx ON order_events (time DESC);
