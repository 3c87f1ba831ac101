"""A well-behaved plugin: a compute component with options, lifecycle and CLI hooks.

It records what lamina calls in the JSON-lines file named by FAKE_GOOD_LOG, so tests can
prove its hooks ran in another process.
"""

from __future__ import annotations

import json
import os

import attrs

from lamina import hookimpl
from lamina.interfaces import ComponentSpec

BUILT = []


def _record(event, **data):
    path = os.environ.get("FAKE_GOOD_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event, **data}) + "\n")


@attrs.frozen
class FakeComputeOptions:
    """Options of the fake compute.

    :param queue: the queue to submit to.
    :param slots: how many tasks at once.
    """

    queue: str
    slots: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    reachable: bool = True


class FakeCompute:
    max_in_flight = 1

    def __init__(self, options):
        self.options = options
        self.closed = False

    def check(self):
        if not self.options.reachable:
            from lamina.errors import BackendUnreachableError

            raise BackendUnreachableError(
                f"fake queue {self.options.queue!r} is unreachable",
                hint="set reachable = true",
            )
        return f"fake queue {self.options.queue!r} answers"

    def close(self):
        self.closed = True
        _record("closed", queue=self.options.queue)


def _build(options, stack):
    _record("built", queue=options.queue)
    comp = FakeCompute(options)
    BUILT.append(comp)
    return comp


@hookimpl
def lamina_compute_backends():
    return [
        ComponentSpec(
            layer="compute",
            name="fakecompute",
            config=FakeComputeOptions,
            factory=_build,
            description="a fake queue for lamina's tests",
        )
    ]


@hookimpl
def lamina_configure(stack):
    _record("configure", stack=stack.name, options=stack.plugin_options("fakegood"))


@hookimpl
def lamina_validate_stack(stack):
    if (
        stack.has("compute")
        and stack.spec("compute").name == "fakecompute"
        and stack.options("compute").queue == "forbidden"
    ):
        return ["compute fakecompute: queue 'forbidden' may not be used; choose another"]
    return []


@hookimpl
def lamina_before_run(run):
    _record("before_run", run_id=run.run_id)


def _hello(args):
    print(f"hello from lamina-fake-good, stack={args.stack}")
    return 0


@hookimpl
def lamina_cli_commands(subparsers):
    p = subparsers.add_parser("fake-hello", help="a command added by a plugin")
    p.set_defaults(handler=_hello)
