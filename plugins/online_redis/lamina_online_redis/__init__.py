"""lamina's online feature store on Redis (``online_store = "redis"`` in a feature store)."""
