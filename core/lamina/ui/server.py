"""Serving the UI with uvicorn: the bind and token warnings, and the missing-extra error."""

from __future__ import annotations

import ipaddress
import secrets
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lamina.client.client import DEFAULT
from lamina.errors import LaminaError

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from lamina.stack import Stack

#: What to install when the UI's libraries are missing.
UI_EXTRA_HINT = "pip install 'lamina[ui]'   (Starlette, Jinja2 and uvicorn)"


def _require_ui_libraries(*modules: str) -> None:
    missing = []
    for module in modules or ("starlette", "jinja2", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise LaminaError(f"lamina ui needs {', '.join(missing)}, which is not installed",
                          hint=UI_EXTRA_HINT)


def loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (only this machine can connect)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def create_app(
    stack: Stack | str | None = None, *, token: str | None = None, namespace: Any = DEFAULT,
) -> Starlette:
    """The UI as an ASGI app over ``stack`` (see :func:`lamina.ui.app.create_app`)."""
    _require_ui_libraries("starlette", "jinja2")
    from lamina.ui.app import create_app as build

    return build(stack, token=token, namespace=namespace)


def serve(
    stack: Stack | str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    on_ready: Callable[[str], None] | None = None,
    namespace: Any = DEFAULT,
    warn: Callable[[str], None] | None = None,
) -> None:
    """Serve the UI until interrupted (blocks).

    Binds 127.0.0.1 by default. On any other address it warns, and makes up a token if
    none was given (``token=""`` serves without one, after a warning), since anyone who
    can reach the port could read every run.
    """
    _require_ui_libraries()
    import uvicorn

    say = warn or (lambda text: print(f"lamina ui: warning: {text}", file=sys.stderr, flush=True))
    if not loopback(host):
        say(f"serving on {host}, which other machines can reach: anyone who can connect "
            "reads every run, artifact and log of this stack")
        if token is None:
            token = secrets.token_urlsafe(18)
            say("an access token was made for this server (give your own with --token, "
                "or --token '' for none)")
        elif token == "":
            say("no access token (--token ''): the UI is open to anyone who can connect")
    app = create_app(stack, token=token or None, namespace=namespace)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")

    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            access_log=False, lifespan="off")
    server = uvicorn.Server(config)

    if on_ready is not None:
        original: Any = server.startup

        async def startup(sockets: Any = None) -> None:
            await original(sockets=sockets)
            if server.started:
                on_ready(url)

        server.startup = startup  # type: ignore[method-assign]
    server.run()
