"""A plugin with a misspelled hook name: lamina must report it, not ignore it."""

from lamina import hookimpl


@hookimpl
def lamina_befor_run(run, stack):
    raise AssertionError("a misspelled hook must never be called")


def lamina_after_run(run, stack):
    """Named like a hook but not decorated: pluggy ignores it, lamina reports it."""
    raise AssertionError("an undecorated function must never be called")
