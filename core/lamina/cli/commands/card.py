"""``lamina card RUN/STEP[/INDEX] -o card.html``: a task's card as a standalone HTML file."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_card(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lamina.cli.main import client_from_args
    from lamina.client import StepResult, Task
    from lamina.errors import LaminaError

    client = client_from_args(args)
    target = client.get(args.ref)
    if isinstance(target, StepResult):
        if len(target.tasks) != 1:
            raise LaminaError(
                f"step '{target.name}' of run {target.run.id} has {len(target.tasks)} tasks: "
                "say which task's card",
                hint=f"lamina card {args.ref.rstrip('/')}/0 -o card.html",
            )
        target = target.tasks[0]
    if not isinstance(target, Task):
        raise LaminaError(f"{args.ref!r} names a run, not a step or a task",
                          hint=f"lamina card {args.ref}/STEP[/INDEX] -o card.html")
    card = target.card
    if card is None:
        raise LaminaError(
            f"task {target.id} has no card",
            hint="append to current.card in the step (or return lamina.Card(...)), then run "
            "the flow again",
        )
    from lamina.cards.render import standalone_html

    html = standalone_html(card, title=card.title or target.id)
    if args.output == "-":
        print(html)
    else:
        Path(args.output).write_text(html, encoding="utf-8")
        print(f"wrote {args.output} (card of {target.id}, {len(card)} item"
              f"{'' if len(card) == 1 else 's'})")
    return 0


def register(subparsers: Any) -> None:
    from lamina.cli.main import add_namespace_arguments

    p = subparsers.add_parser(
        "card",
        help="write a task's card to a standalone HTML file (opens offline)",
        description="Write the card a step built (current.card, or a returned lamina.Card) "
        "to one HTML file with its chart libraries inlined: it opens with no network.",
    )
    p.add_argument("ref", metavar="RUN/STEP[/INDEX]",
                   help="the task (RUN may be FLOW/latest; INDEX may be left out for a step "
                   "with one task)")
    p.add_argument("-o", "--output", default="card.html",
                   help="the file to write (default: card.html; '-' for stdout)")
    add_namespace_arguments(p)
    p.set_defaults(handler=cmd_card)
