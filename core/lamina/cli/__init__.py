"""The ``lamina`` command line: a thin shell over the public Python API.

Every command does what a library call does (``Stack.load``, ``PluginManager``...) and
prints it; nothing here is needed to use lamina from Python.
"""
