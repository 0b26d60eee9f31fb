"""Account-level margin alerts with hysteresis, on logic.risk.alerts (symbol None, keyed by
account).

- `margin_call` is raised by a state whose excess liquidity is below 0 and cleared by the
  first state at or above 0 again.
- `margin_call_predicted` is raised when the call probability reaches `predicted_raise` and
  cleared when it falls below `predicted_clear`.

Each episode's id is `<kind>:<account>:<ts_event of the state that raised it>`, on the raise
and on its clear: deterministic, so a re-delivered batch repeats the same ids and a sink that
upserts by id holds each episode's latest state. The decisions are taken on the published
(rounded) figures, so they agree with what a reader of logic.margin sees.
"""

from __future__ import annotations

from decimal import Decimal

from processors.margin.book import Account
from streams.schema import Alert, MarginState

CALL, PREDICTED = "margin_call", "margin_call_predicted"


class MarginAlerts:
    """The raise/clear decisions of both alerts for a sequence of an account's states."""

    def __init__(self, predicted_raise: float, predicted_clear: float) -> None:
        self._raise, self._clear = predicted_raise, predicted_clear

    def update(self, account: Account, state: MarginState) -> list[Alert]:
        """The alerts `state` raises or clears (predicted first), the account's episodes
        updated."""
        alerts = []
        p = state.call_probability
        if account.predicted_since is None and p >= self._raise:
            account.predicted_since = state.ts_event
            alerts.append(self._alert(PREDICTED, True, state, account.predicted_since))
        elif account.predicted_since is not None and p < self._clear:
            alerts.append(self._alert(PREDICTED, False, state, account.predicted_since))
            account.predicted_since = None
        if account.call_since is None and state.excess_liquidity < 0:
            account.call_since = state.ts_event
            alerts.append(self._alert(CALL, True, state, account.call_since))
        elif account.call_since is not None and state.excess_liquidity >= 0:
            alerts.append(self._alert(CALL, False, state, account.call_since))
            account.call_since = None
        return alerts

    def _alert(self, kind: str, raised: bool, state: MarginState, since: int) -> Alert:
        return Alert(
            ts_event=state.ts_event, ts_init=state.ts_init,
            alert_id=f"{kind}:{state.account}:{since}", kind=kind,
            state="raised" if raised else "cleared",
            severity=("critical" if kind == CALL else "warning") if raised else "info",
            symbol=None, message=self._message(kind, raised, state), values=_values(state),
        )

    def _message(self, kind: str, raised: bool, s: MarginState) -> str:
        excess = f"excess liquidity {_text(s.excess_liquidity)} {s.currency}"
        if kind == CALL:
            return (f"{'margin call' if raised else 'margin call cleared'}: {excess} (equity "
                    f"{_text(s.equity)}, maintenance {_text(s.maintenance_margin)}, {s.method})")
        level = f"reached {self._raise}" if raised else f"fell below {self._clear}"
        to_call = "" if s.time_to_call_s is None else f", time to call {s.time_to_call_s:,.0f} s"
        return (f"margin call {'predicted' if raised else 'no longer predicted'}: "
                f"P(call within {s.horizon_bars} bars) {s.call_probability:.3f} {level}; "
                f"{excess}, sigma {s.sigma_usd:,.2f} {s.currency}/bar{to_call}")


def _text(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _values(s: MarginState) -> dict[str, float]:
    values = {"equity": float(s.equity), "maintenance_margin": float(s.maintenance_margin),
              "excess_liquidity": float(s.excess_liquidity), "sigma_usd": s.sigma_usd,
              "call_probability": s.call_probability}
    if s.time_to_call_s is not None:
        values["time_to_call_s"] = s.time_to_call_s
    return values
