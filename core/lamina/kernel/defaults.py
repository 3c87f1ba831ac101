"""The builtin plugins, registered by every plugin manager as pytest registers its
``default_plugins``: by module name, through the same hooks as any third-party plugin.

They are named here as strings and imported when a plugin manager is built, so the kernel
holds no import of a layer implementation (the import contract checks that). Autoloading
(``LAMINA_DISABLE_PLUGIN_AUTOLOAD``) concerns only installed distributions' entry points:
these are always registered. Every one but ``builtin`` (the embedded default stack) can be
switched off with ``disable_plugins``.
"""

from __future__ import annotations

#: (plugin name, module) of each builtin plugin, in registration order.
DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("builtin", "lamina.builtin.plugin"),
    ("features", "lamina.builtin.features_plugin"),
    ("serving", "lamina.builtin.serving_plugin"),
    ("monitoring", "lamina.builtin.monitoring_plugin"),
)

#: The plugin that serves the embedded default stack; it cannot be disabled.
ESSENTIAL_PLUGIN = "builtin"
