"""``hashwatch agent ...``: enrol this computer, run the agent, see its state, scan now."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

agent_app = typer.Typer(
    help="The endpoint agent: enrol, run (service), status, scan-now.", no_args_is_help=True
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Agent configuration (TOML; default $HASHWATCH_AGENT_CONFIG, "
        "/etc/hashwatch/agent.toml as root, else ~/.config/hashwatch/agent.toml).",
        show_default=False,
    ),
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="State directory (overrides the configuration's state_dir).",
        show_default=False,
    ),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    sys.stderr.write(f"hashwatch agent: error: {message}\n")
    return typer.Exit(code)


def _config(config: Path | None, state_dir: Path | None):
    from ..agent.config import ConfigError, load_config

    try:
        cfg = load_config(config, required=config is not None)
    except ConfigError as e:
        raise _fail(str(e)) from None
    if state_dir is not None:
        cfg = cfg.model_copy(update={"state_dir": state_dir})
    return cfg


def _creds(cfg, required: bool = True):
    from ..agent.enrolment import EnrolmentError, load_credentials

    try:
        creds = load_credentials(cfg.state_dir)
    except EnrolmentError as e:
        raise _fail(str(e)) from None
    if creds is None and required:
        raise _fail(
            f"not enrolled (no credentials in {cfg.state_dir}); run "
            "'hashwatch agent enroll --server URL --token TOKEN' first"
        )
    return creds


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # one line per request would drown what matters
    logging.getLogger("httpx").setLevel(logging.WARNING)


@agent_app.command("enroll")
def enroll_cmd(
    server: Annotated[str, typer.Option("--server", help="The server's URL (https://...).")],
    token: Annotated[
        str,
        typer.Option("--token", help="Enrolment token from 'hashwatch server token'.", prompt=True),
    ],
    ca_file: Annotated[
        Path | None, typer.Option("--ca-file", help="CA bundle for the server's certificate.")
    ] = None,
    allow_insecure_http: Annotated[
        bool, typer.Option("--allow-insecure-http", help="Allow http:// to another machine.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing enrolment.")] = False,
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Enrol this computer with the server (once): stores its id, secret and the server's
    list-signing key (pinned: lists signed by any other key are refused)."""
    from ..agent.client import ClientError
    from ..agent.enrolment import EnrolmentError, enroll

    cfg = _config(config, state_dir)
    try:
        creds = enroll(
            cfg.state_dir,
            server,
            token,
            ca_file=ca_file or cfg.server.ca_file,
            allow_insecure_http=allow_insecure_http or cfg.server.allow_insecure_http,
            force=force,
        )
    except (ValueError, EnrolmentError, ClientError) as e:
        raise _fail(str(e)) from None
    typer.echo(f"enrolled as device {creds.device_id} with {creds.server_url}")
    typer.echo(f"list-signing key pinned: {creds.list_key_id}")
    typer.echo(f"state directory: {cfg.state_dir}")


@agent_app.command("run")
def run_cmd(
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="debug, info, warning, error.")
    ] = None,
) -> None:
    """Run the agent in the foreground (as the systemd service does) until stopped."""
    from ..agent.service import Agent, AlreadyRunning, Lock

    cfg = _config(config, state_dir)
    creds = _creds(cfg)
    _logging(log_level or cfg.log_level)
    lock = Lock(cfg.state_dir)
    try:
        lock.acquire()
    except AlreadyRunning as e:
        raise _fail(str(e)) from None
    except OSError as e:
        raise _fail(f"{cfg.state_dir}: {e.strerror}") from None
    try:
        Agent(cfg, creds).serve()
    except ValueError as e:  # a bad server URL in the configuration
        raise _fail(str(e)) from None
    finally:
        lock.release()


def _ago(ts: float | None) -> str:
    if ts is None:
        return "never"
    from ..agent.context import iso_local

    s = max(0, int(time.time() - ts))
    span = f"{s} s" if s < 120 else f"{s // 60} min" if s < 7200 else f"{s // 3600} h"
    return f"{iso_local(ts)} ({span} ago)"


@agent_app.command("status")
def status_cmd(
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List versions, last full scan, outbox, last contact with the server, watched paths."""
    from ..agent.liststore import ListStore
    from ..agent.service import Lock
    from ..agent.state import State, StateError

    cfg = _config(config, state_dir)
    creds = _creds(cfg, required=False)
    try:
        state = State(cfg.state_dir)
    except StateError as e:
        raise _fail(str(e)) from None
    try:
        last_scan = state.get("last_full_scan")
        unfinished = state.unfinished_scan()
        contact = state.get("last_contact")
        info = {
            "enrolled": creds is not None,
            "server": creds.server_url if creds else None,
            "device_id": creds.device_id if creds else None,
            "service_running": Lock(cfg.state_dir).held_by_other(),
            "lists": ListStore(state.lists_dir, creds.public_key()).versions() if creds else {},
            "last_full_scan": float(last_scan) if last_scan else None,
            "full_scan_in_progress": bool(unfinished),
            "outbox": state.outbox_counts(),
            "last_delivery_error": state.last_delivery_error(),
            "last_contact": float(contact) if contact else None,
            "watched_paths": state.get_json("watched_paths", []),
            "rejected": [{"id": i, "reason": r} for i, r in state.rejected()],
            "recent_events": [
                {"at": at, "kind": kind, "detail": d} for at, kind, d in state.recent_events(10)
            ],
        }
    finally:
        state.close()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    out = typer.echo
    out(f"enrolled:        {'yes, device ' + info['device_id'] if creds else 'no'}")
    if creds:
        out(f"server:          {info['server']}")
    out(f"service:         {'running' if info['service_running'] else 'not running'}")
    lists = info["lists"]
    out(
        "lists:           "
        + (", ".join(f"{n} v{v}" for n, v in sorted(lists.items())) if lists else "none yet")
    )
    scan = _ago(info["last_full_scan"])
    if unfinished:
        scan += f"; one in progress ({len(unfinished.done_roots)}/{len(unfinished.roots)} roots)"
    out(f"last full scan:  {scan}")
    ob = info["outbox"]
    out(
        f"outbox:          {ob['waiting']} waiting, {ob['delivered']} delivered"
        + (f", {ob['rejected']} refused by the server" if ob["rejected"] else "")
    )
    if info["last_delivery_error"] and ob["waiting"]:
        out(f"last error:      {info['last_delivery_error']}")
    out(f"last contact:    {_ago(info['last_contact'])}")
    paths = info["watched_paths"]
    out(f"watched paths:   {len(paths)}")
    for p in paths[:50]:
        out(f"  {p}")
    if info["recent_events"]:
        out("recent events:")
        for e in info["recent_events"]:
            out(f"  {e['at']}  {e['kind']}")


@agent_app.command("scan-now")
def scan_now_cmd(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders (default: the full-scan roots).", show_default=False),
    ] = None,
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary.")] = False,
) -> None:
    """Scan now, with or without the service running. Without it, what is found is
    delivered before this exits, or the number waiting in the outbox is said.

    Exit status: 0 nothing found, 1 at least one match, 2 an error."""
    from ..agent.oneshot import NoLists, scan_now
    from ..agent.state import StateError

    cfg = _config(config, state_dir)
    creds = _creds(cfg, required=False)
    _logging("warning")
    for p in paths or []:
        if not p.exists():
            raise _fail(f"{p}: no such file or directory")
    try:
        r = scan_now(cfg, creds, [str(p) for p in paths] if paths else None)
    except (NoLists, StateError) as e:
        raise _fail(str(e)) from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; incidents found so far are in the outbox\n")
        raise typer.Exit(130) from None
    s = r.summary
    typer.echo(
        f"scanned {s.files} files ({s.hashed} read, {s.from_cache} unchanged) in "
        f"{s.seconds:.1f} s with lists "
        + ", ".join(f"{n} v{v}" for n, v in sorted(r.list_versions.items()))
    )
    if not quiet:
        for path, why in s.errors[:20]:
            typer.echo(f"not scanned: {path}: {why}", err=True)
        for path, why in s.partial[:20]:
            typer.echo(f"not fully scanned: {path}: {why}", err=True)
    typer.echo(f"{s.matched_files} files matched; {r.new_incidents} new incidents")
    if r.delivered:
        typer.echo(f"{r.delivered} incidents delivered to the server")
    if r.waiting:
        why = f" ({r.delivery_error})" if r.delivery_error else ""
        if r.service_running:
            typer.echo(
                f"{r.waiting} incidents wait in the outbox; the running service delivers them{why}"
            )
        else:
            typer.echo(
                f"{r.waiting} incidents wait in the outbox: the server could not be reached{why}; "
                "the agent service delivers them when it can"
            )
    raise typer.Exit(1 if s.matched_files else 0)
