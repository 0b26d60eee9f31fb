-- 0019 The registry version of the model that made a prediction (the `ml` engine serves the
-- promoted version of a model and switches versions without a restart). Rows stored before
-- this migration have no version.
ALTER TABLE predictions ADD COLUMN version bigint CHECK (version >= 1);
