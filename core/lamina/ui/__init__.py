"""``lamina ui``: a read-only web UI over a stack's runs, served on this machine.

It reads only through the public :class:`lamina.Client`, so it works on every metadata and
datastore plugin. Needs the ``ui`` extra (``pip install 'lamina[ui]'``: Starlette, Jinja2,
uvicorn); its JavaScript and CSS are files inside the package (no CDN, no Node.js).

>>> from lamina.ui import create_app, serve
>>> app = create_app("local")            # an ASGI app, to mount in another server
>>> serve("local", port=8765)            # or serve it (blocks; Ctrl-C stops)
"""

from __future__ import annotations

from lamina.ui.server import UI_EXTRA_HINT, create_app, loopback, serve

__all__ = ["UI_EXTRA_HINT", "create_app", "loopback", "serve"]
