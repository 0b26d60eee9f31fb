"""Pre-trade risk: every order passes here between the strategy and the venue.

The order path: a strategy publishes an Order to logic.orders; the engine `pretrade`
(`engine.PretradeEngine`, state keyed by account: the runtime re-keys logic.orders by
account) checks it and either publishes it unchanged as an ApprovedOrder to
logic.orders.approved (keyed by symbol), which the execution engine routes to the venue, or
rejects it: two OrderEvents on logic.order.events with the venue's ids, `<order_id>#1`
submitted and `<order_id>#2` rejected with the reason `risk: <check>: <numbers>` (the
strategy's ledger closes the order as for a venue's rejection), and an Alert of kind
`order_rejected` (id `order_rejected:<account>:<order_id>`, the order's symbol).

Checks, in this order (checks.py), each a named reason; a limit is off until set, per
`default` and per symbol, account or strategy (params.py):
  trading_state           HALTED rejects everything; REDUCING all but reduces;
  max_quantity_per_order  quantity <= limit (per symbol);
  max_notional_per_order  quantity x price <= limit (per account): the limit price, or for a
                          market order the reference price;
  price_collar            a buy limit at most collar_bps above the reference price, a sell
                          limit at most that below it (the side that can trade at an
                          erroneous price, as exchanges' price bands do); no reference
                          price: rejected;
  max_position_per_symbol |position after the order| <= limit (per symbol);
  max_gross_exposure      sum over the account's symbols of |position| x price after the
                          order <= limit (per account);
  toxicity_gate           (on by default) no order that opens or increases a position while
                          the symbol's VPIN alert (logic.risk.alerts, kind vpin) is raised;
  margin_gate             (on by default) no order whose fill would leave excess liquidity
                          below zero: the newest MarginState's excess minus the order's
                          increase of the maintenance requirement under the account's method
                          (margin.py); an account with no MarginState yet is not gated (the
                          margin engine publishes one after the account's first fill);
  order_rate              a token bucket per strategy in event time: order_rate_per_s and
                          order_burst; only an order that passes everything else takes a
                          token.
"After the order" counts the working orders: the position is the net of the account's fills
(market.executions, re-keyed by account), and every approved order not yet closed adds what
it will still fill on its side; the position check and the toxicity, REDUCING and margin
decisions take the order's side (position + working buys + a buy), gross exposure each
symbol's wider side. An order that reduces (on the other side of the position, and not past
flat with the working orders on its side) skips the position, exposure, toxicity and margin
checks. Prices: the reference price (market.bars.1m as broadcast: the newest close, i.e.
the last trade of the newest 1-minute bar, see market.py), else the account's newest fill.

Arrival order: an order is checked against the fills and order events that have arrived.
One bar can both fill a working order (execution: one hop to here) and make the strategy's
next order (features, then the strategy): a live worker may apply that fill before it checks
the order, a replay checks the order first (equal times by topic name, streams/graph.py).
The position and working orders a reason quotes can then differ between the two, and so can
a decision that hangs on crediting the fill (a buy's limit counts the position, not the
working sells that will reduce it).

Trading state per account: ACTIVE, REDUCING (only reduces pass), HALTED (nothing passes). A
RiskCommand on logic.risk.commands (keyed by account) sets it: `halt` HALTED, `reduce`
REDUCING, `resume` ACTIVE, applied in arrival order. A halt also cancels, in the same batch,
every open order of the account: one CancelRequest per order on logic.order.cancels (keyed by
symbol, id `<order_id>:cancel:<command_id>`, dated at the command), which the venue applies
if the order still works. Every change of state is an Alert of kind `trading_state` keyed by
the account (symbol None): raised when the account leaves ACTIVE (again, with the same id,
at a change between HALTED and REDUCING), cleared when it is ACTIVE again; id
`trading_state:<account>:<ts of the command that left ACTIVE>:<its command_id>`.

Alert keys: logic.risk.alerts is keyed by symbol; a rejection's alert has the order's symbol
and is keyed by it, like every alert with a symbol (so a reader partitioned by symbol finds
it); a trading-state alert has no symbol and is keyed by the account.

State per account (snapshot/restore/forget): trading state, positions and working orders,
newest fill prices, newest margin state, token buckets, the order ids seen (a re-delivered
order is ignored). Reference prices and VPIN alert states come from the broadcast inputs, are
the same in every instance and are rebuilt by re-reading them, never snapshotted. Time is
event time only: outputs are dated at the order or the command that caused them.
"""
