"""Binds pure engines to Faust: agents, micro-batches, state tables, health.

See :mod:`streams.runtime.binding` for the per-batch protocol and
:mod:`streams.runtime.app` for how a worker's Faust app is assembled.
"""
