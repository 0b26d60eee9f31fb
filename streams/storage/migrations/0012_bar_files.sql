-- 0012 bar files: 1-minute bars without a trade count or vwap.
--
-- Bars read from bar files (OHLCV, issue 13) carry no trade count and no vwap: both become
-- nullable in bars_1m (the bars engine still fills them). A rollup's trade_count and vwap
-- are known only where every 1-minute bar of its bucket has them: a bucket with a bar
-- lacking one has NULL there, never a sum or mean over part of its minutes. open, high,
-- low, close and volume are rolled up as before.
--
-- Plain PostgreSQL (the sink keeps the rollups, streams/sink/rollups.py): the rollup tables'
-- columns become nullable too. TimescaleDB: a continuous aggregate's query cannot be
-- altered, so bars_5m / bars_1h / bars_1d are dropped and created again with the definition
-- above and 0007's compression settings; `db migrate` then materializes them from bars_1m
-- and sets their policies again (streams/storage/timescale.py). A rollup bucket older than
-- the oldest 1-minute bar left (retention dropped its bars, the aggregate kept it) could not
-- be rebuilt: the migration stops instead, naming the rollup, and changes nothing.
ALTER TABLE bars_1m ALTER COLUMN trade_count DROP NOT NULL, ALTER COLUMN vwap DROP NOT NULL;

DO $bar_files$
DECLARE
    rollup record;
    oldest timestamptz;
    lost bigint;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('bars_5m')) IS DISTINCT FROM 'v'
    THEN
        ALTER TABLE bars_5m ALTER COLUMN trade_count DROP NOT NULL,
                            ALTER COLUMN vwap DROP NOT NULL;
        ALTER TABLE bars_1h ALTER COLUMN trade_count DROP NOT NULL,
                            ALTER COLUMN vwap DROP NOT NULL;
        ALTER TABLE bars_1d ALTER COLUMN trade_count DROP NOT NULL,
                            ALTER COLUMN vwap DROP NOT NULL;
        RETURN;
    END IF;

    oldest := (SELECT min(time) FROM bars_1m);
    FOR rollup IN
        SELECT * FROM (VALUES
            ('bars_5m', interval '5 minutes'), ('bars_1h', interval '1 hour'),
            ('bars_1d', interval '1 day')
        ) AS r (name, width)
    LOOP
        EXECUTE format('SELECT count(*) FROM %I '
                       'WHERE time < coalesce(time_bucket($1, $2), ''infinity'')', rollup.name)
            INTO lost USING rollup.width, oldest;
        IF lost > 0 THEN
            RAISE EXCEPTION '% holds % bucket(s) before the oldest 1-minute bar (%), which '
                'migration 0012 cannot rebuild from bars_1m; copy them elsewhere and delete '
                'them, then migrate again', rollup.name, lost, coalesce(oldest::text, 'none');
        END IF;
        EXECUTE format('DROP MATERIALIZED VIEW %I', rollup.name);
        -- As 0006, but trade_count and vwap only where every minute of the bucket has them.
        EXECUTE format($view$
            CREATE MATERIALIZED VIEW %I
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket(%L::interval, time) AS time, symbol,
                   first(open, time) AS open, max(high) AS high, min(low) AS low,
                   last(close, time) AS close, sum(volume)::bigint AS volume,
                   CASE WHEN count(trade_count) = count(*)
                        THEN sum(trade_count) END::bigint AS trade_count,
                   CASE WHEN count(vwap) = count(*)
                        THEN sum(vwap * volume) / sum(volume) END AS vwap
            FROM bars_1m
            GROUP BY time_bucket(%L::interval, time), symbol
            WITH NO DATA
        $view$, rollup.name, rollup.width, rollup.width);
        EXECUTE format('ALTER MATERIALIZED VIEW %I SET (timescaledb.compress = true, '
                       'timescaledb.compress_segmentby = %L, timescaledb.compress_orderby = %L)',
                       rollup.name, 'symbol', 'time DESC');
    END LOOP;
END
$bar_files$;
