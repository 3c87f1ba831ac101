"""lamina data source on Snowflake."""
