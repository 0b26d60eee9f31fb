"""Paper execution: orders that passed pre-trade risk (logic.orders.approved) filled against
market data, in event time.

The engine (`engine.ExecutionEngine`, registered as `execution`) hands orders, cancels and
market data to a venue (`venue.Venue`; the paper venue, `paper.PaperVenue`, is the one
implementation today, live routing to Interactive Brokers is meant to be another) and
publishes every fill to market.executions and every order state change to
logic.order.events, keyed by symbol. Strategies publish to logic.orders; pre-trade risk
(processors/pretrade) approves an order onto logic.orders.approved or rejects it itself.

Orders. NautilusTrader's states (`orders.TRANSITIONS`): submitted, then accepted or rejected
(a limit order without a price, a market order with one, a non-positive limit, a forced
fill model whose data the symbol has not had), then partially_filled / filled per execution,
canceled (IOC or market remainder) or expired (DAY). Event ids `<order_id>#<n>`, execution
ids `<order_id>-<n>`. An order whose id was seen before is ignored: a re-delivered order is
never filled twice, across snapshot/restore too (`seen.SeenOrders`).

Time. An order is received at r = max(its ts_event, the newest market data time the engine
has seen for its symbol) (`submitted` is dated r) and is at the venue from
v = max(ts_event + latency_ms, r) (`accepted` / `rejected` are dated v). It fills only
against market data of its symbol that describes the market at or after v:
  - bar: bars that open at or after v (start_ns >= v): the next bar's open is the first
    price after the order arrived; the fill is dated at that bar's ts_event (its end);
  - trade: the first trade with ts_event >= v (arrival order among those);
  - book: the first depth snapshot with ts_event >= v; the fill is dated at it;
  - a resting limit (book, trade) fills on trades strictly after the instant it began resting.
Data dated before v never fills it, so nothing it could not have seen does.

Fill models (`fill_model`; auto: per symbol at acceptance, book once depth was seen for it,
else trade once trades were, else bar):
  - bar (backtrader): a market order fills whole at the open, buys at open * (1 +
    slippage_bps/1e4), sells at open * (1 - slippage_bps/1e4). A limit order marketable at
    the first bar's open takes it (slipped, never through the limit; taker); later it fills
    whole at the limit when a bar's range reaches it, or at the open when the open gaps
    through it (maker). IOC: only the first bar's open; else canceled at that bar.
  - book: a market order walks the snapshot's opposite side level by level, one execution per
    level at the level's price (the walk is the slippage: no slippage_bps); what the book
    cannot fill is canceled. A limit order takes the levels at or better than its limit, then
    rests (IOC: the rest is canceled) and fills at its limit, up to each trade's size, on
    trades that print at or through it (maker; resting orders share a trade in time
    priority). Our takes are removed from the snapshot until a newer one arrives.
  - trade: a market order (or a limit marketable at that price) fills whole at the first
    trade's price, slipped (never through the limit); a limit that is not rests as in book.
Cancels (logic.order.cancels: pre-trade risk cancels a halted account's open orders): an
order that still works is canceled with the request's reason, dated at the latest of the
request's ts_event, the symbol's newest market data and the order's venue time v (latency_ms
does not apply to cancels); a cancel of an order that no longer works does nothing, so a
cancel delivered twice changes nothing; a cancel of an order the venue has not seen yet (the
two topics arrive independently in a worker) is kept, and the order is canceled as it
arrives (submitted, accepted, canceled at v).
Time in force: GTC rests until filled; IOC cancels what is not filled at arrival; DAY
expires at the end of the UTC day it reached the venue in: at the symbol's first market data
describing 00:00 UTC or later (a bar by its start), dated at that event (the engine learns
time only from its inputs), before that data can fill it. Prints flagged unreported are
ignored. The end of a replay (`flush`) leaves working orders working.

Money. Prices are exact decimals: the market's prices as written, a slipped price rounded
half-even to 9 decimals, a limit as given. Commission = price * quantity * bps / 1e4 per
execution (`fee_bps` taking, `maker_fee_bps` resting), exact (never rounded), so an account's
cash and P&L add up exactly. `avg_fill_price` on order events is rounded to 9 decimals.
"""
