"""The microkernel: the plugin manager that loads every backend, the builtin ones included,
through the same hooks (:mod:`lamina.hookspecs`)."""
