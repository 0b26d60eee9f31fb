"""The sink: catalog topics that have a table, written to PostgreSQL in idempotent batches.

`tables` maps value models to tables (from each model's storage descriptor, `Model.STORED`)
and records to rows, `batch` validates a consumed batch (bad records become dead letters),
`writer` does COPY + INSERT ... ON CONFLICT in one transaction, `health` reports on
logic.engine.health, `runner` is the consume/write/commit loop, `reset` empties what the sink
wrote (for `up`, whose embedded log starts empty every time).
"""
