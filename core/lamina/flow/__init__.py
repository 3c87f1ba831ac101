"""Authoring: a :class:`Flow` is a set of plain functions wired by parameter name."""

from lamina.flow.flow import Flow
from lamina.flow.step import Step, StepOptions
from lamina.flow.triggers import EventTrigger, Triggers

__all__ = ["EventTrigger", "Flow", "Step", "StepOptions", "Triggers"]
