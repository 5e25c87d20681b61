"""Real pg_dump output for the backup tests, made once per session against pg_cluster."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

PG_DUMP = Path("/usr/lib/postgresql/15/bin/pg_dump")

SEED = """
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL);
CREATE TABLE tasks (id serial PRIMARY KEY, user_id integer REFERENCES users (id),
                    title text NOT NULL);
INSERT INTO users (email) SELECT 'user' || i || '@example.com'
FROM generate_series(1, 300) AS i;
INSERT INTO tasks (user_id, title) SELECT 1 + i % 300, md5(i::text)
FROM generate_series(1, 3000) AS i;
"""


@dataclass(frozen=True)
class SourceDatabase:
    """A database on pg_cluster owned by a login role, with rows in two tables."""

    name: str
    owner: str
    password: str


def pg_dump(cluster: object, database: str, *options: str) -> bytes:
    """Return plain pg_dump output of ``database``, dumped as the superuser."""
    environment = {
        "PGHOST": cluster.host,  # type: ignore[attr-defined]
        "PGPORT": str(cluster.port),  # type: ignore[attr-defined]
        "PGUSER": "postgres",
        "PGPASSWORD": cluster.superuser_password,  # type: ignore[attr-defined]
        "PATH": "/usr/bin:/bin",
    }
    completed = subprocess.run(
        [str(PG_DUMP), *options, database],
        env=environment,
        capture_output=True,
        check=True,
    )
    return completed.stdout
