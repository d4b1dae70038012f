"""The server's configuration: a data directory holding ``server.toml`` and the signing keys.

``server.toml`` (written by ``hashwatch server init``, edited by hand afterwards)::

    database = "sqlite:////var/lib/hashwatch/server.db"   # or postgresql://user@host/db
    public_url = "https://hashwatch.example.org"           # used in links in notifications
    session_hours = 12
    cookie_secure = "auto"      # "auto": Secure cookies when the request came over HTTPS
    trusted_proxies = ["127.0.0.1"]   # X-Forwarded-* is believed only from these
    heartbeat_seconds = 900
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

DEFAULT_DIR = "hashwatch-server"
CONFIG_NAME = "server.toml"
KEY_PREFIX = "list-signing"


class ConfigError(ValueError):
    pass


@dataclass
class ServerConfig:
    data_dir: Path
    database: str = ""
    public_url: str = "http://127.0.0.1:8765"
    session_hours: int = 12
    cookie_secure: str = "auto"
    trusted_proxies: list[str] = field(default_factory=lambda: ["127.0.0.1", "::1"])
    heartbeat_seconds: int = 900
    max_body_bytes: int = 4 << 20
    list_upload_bytes: int = 2 << 30
    notify_interval_seconds: float = 2.0

    @property
    def key_path(self) -> Path:
        return self.data_dir / f"{KEY_PREFIX}.key"

    @property
    def public_key_path(self) -> Path:
        return self.data_dir / f"{KEY_PREFIX}.pub"

    @property
    def bundle_dir(self) -> Path:
        return self.data_dir / "bundles"

    def default_database(self) -> str:
        return f"sqlite:///{(self.data_dir / 'server.db').resolve()}"


def data_dir(given: str | Path | None) -> Path:
    return Path(given or os.environ.get("HASHWATCH_SERVER_DIR") or DEFAULT_DIR)


_TYPES = {f.name: f.type for f in fields(ServerConfig)}


def load(directory: str | Path | None) -> ServerConfig:
    d = data_dir(directory)
    path = d / CONFIG_NAME
    if not path.exists():
        raise ConfigError(f"{path}: not found — run `hashwatch server init` first")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    cfg = ServerConfig(data_dir=d)
    for key, value in raw.items():
        if key not in _TYPES or key == "data_dir":
            raise ConfigError(f"{path}: unknown setting {key!r}")
        want = {"int": int, "str": str, "float": (int, float), "list[str]": list}[
            _TYPES[key] if isinstance(_TYPES[key], str) else _TYPES[key].__name__
        ]
        if not isinstance(value, want) or isinstance(value, bool):
            raise ConfigError(f"{path}: setting {key!r} has the wrong type ({value!r})")
        setattr(cfg, key, value)
    if not cfg.database:
        cfg.database = cfg.default_database()
    return cfg


def save(cfg: ServerConfig) -> Path:
    lines = ["# hashwatch server configuration (see docs/server.md)"]
    for f in fields(ServerConfig):
        if f.name == "data_dir":
            continue
        value = getattr(cfg, f.name)
        if isinstance(value, str):
            lines.append(f"{f.name} = {_q(value)}")
        elif isinstance(value, list):
            lines.append(f"{f.name} = [{', '.join(_q(v) for v in value)}]")
        else:
            lines.append(f"{f.name} = {value}")
    path = cfg.data_dir / CONFIG_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
