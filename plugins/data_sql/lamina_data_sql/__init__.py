"""lamina data sources on SQL databases (PostgreSQL through ADBC, MySQL/MariaDB through SQLAlchemy)."""
