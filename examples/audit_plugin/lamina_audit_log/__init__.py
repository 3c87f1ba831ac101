"""lamina-audit-log: writes every lamina lifecycle event to an audit log (JSON lines).

The plugin itself is :mod:`lamina_audit_log.plugin`; lamina finds it through the entry
point ``audit`` in the group ``lamina``.
"""

__version__ = "0.1.0"
