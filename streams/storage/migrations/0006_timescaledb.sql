-- 0006 TimescaleDB: hypertables and continuous aggregates, where the extension can be loaded.
--
-- With TimescaleDB (the compose stack's database): the time-series tables become hypertables
-- partitioned by `time`, with columnstore compression settings (segmented by symbol or engine,
-- ordered by time), and bars_5m / bars_1h / bars_1d become continuous aggregates of bars_1m
-- with real-time aggregation on (materialized buckets plus the newest 1-minute bars, so a
-- query sees the same rows as the plain tables would). Same names, same columns, same rows.
-- Policies (compression, retention, aggregate refresh) depend on configurable horizons, so
-- they are not here: `nautilus-streams db migrate` and `up` set them after migrating
-- (streams/storage/timescale.py).
--
-- Without it (the embedded PostgreSQL of `up` and CI): nothing changes; the tables of 0001 to
-- 0004 stay plain and the sink keeps the rollup tables current (streams/sink/rollups.py).
-- Which path a database took is fixed here, once: a database migrated without TimescaleDB
-- stays plain even if the extension is installed later.
--
-- dead_letters stays a plain table: it is keyed by source record, not by time.
DO $timescaledb$
DECLARE
    hypertable record;
    rollup record;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'timescaledb') THEN
        IF NOT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'timescaledb') THEN
            RAISE NOTICE 'timescaledb is not available: plain tables, rollups kept by the sink';
            RETURN;
        END IF;
        BEGIN
            CREATE EXTENSION timescaledb;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'timescaledb is installed but cannot be loaded (%): plain tables, '
                'rollups kept by the sink', SQLERRM;
            RETURN;
        END;
    END IF;

    FOR hypertable IN
        SELECT * FROM (VALUES
            ('trades', interval '1 day', 'symbol'),
            ('bars_1m', interval '7 days', 'symbol'),
            ('vpin_readings', interval '7 days', 'symbol'),
            ('microstructure_features', interval '1 day', 'symbol'),
            ('alerts', interval '30 days', 'kind'),
            ('engine_health', interval '1 day', 'engine, worker')
        ) AS t (name, chunk, segment_by)
    LOOP
        PERFORM create_hypertable(hypertable.name::regclass,
                                  by_range('time', hypertable.chunk), migrate_data => true);
        EXECUTE format('ALTER TABLE %I SET (timescaledb.compress, '
                       'timescaledb.compress_segmentby = %L, timescaledb.compress_orderby = %L)',
                       hypertable.name, hypertable.segment_by, 'time DESC');
    END LOOP;

    -- The same definition as streams/sink/rollups.py: first open, max high, min low, last
    -- close, summed volume and trade count, volume-weighted vwap; buckets aligned to the epoch
    -- in UTC (time_bucket's default origin is a UTC midnight, so 5m, 1h and 1d agree with
    -- date_bin(width, time, 'epoch')).
    DROP TABLE bars_5m, bars_1h, bars_1d;
    FOR rollup IN
        SELECT * FROM (VALUES
            ('bars_5m', interval '5 minutes'), ('bars_1h', interval '1 hour'),
            ('bars_1d', interval '1 day')
        ) AS r (name, width)
    LOOP
        EXECUTE format($view$
            CREATE MATERIALIZED VIEW %I
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket(%L::interval, time) AS time, symbol,
                   first(open, time) AS open, max(high) AS high, min(low) AS low,
                   last(close, time) AS close, sum(volume)::bigint AS volume,
                   sum(trade_count)::bigint AS trade_count,
                   sum(vwap * volume) / sum(volume) AS vwap
            FROM bars_1m
            GROUP BY time_bucket(%L::interval, time), symbol
            WITH NO DATA
        $view$, rollup.name, rollup.width, rollup.width);
    END LOOP;
END
$timescaledb$;
