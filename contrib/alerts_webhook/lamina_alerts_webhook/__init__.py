"""lamina monitoring alerts posted as JSON to a webhook."""

__version__ = "0.1.0"
