"""Where a task's card is kept: a JSON record in the datastore beside the task's outcome
(``runs/RUN/cards/STEP/INDEX.json``), so every datastore plugin holds cards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lamina.cards.card import Card
from lamina.runtime.layout import task_card_key

if TYPE_CHECKING:
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.records import TaskSpec


def save_task_card(artifacts: ArtifactStore, spec: TaskSpec, card: Card | None,
                   returned: Any = None) -> bool:
    """Store the card a task built with ``current.card`` and/or returned; False if none."""
    if isinstance(returned, Card):
        if card is None:
            card = returned
        else:
            card.components.extend(returned.components)
            card.title = card.title or returned.title
    if card is None or not len(card):
        return False
    artifacts.put_json(task_card_key(spec.run_id, spec.step, spec.index), card.to_dict())
    return True


def load_task_card(artifacts: ArtifactStore, run_id: str, step: str, index: int) -> Card | None:
    """The card of a task, or None if it has none."""
    data = artifacts.get_json(task_card_key(run_id, step, index))
    return Card.from_dict(data) if data else None
