"""lamina's Airflow orchestrator: compiles flows into Airflow 3 DAG files."""

__version__ = "0.1.0"
