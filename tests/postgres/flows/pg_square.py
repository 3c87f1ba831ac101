"""A small foreach for the PostgreSQL metadata tests. ``kill_at`` makes one task end every
lamina session on the metadata server (``admin_url``) while the run goes on; ``pause``
slows the tasks down so that a test can stop the server mid-run."""

import os
import time

from lamina import Flow

flow = Flow("pgsquare")


@flow.step
def numbers(n: int = 12) -> list[int]:
    return list(range(n))


@flow.step(foreach="numbers")
def square(numbers: int, kill_at: int = -1, admin_url: str = "", pause: float = 0.0,
           marks: str = "") -> int:
    if numbers == kill_at and admin_url:
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as conn:
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'lamina' "
                "AND pid <> pg_backend_pid()"
            ).fetchone()[0]
        if marks:
            with open(marks, "a") as f:
                f.write(f"killed {killed}\n")
    time.sleep(pause)
    if marks:
        with open(marks, "a") as f:
            f.write(f"{numbers} {os.getpid()}\n")
    return numbers * numbers


@flow.step
def total(square: list[int]) -> int:
    return sum(square)
