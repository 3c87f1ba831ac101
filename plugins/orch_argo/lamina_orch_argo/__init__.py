"""lamina orchestrator for Argo Workflows (WorkflowTemplate, CronWorkflow, Sensor)."""
