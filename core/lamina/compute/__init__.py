"""Helpers shared by compute backends (the Compute protocol is in lamina.interfaces)."""
