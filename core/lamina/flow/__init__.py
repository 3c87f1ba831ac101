"""Authoring: a :class:`Flow` is a set of plain functions wired by parameter name."""

from lamina.flow.flow import Flow
from lamina.flow.step import Step, StepOptions

__all__ = ["Flow", "Step", "StepOptions"]
