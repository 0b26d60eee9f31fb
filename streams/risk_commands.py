"""Operators' risk commands: build a RiskCommand and put it on logic.risk.commands.

The kill switch of `nautilus-streams risk halt|reduce|resume` and of the API's
`POST /api/v1/risk/{account}/halt|reduce|resume`. A command is keyed by account (so an
account's commands stay in order on one partition), carries a fresh `command_id` (uuid4) and
the live clock's time as `ts_event` and `ts_init`, and counts as sent only once the broker has
acknowledged it: `send` returns where it landed, or raises a BrokerError in one line that names
the broker and says the command was not sent. The pretrade engine applies it: `halt` stops
every new order of the account and cancels its open orders, `reduce` lets through only orders
that reduce a position, `resume` trades again.

An account's trading state is the action of its newest command (`trading_state`): ACTIVE
until a command says otherwise.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Literal, get_args

from confluent_kafka import KafkaError, KafkaException, Message

from streams import codec, kafka
from streams.clock import Clock, LiveClock
from streams.exceptions import BrokerError
from streams.schema import RiskCommand
from streams.schema.logic import STATE_AFTER, TradingState

log = logging.getLogger(__name__)

TOPIC = "logic.risk.commands"
SEND_TIMEOUT_S = 5.0
Action = Literal["halt", "reduce", "resume"]
ACTIONS: tuple[Action, ...] = get_args(Action)


def trading_state(action: str | None) -> TradingState:
    """The trading state an account is in after its newest command (None: no command yet)."""
    return "ACTIVE" if action is None else STATE_AFTER[action]


def new_command(account: str, action: Action, *, reason: str = "", issued_by: str = "",
                clock: Clock | None = None) -> RiskCommand:
    """A command with a new id, dated now by `clock` (the live clock by default)."""
    now = (clock or LiveClock()).timestamp_ns()
    return RiskCommand(ts_event=now, ts_init=now, command_id=str(uuid.uuid4()),
                       account=account, action=action, reason=reason, issued_by=issued_by)


@dataclass(frozen=True, slots=True)
class SentCommand:
    """A command the broker acknowledged, and where it is in the log."""

    command: RiskCommand
    topic: str
    partition: int
    offset: int


def send(brokers: str, command: RiskCommand, timeout_s: float = SEND_TIMEOUT_S) -> SentCommand:
    """Produce `command` to logic.risk.commands keyed by its account and wait for the broker's
    acknowledgement; a BrokerError naming the broker when it is unreachable, lacks the topic,
    or does not acknowledge within `timeout_s`."""
    what = f"the {command.action} of account {command.account!r} was not sent"
    problem = kafka.broker_problem(brokers, timeout_s)
    if problem is not None:
        raise BrokerError(f"broker {brokers} unreachable: {problem}; {what}")
    producer = kafka.producer(brokers, **{"linger.ms": 0,
                                          "message.timeout.ms": int(timeout_s * 1000)})
    try:
        topic = producer.list_topics(TOPIC, timeout=timeout_s).topics.get(TOPIC)
    except KafkaException as exc:
        raise BrokerError(f"broker {brokers} unreachable: {exc.args[0]}; {what}") from exc
    if topic is None or topic.error is not None:
        raise BrokerError(f"topic {TOPIC} does not exist on broker {brokers} (run "
                          f"`nautilus-streams topics apply`); {what}")
    delivered: list[tuple[KafkaError | None, Message]] = []
    producer.produce(TOPIC, codec.encode(command), command.account.encode(),
                     on_delivery=lambda err, msg: delivered.append((err, msg)))
    producer.flush(timeout_s + 1.0)  # the message times out first, reporting its failure
    unconfirmed = (f"the {command.action} of account {command.account!r} is not confirmed "
                   f"(command_id {command.command_id})")
    if not delivered:
        raise BrokerError(f"broker {brokers} did not acknowledge within {timeout_s:g} s; "
                          f"{unconfirmed}")
    err, msg = delivered[0]
    if err is not None:
        raise BrokerError(f"broker {brokers} did not take the command: {err.str()}; "
                          f"{unconfirmed}")
    sent = SentCommand(command, TOPIC, int(msg.partition() or 0), int(msg.offset() or 0))
    log.info("risk command sent command_id=%s account=%s action=%s issued_by=%r partition=%d "
             "offset=%d", command.command_id, command.account, command.action,
             command.issued_by, sent.partition, sent.offset)
    return sent
