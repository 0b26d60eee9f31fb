-- 0009 trade flags: the Trade model carries `unreported` (a print outside the regular tape:
-- IB's odd lots, combos, derivative and average-price trades) and `conditions` (the venue's
-- sale-condition codes as sent). The bars and VPIN engines leave unreported prints out by
-- default; the trades table keeps every print with its flags, so the API can say which is
-- which. Records written before the flags existed are regular trades (false / null), as on
-- the wire. Adding a column with a constant default is a catalog change on both paths
-- (compressed TimescaleDB chunks included): no table rewrite.
ALTER TABLE trades
    ADD COLUMN unreported boolean NOT NULL DEFAULT false,
    ADD COLUMN conditions text;
