"""The agent's configuration: one TOML file, validated with errors that name the file and
the key, and defaults that make an unconfigured agent useful.

Every section and key is optional. Unknown keys are refused (a typo must not silently
turn a setting off).
"""

from __future__ import annotations

import glob
import ipaddress
import os
import sys
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CONFIG_ENV = "HASHWATCH_AGENT_CONFIG"
STATE_ENV = "HASHWATCH_AGENT_STATE"


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the file and the key."""


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def default_config_path() -> Path:
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    if _is_root():
        return Path("/etc/hashwatch/agent.toml")
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "hashwatch" / "agent.toml"


def default_state_dir() -> Path:
    if env := os.environ.get(STATE_ENV):
        return Path(env)
    if _is_root():
        return Path("/var/lib/hashwatch-agent")
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "hashwatch-agent"


#: Where people keep and receive files: home folders, downloads, temp and browser caches.
#: Globs, expanded when the agent starts (and again when a watch is retried).
DEFAULT_WATCH = (
    "/home/*",
    "/root",
    "/tmp",
    "/var/tmp",
    "/srv",
)
if sys.platform == "darwin":
    DEFAULT_WATCH = ("/Users/*", "/private/tmp", "/private/var/folders")
elif sys.platform == "win32":
    DEFAULT_WATCH = ("C:\\Users\\*", "C:\\Windows\\Temp")

#: Never scanned on a full scan: kernel and runtime trees, and the agent's own state.
DEFAULT_EXCLUDE = ("/proc", "/sys", "/dev", "/run", "/snap")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSection(_Section):
    #: Overrides the URL given at enrolment (the server moved).
    url: str | None = None
    #: A CA bundle (PEM) for a server certificate from a private CA.
    ca_file: Path | None = None
    #: Plain http:// is refused except to loopback unless this is true.
    allow_insecure_http: bool = False
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    #: None: the interval the server asks for.
    heartbeat_seconds: Annotated[float, Field(ge=1, le=86400)] | None = None


class WatchSection(_Section):
    enabled: bool = True
    paths: list[str] = Field(default_factory=lambda: list(DEFAULT_WATCH))
    exclude_dirs: list[str] = Field(default_factory=lambda: [".git", ".cache/pip"])
    #: A file is hashed once it has been closed after writing, or has not changed for this
    #: long (writers that never close, memory-mapped writes).
    settle_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    #: Pending paths above this many collapse into a rescan of their watched tree.
    max_pending: Annotated[int, Field(ge=100)] = 200_000
    #: Re-try watches that failed (a path that does not exist yet) this often.
    retry_seconds: Annotated[float, Field(ge=1)] = 60.0


class VolumesSection(_Section):
    scan_removable: bool = True
    scan_network: bool = True
    #: Mount points always treated as removable media (fnmatch patterns).
    removable_mounts: list[str] = Field(default_factory=lambda: ["/media/*", "/run/media/*/*"])
    poll_seconds: Annotated[float, Field(gt=0, le=3600)] = 2.0


class ScheduleSection(_Section):
    enabled: bool = True
    every_hours: Annotated[float, Field(gt=0)] = 24.0
    #: Roots of the full scan (default: every fixed file system, from "/").
    paths: list[str] = Field(default_factory=lambda: ["/"])
    exclude_paths: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    cross_filesystems: bool = True
    #: Niceness of the hashing processes of scheduled scans (and idle I/O class).
    nice: Annotated[int, Field(ge=0, le=19)] = 10
    #: Share of one CPU core the scheduled scan may use on average.
    cpu_budget: Annotated[float, Field(gt=0, le=16)] = 0.5
    pause_on_battery: bool = True
    jobs: Annotated[int, Field(ge=1, le=64)] = 1


class ScanSection(_Section):
    file_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    #: Hashing processes for real-time and volume scans.
    jobs: Annotated[int, Field(ge=1, le=64)] = 1


class ContextSection(_Section):
    #: The organisation's networks (CIDR): an address inside means "on the network".
    org_networks: list[str] = Field(default_factory=list)
    #: DNS search domains of the organisation's networks.
    dns_suffixes: list[str] = Field(default_factory=list)

    @field_validator("org_networks")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for n in v:
            try:
                ipaddress.ip_network(n, strict=False)
            except ValueError:
                raise ValueError(f"{n!r} is not a network in CIDR form (e.g. 10.0.0.0/8)") from None
        return v


class AgentConfig(_Section):
    state_dir: Path = Field(default_factory=default_state_dir)
    log_level: str = "info"
    server: ServerSection = Field(default_factory=ServerSection)
    watch: WatchSection = Field(default_factory=WatchSection)
    volumes: VolumesSection = Field(default_factory=VolumesSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    scan: ScanSection = Field(default_factory=ScanSection)
    context: ContextSection = Field(default_factory=ContextSection)

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError("must be one of debug, info, warning, error")
        return v.lower()

    def watch_paths(self) -> list[str]:
        """The watched paths that exist now (globs expanded), without duplicates."""
        out: list[str] = []
        for pattern in self.watch.paths:
            pattern = os.path.expanduser(pattern)
            found = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            for p in found:
                if os.path.isdir(p) and p not in out:
                    out.append(p)
        return out


def _where(loc: tuple) -> str:
    parts = [str(p) for p in loc]
    if len(parts) == 1:
        return parts[0]
    return f"[{'.'.join(parts[:-1])}].{parts[-1]}"


def load_config(path: str | os.PathLike | None = None, *, required: bool = False) -> AgentConfig:
    """Read and validate the configuration. A missing file gives the defaults unless
    ``required`` (the path was named explicitly)."""
    p = Path(path) if path is not None else default_config_path()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{p}: no such configuration file") from None
        return AgentConfig()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown setting"
            problems.append(f"{p}: {_where(err['loc'])}: {msg}")
        raise ConfigError("\n".join(problems)) from None
