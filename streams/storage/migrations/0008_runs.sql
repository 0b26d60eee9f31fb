-- 0008 runs: keys and indexes for a database that holds several runs of the log.
--
-- A log that starts afresh (the embedded broker of `up` keeps it in memory; a topic deleted
-- and created again on Redpanda) starts its offsets, and the engines their per-symbol
-- sequences (VPIN buckets), at the beginning again, while the database keeps the earlier
-- runs (`up --keep-data`, a DATABASE_URL of the user's). The API therefore orders by event
-- time, with the sequence only as a tie-breaker, and no key may be one that a later run
-- reuses for another record.

-- vpin_readings: readings by event time per symbol (the series, the newest per symbol).
CREATE INDEX vpin_readings_symbol_time_idx ON vpin_readings (symbol, time, bucket);

-- dead_letters: a source offset is another record in another run; the source record's
-- timestamp tells them apart (a re-delivered bad record has the same one: still one row).
ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_pkey;
ALTER TABLE dead_letters ADD PRIMARY KEY (source_topic, source_partition, source_offset, time);

-- engine_health: /api/v1/engines reads the reports of a recent window only. TimescaleDB made
-- this index (its default on a hypertable's time column) in 0006; plain PostgreSQL gets it here.
CREATE INDEX IF NOT EXISTS engine_health_time_idx ON engine_health (time DESC);
