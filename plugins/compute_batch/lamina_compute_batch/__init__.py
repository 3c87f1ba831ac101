"""lamina compute on AWS Batch (array jobs, versioned job definitions)."""
