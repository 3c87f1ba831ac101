"""lamina compute on Kubernetes (batch/v1 Indexed Jobs)."""
