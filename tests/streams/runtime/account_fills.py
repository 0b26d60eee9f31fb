"""A test engine keyed by account, fed by market.executions (keyed by symbol), and a worker
that runs it: `python -m tests.streams.runtime.account_fills` (settings from the environment,
like `nautilus-streams worker`).

The engine is not a product engine, so it is not in the registry; this entry point builds the
worker's app with it directly, through the same `build_app` the CLI uses.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
from pydantic import BaseModel, ConfigDict

from processors.base import Columns, Emit, Engine, State, handles
from streams.schema import AnalyticsResult
from streams.settings import EngineParams

FIELDS = ("fills", "quantity", "notional_cents")


class AccountFillsParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AccountFillsEngine(Engine):
    """Per account: fills, quantity and notional (cents) of its executions; after each batch,
    one logic.analytics record per account the batch touched, with its totals."""

    name = "account_fills"
    outputs = ("logic.analytics",)
    key_field = "account"
    params_model = AccountFillsParams

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._totals: dict[str, dict[str, int]] = {}

    @handles("market.executions")
    def on_executions(self, columns: Columns) -> list[Emit]:
        accounts = columns["account"]
        notional = np.rint(columns["price"] * 100).astype(np.int64) * columns["quantity"]
        emits = []
        for account in sorted(set(accounts.tolist())):
            mine = accounts == account
            totals = self._totals.setdefault(account, dict.fromkeys(FIELDS, 0))
            totals["fills"] += int(mine.sum())
            totals["quantity"] += int(columns["quantity"][mine].sum())
            totals["notional_cents"] += int(notional[mine].sum())
            self.mark_dirty(account)
            ts = int(columns["ts_event"][mine].max())
            result = AnalyticsResult(ts_event=ts, ts_init=ts, account=account,
                                     name="account_fills", period_seconds=1, periods=0,
                                     values={k: float(v) for k, v in totals.items()})
            emits.append(Emit("logic.analytics", account, result))
        return emits

    def keys(self) -> list[str]:
        return list(self._totals)

    def snapshot(self, key: str) -> State:
        return dict(self._totals[key])

    def restore(self, key: str, state: State) -> None:
        self._totals[key] = {k: int(state[k]) for k in FIELDS}

    def forget(self, key: str) -> None:
        self._totals.pop(key, None)


class AccountFillsEngineParams(EngineParams):
    account_fills: AccountFillsParams = AccountFillsParams()


def main() -> None:
    import faust

    from streams.catalog import Catalog
    from streams.endpoints import reachable_kafka_brokers
    from streams.runtime.app import build_app
    from streams.settings import get_settings

    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("aiokafka", "faust", "mode", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    brokers = reachable_kafka_brokers(settings)
    app, _ = build_app(settings, brokers, Catalog.load(settings.topics_file),
                       [AccountFillsEngine], AccountFillsEngineParams())
    faust.Worker(app, loglevel=settings.log_level, override_logging=False, quiet=True
                 ).execute_from_commandline()


if __name__ == "__main__":
    main()
