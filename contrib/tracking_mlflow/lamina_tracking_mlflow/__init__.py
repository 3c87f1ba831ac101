"""Mirror lamina runs and registered model versions into MLflow."""

__version__ = "0.1.0"
