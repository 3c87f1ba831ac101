"""The embedded default stack: file datastore, local worker-pool compute, in-process
orchestrator and SQLite metadata. Registered through the same hooks as any plugin
(:mod:`lamina.builtin.plugin`)."""
