"""Mirror lamina runs and registered model versions into Weights & Biases."""

__version__ = "0.1.0"
