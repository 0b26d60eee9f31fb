-- 0005 API indexes: what the API sorts on beyond the primary keys.
--
-- /api/v1/alerts lists every symbol's transitions by (time, alert_id, state); one symbol's
-- use alerts_symbol_time_idx from 0002.
CREATE INDEX alerts_time_idx ON alerts (time, alert_id, state);
