"""Fake plugin distributions for the kernel's tests, installed for real (dist-info and
entry points) into temporary folders, plus helpers to run ``lamina`` against them."""
