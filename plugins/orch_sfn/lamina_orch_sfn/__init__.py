"""lamina orchestrator for AWS Step Functions (state machine, EventBridge rules)."""
