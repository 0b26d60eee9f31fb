-- 0007 TimescaleDB keys: compression settings that cover each table's unique key, one unique
-- key per table, and compressible rollups.
--
-- bars_1m drops UNIQUE (bar_id, time), on both paths so the schemas stay the same: bar_id is
-- `symbol@1m@start_ns` by the wire contract (streams/schema/market.py), so the primary key
-- (symbol, time) already identifies a bar. With two unique indexes, TimescaleDB checking an
-- upsert into a compressed chunk can only filter batches on the columns both keys share
-- (time), and decompressed the batch of every symbol in that chunk with a bar at that minute.
--
-- With TimescaleDB: every column of each unique key is a segmentby or an orderby column, so a
-- conflict check on a compressed chunk reads only the batches whose segment and min/max
-- metadata can hold the key (0006 left trade_uid, bar_id, bucket, alert_id and state out,
-- and TimescaleDB warned "column ... should be used for segmenting or ordering"). Chunks
-- compressed before keep their settings until they are recompressed; new ones use these.
-- bars_5m / bars_1h / bars_1d become compressible, segmented by symbol; their compression and
-- retention policies are set with the others (streams/storage/timescale.py).
ALTER TABLE bars_1m DROP CONSTRAINT bars_1m_bar_id_time_key;

DO $timescaledb_keys$
DECLARE
    hypertable record;
    rollup text;
BEGIN
    -- The rollups are continuous aggregates (views) only where 0006 took the TimescaleDB path.
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('bars_5m')) IS DISTINCT FROM 'v'
    THEN
        RETURN;
    END IF;

    FOR hypertable IN
        SELECT * FROM (VALUES
            ('trades', 'symbol', 'time DESC, trade_uid'),
            ('bars_1m', 'symbol', 'time DESC'),
            ('vpin_readings', 'symbol', 'time DESC, bucket'),
            ('microstructure_features', 'symbol', 'time DESC'),
            ('alerts', 'kind', 'time DESC, alert_id, state'),
            ('engine_health', 'engine, worker', 'time DESC')
        ) AS t (name, segment_by, order_by)
    LOOP
        EXECUTE format('ALTER TABLE %I SET (timescaledb.compress_segmentby = %L, '
                       'timescaledb.compress_orderby = %L)',
                       hypertable.name, hypertable.segment_by, hypertable.order_by);
    END LOOP;

    FOREACH rollup IN ARRAY ARRAY['bars_5m', 'bars_1h', 'bars_1d'] LOOP
        EXECUTE format('ALTER MATERIALIZED VIEW %I SET (timescaledb.compress = true, '
                       'timescaledb.compress_segmentby = %L, timescaledb.compress_orderby = %L)',
                       rollup, 'symbol', 'time DESC');
    END LOOP;
END
$timescaledb_keys$;
