-- 0004 bar rollups: 5-minute, 1-hour and 1-day bars rolled up from bars_1m.
--
-- `time` is the bucket's start, aligned to the epoch in UTC (`date_bin(width, time, 'epoch')`;
-- a day starts at UTC midnight). open = the first 1-minute open of the bucket, close = the last
-- close, high/low = their max/min, volume and trade_count = sums, vwap = the volume-weighted
-- mean of the 1-minute vwaps. The sink keeps these tables current: in the transaction that
-- upserts 1-minute bars it recomputes every (symbol, bucket) those bars touch from bars_1m,
-- so a re-delivered or corrected bar leaves the rollups exact.
CREATE TABLE bars_5m (
    time         timestamptz      NOT NULL,
    symbol       text             NOT NULL,
    open         numeric          NOT NULL,
    high         numeric          NOT NULL,
    low          numeric          NOT NULL,
    close        numeric          NOT NULL,
    volume       bigint           NOT NULL CHECK (volume > 0),
    trade_count  bigint           NOT NULL CHECK (trade_count > 0),
    vwap         double precision NOT NULL,
    PRIMARY KEY (symbol, time)
);
CREATE TABLE bars_1h (LIKE bars_5m INCLUDING ALL);
CREATE TABLE bars_1d (LIKE bars_5m INCLUDING ALL);
