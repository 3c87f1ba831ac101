"""A plugin with a misspelled hook name: lamina must report it, not ignore it."""

from lamina import hookimpl


@hookimpl
def lamina_befor_run(run, stack):
    raise AssertionError("a misspelled hook must never be called")
