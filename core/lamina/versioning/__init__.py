"""Versioning helpers: run ids, the code snapshot of a run, and the environment it ran in.

These are the facts a run record is made of. Each module is small and imports nothing
heavy, so the runtime can call them on every run without slowing ``import lamina``:

- :mod:`lamina.versioning.ids`: time-sortable, readable run ids;
- :mod:`lamina.versioning.code`: which project files a flow imported, their content
  hash, a per-step code hash that follows the helpers a step calls, and text diffs;
- :mod:`lamina.versioning.environment`: Python and package versions, user, host, git.
"""

from __future__ import annotations
