"""The card being built by the running task, in a contextvar (each thread or async task
sees its own)."""

from __future__ import annotations

from contextvars import ContextVar, Token

from lamina.cards.card import Card

_CARD: ContextVar[Card | None] = ContextVar("lamina_card", default=None)


def current_card() -> Card:
    """The running task's card; outside a task, a card kept for this context (a notebook
    can build one with ``current.card`` and display it)."""
    card = _CARD.get()
    if card is None:
        card = Card()
        _CARD.set(card)
    return card


def begin_task_card() -> Token[Card | None]:
    """Give the task that starts now an empty card; pass the token to :func:`end_task_card`."""
    return _CARD.set(Card())


def end_task_card(token: Token[Card | None]) -> Card | None:
    """The card the task built (None if it appended nothing), restoring the previous one."""
    card = _CARD.get()
    _CARD.reset(token)
    return card if card is not None and len(card) else None
