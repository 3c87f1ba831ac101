"""Running flows: launching runs, executing tasks, the scheduler the local orchestrator
uses, resume and the step cache."""
