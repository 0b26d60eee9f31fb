-- 0021 Data beyond the tape (issue 18): market.macro with vintages and market.fundamentals.
-- macro_observations gets its first real shape: one row per source, series, period (`date`)
-- and vintage (`realtime_start`), so a revision is a new row, never an overwrite. Nothing
-- published to market.macro before this migration (no feed wrote it), so its empty table is
-- replaced rather than altered. Both tables keep their rows (no retention): a backtest reads
-- them as of each day. Same conventions as 0010: exact ns integers and a stored `time`
-- checked against ns_to_timestamptz(ts_event), the time the value became known.

DROP TABLE macro_observations;

CREATE TABLE macro_observations (
    time            timestamptz      NOT NULL,
    ts_event        bigint           NOT NULL CHECK (ts_event >= 0),
    ts_init         bigint           NOT NULL CHECK (ts_init >= 0),
    source          text             NOT NULL,
    series          text             NOT NULL,
    date            date             NOT NULL,
    realtime_start  date             NOT NULL,
    value           double precision NOT NULL,
    unit            text,
    PRIMARY KEY (source, series, date, realtime_start, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

CREATE TABLE fundamentals (
    time        timestamptz      NOT NULL,
    ts_event    bigint           NOT NULL CHECK (ts_event >= 0),
    ts_init     bigint           NOT NULL CHECK (ts_init >= 0),
    source      text             NOT NULL,
    symbol      text             NOT NULL,
    field       text             NOT NULL,
    period      text             NOT NULL,
    period_end  date             NOT NULL,
    value       double precision NOT NULL,
    unit        text,
    filed       date             NOT NULL,
    form        text,
    PRIMARY KEY (source, symbol, field, period, period_end, filed, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

DO $macro_fundamentals$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('bars_5m')) IS DISTINCT FROM 'v'
    THEN
        RETURN;
    END IF;
    PERFORM create_hypertable('macro_observations'::regclass,
                              by_range('time', interval '365 days'));
    PERFORM create_hypertable('fundamentals'::regclass, by_range('time', interval '365 days'));
    ALTER TABLE macro_observations SET (timescaledb.compress,
                                        timescaledb.compress_segmentby = 'source, series',
                                        timescaledb.compress_orderby =
                                            'time DESC, date, realtime_start');
    ALTER TABLE fundamentals SET (timescaledb.compress,
                                  timescaledb.compress_segmentby = 'source, symbol',
                                  timescaledb.compress_orderby =
                                      'time DESC, field, period, period_end, filed');
END
$macro_fundamentals$;

-- The API reads a series (or a symbol's figures) as of an instant: newest vintage first.
CREATE INDEX IF NOT EXISTS macro_observations_series_time_idx
    ON macro_observations (series, time DESC);
CREATE INDEX IF NOT EXISTS fundamentals_symbol_time_idx ON fundamentals (symbol, time DESC);
