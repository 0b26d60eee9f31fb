-- 0016 How often `up` restarted the process that made a health report (`restarts`: 0 for a
-- first start, and for processes that no supervisor restarts).
ALTER TABLE engine_health ADD COLUMN restarts integer NOT NULL DEFAULT 0;
