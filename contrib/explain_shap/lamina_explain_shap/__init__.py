"""SHAP explanations for lamina models: an explain route and global importance."""

__version__ = "0.1.0"
