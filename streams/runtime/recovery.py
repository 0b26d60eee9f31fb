"""Faust's table manager with one race closed: records dropped while streams resume.

When a worker (re)starts or a rebalance ends, Faust (faust-streaming 0.15) resumes the input
partitions, awaits a seek to the committed offsets, then resumes flow control, which clears
every stream's queue. By then the consumer's flow is already running (Faust resumed it
earlier to read changelogs), so during the awaited seek the fetcher delivers records into the
queues: the first ones reach the agent, the rest are cleared, and the fetcher goes on after
them. Those records are never processed (seen here: a restarted worker processed offsets 0-19
of a partition, then 61 onwards), and their offsets are committed with the later ones.

`SeekSafeTableManager` stops the consumer's flow before Faust resumes the streams, so nothing
is delivered between the seek and the clear; Faust's own resume then starts it again from the
committed offsets. Passed to `faust.App(TableManager=...)`.
"""

from __future__ import annotations

from faust.tables import TableManager
from faust.tables.recovery import Recovery


class SeekSafeRecovery(Recovery):
    """Recovery that holds the consumer's flow until streams are seeked and queues cleared."""

    def _hold_streams(self) -> None:
        self.app.consumer.stop_flow()  # in-flight deliveries are cancelled, fetching waits
        self.app.flow_control.suspend()

    async def _resume_streams(self, generation_id: int = 0) -> None:
        self._hold_streams()
        await super()._resume_streams(generation_id)

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        self._hold_streams()
        await super().on_recovery_completed(generation_id)


class SeekSafeTableManager(TableManager):
    """TableManager whose recovery is `SeekSafeRecovery`."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekSafeRecovery(
                self.app, self, beacon=self.beacon, loop=self.loop
            )
        return self._recovery
