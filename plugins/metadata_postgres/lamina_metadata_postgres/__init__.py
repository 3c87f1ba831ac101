"""lamina's metadata store on PostgreSQL (``metadata = { plugin = "postgres", url = ... }``)."""
