"""Create the PostgreSQL test database when a server answers; print its URL (or nothing).

The tests make a database of their own for each test on the same server (``tests/conftest.py``),
so the user of this URL may create databases.
"""

from __future__ import annotations

import sys

import psycopg

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
NAME = sys.argv[1] if len(sys.argv) > 1 else "readingroom_test"


def main() -> None:
    try:
        connection = psycopg.connect(ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(
            f"PostgreSQL not reachable, its tests will be skipped (and fail in CI): {exc}",
            file=sys.stderr,
        )
        return
    with connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (NAME,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{NAME}"')
    print(f"postgresql+psycopg://postgres@127.0.0.1:5432/{NAME}")


if __name__ == "__main__":
    main()
