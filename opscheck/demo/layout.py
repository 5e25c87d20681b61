"""The files of a demo folder: compose file, .env, backups, logs and state."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from opscheck.errors import DemoError

DEFAULT_DIR = Path("opscheck-demo")
PROJECT = "taskmanagement"
DB_USER = "taskuser"
DB_NAME = "taskdb"


@dataclass
class State:
    """What the demo folder records between commands: ports and active faults."""

    ports: dict[str, int] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """Serialise the state."""
        return json.dumps({"ports": self.ports, "faults": self.faults}, indent=2) + "\n"


class DemoDir:
    """A demo folder and the paths inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.compose_file = self.root / "docker-compose.yml"
        self.env_file = self.root / ".env"
        self.backups = self.root / "backups" / "database"
        self.nginx_logs = self.root / "logs" / "nginx"
        self.access_log = self.nginx_logs / "access.log"
        self.state_file = self.root / "state.json"

    def create(self, log_owner: int) -> None:
        """Create the folders; the nginx log folder is owned by the nginx user."""
        self.backups.mkdir(parents=True, exist_ok=True)
        self.nginx_logs.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(self.nginx_logs, log_owner, log_owner)
            if self.access_log.exists():
                os.chown(self.access_log, log_owner, log_owner)

    def ensure_env(self) -> dict[str, str]:
        """Write the .env file with new random secrets unless it exists; return it."""
        if not self.env_file.exists():
            values = {
                "POSTGRES_USER": DB_USER,
                "POSTGRES_PASSWORD": secrets.token_urlsafe(18),
                "POSTGRES_DB": DB_NAME,
                "SECRET_KEY": secrets.token_urlsafe(32),
            }
            text = "".join(f"{key}={value}\n" for key, value in values.items())
            descriptor = os.open(
                self.env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
            with os.fdopen(descriptor, "w") as handle:
                handle.write(text)
        os.chmod(self.env_file, 0o600)
        return self.read_env()

    def read_env(self) -> dict[str, str]:
        """Return the values of the .env file."""
        values = {
            k: v for k, v in dotenv_values(self.env_file).items() if v is not None
        }
        if "POSTGRES_PASSWORD" not in values:
            raise DemoError(
                f"{self.env_file} has no POSTGRES_PASSWORD; remove the file so that "
                "'opscheck demo up' writes a new one"
            )
        return values

    def read_state(self) -> State | None:
        """Return the recorded state, or None when the folder has none."""
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise DemoError(
                f"state file {self.state_file} is unreadable ({exc}); remove it and "
                "run 'opscheck demo up' again"
            ) from exc
        return State(
            ports=dict(data.get("ports", {})), faults=list(data.get("faults", []))
        )

    def write_state(self, state: State) -> None:
        """Record the state."""
        self.state_file.write_text(state.to_json())
