"""``hashwatch server ...``: set up, run and administer the management server."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

server_app = typer.Typer(
    help="The management server: set up, run, administer.", no_args_is_help=True
)
lists_app = typer.Typer(help="Hash lists published to agents.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
user_app = typer.Typer(help="People's accounts.", no_args_is_help=True)
server_app.add_typer(lists_app, name="lists")
server_app.add_typer(audit_app, name="audit")
server_app.add_typer(user_app, name="user")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        "-d",
        help="Server data directory (default $HASHWATCH_SERVER_DIR or ./hashwatch-server).",
        show_default=False,
    ),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    sys.stderr.write(f"hashwatch server: error: {message}\n")
    return typer.Exit(code)


def _dir(d: Path | None) -> Path:
    from ..server.config import data_dir

    return data_dir(d)


def _password(prompt: bool, file: Path | None) -> str | None:
    if file is not None:
        try:
            return file.read_text().rstrip("\n")
        except OSError as e:
            raise _fail(f"{file}: {e.strerror}") from None
    if prompt and sys.stdin.isatty():
        pw = typer.prompt(
            "Password (empty: generate one)", hide_input=True, default="", show_default=False
        )
        if pw:
            if len(pw) < 12:
                raise _fail("passwords must have at least 12 characters")
            if typer.prompt("Again", hide_input=True) != pw:
                raise _fail("the passwords differ")
            return pw
    return None


@server_app.command("init")
def init(
    data_dir: DataDir = None,
    database: Annotated[
        str | None,
        typer.Option(
            help="postgresql://user@host/db, or a "
            "SQLite file (default: server.db in the data directory)."
        ),
    ] = None,
    admin: Annotated[str, typer.Option(help="First admin account's name.")] = "admin",
    admin_password_file: Annotated[
        Path | None,
        typer.Option(
            help="Read the first admin's password from this file (else asked, or generated)."
        ),
    ] = None,
    public_url: Annotated[str | None, typer.Option(help="URL people reach the server at.")] = None,
    timezone: Annotated[str, typer.Option(help="Time zone of the default site.")] = "UTC",
) -> None:
    """Create the database (migrations), the list-signing key and the first admin."""
    from ..server import operations
    from ..store import DatabaseError

    d = _dir(data_dir)
    pw = _password(True, admin_password_file)
    try:
        r = operations.init(
            d, database=database, admin=admin, password=pw, public_url=public_url, timezone=timezone
        )
    except (DatabaseError, ValueError) as e:
        raise _fail(str(e)) from None
    out = sys.stderr
    out.write(f"config:       {r.config_path}\n")
    out.write(f"database:     {_redact(r.database)} (schema up to date)\n")
    out.write(f"signing key:  {r.key_path} (private, mode 0600)\n")
    if r.admin:
        out.write(f"admin:        {r.admin}\n")
    if r.generated_password:
        out.write(
            f"password:     {r.generated_password}\n"
            "              (shown once: store it now, or change it after signing in)\n"
        )
    out.write(f"next:         hashwatch server run --data-dir {d}\n")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return url


@server_app.command("migrate")
def migrate(data_dir: DataDir = None) -> None:
    """Bring the database schema up to this version's (Alembic migrations)."""
    from ..server import operations
    from ..server.config import ConfigError
    from ..store import DatabaseError

    try:
        before, after = operations.migrate(_dir(data_dir))
    except (ConfigError, DatabaseError) as e:
        raise _fail(str(e)) from None
    sys.stderr.write(f"schema: {before or 'empty'} -> {after}\n")


@server_app.command("run")
def run(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    workers: Annotated[
        int,
        typer.Option(help="Worker processes (2 measured best on 2 cores: bench/bench_fleet.py)."),
    ] = 2,
    ssl_certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the API (and pages) with uvicorn; TLS directly or behind a reverse proxy."""
    from ..server.run import serve

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise _fail("give both --ssl-certfile and --ssl-keyfile, or neither")
    try:
        serve(_dir(data_dir), host, port, workers, ssl_certfile, ssl_keyfile, log_level)
    except Exception as e:  # noqa: BLE001 - configuration and schema errors, said plainly
        if type(e).__name__ in ("ConfigError", "DatabaseError", "KeyError_"):
            raise _fail(str(e)) from None
        raise


@server_app.command("demo")
def demo(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", "-d", help="Where the demo server lives.")
    ] = Path("demo-out/server"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    devices: Annotated[int, typer.Option(help="Devices of the synthetic organisation.")] = 300,
    weeks: Annotated[int, typer.Option(help="Weeks of synthetic incidents.")] = 6,
    seed_only: Annotated[
        bool, typer.Option("--seed-only", help="Make and seed the server, then exit.")
    ] = False,
) -> None:
    """A demo server on SQLite with a clearly synthetic organisation (devices, incidents
    from the harmless test kit, reviews), made on first use, then served."""
    import time

    from ..server import operations

    if not 1 <= devices <= 100_000 or not 1 <= weeks <= 104:
        raise _fail("--devices must be 1-100000 and --weeks 1-104")
    t0 = time.monotonic()
    try:
        creds, report = operations.demo(data_dir, devices=devices, weeks=weeks)
    except Exception as e:  # noqa: BLE001 - said plainly, with the data directory
        raise _fail(f"{data_dir}: {e}") from None
    if report is not None:
        sys.stderr.write(
            f"seeded a synthetic organisation in {time.monotonic() - t0:.1f} s: "
            f"{report.sites} sites, {report.devices} devices, {report.incidents} incidents\n"
        )
    sys.stderr.write(
        f"demo server data: {data_dir} (sign-in details: {data_dir}/"
        f"{operations.DEMO_CREDENTIALS})\n"
    )
    for user, pw in sorted(creds.items()):
        sys.stderr.write(f"  {user:<13} {pw}\n")
    if seed_only:
        return
    sys.stderr.write(f"open http://{host}:{port}/ (Ctrl-C stops it)\n")
    run(
        data_dir=data_dir,
        host=host,
        port=port,
        workers=1,
        ssl_certfile=None,
        ssl_keyfile=None,
        log_level="warning",
    )


@server_app.command("token")
def token(
    data_dir: DataDir = None,
    uses: Annotated[int, typer.Option(help="How many agents may enrol with it.")] = 1,
    expires: Annotated[str, typer.Option(help="Lifetime: 30m, 12h, 7d, 2w.")] = "7d",
    site: Annotated[str | None, typer.Option(help="Site the enrolled devices belong to.")] = None,
    note: Annotated[str | None, typer.Option(help="A note for the admins.")] = None,
) -> None:
    """Make an enrolment token for agents (printed once on stdout)."""
    from ..server import operations
    from ..server.api_people import parse_duration

    if uses < 1:
        raise _fail("--uses must be 1 or more")
    try:
        text, until = operations.enroll_token(
            _dir(data_dir), uses, parse_duration(expires), site, note
        )
    except (ValueError, LookupError) as e:
        raise _fail(str(e)) from None
    sys.stderr.write(f"enrolment token for {uses} agent(s), valid until {until}:\n")
    print(text)


@server_app.command("api-token")
def api_token(
    user: Annotated[str, typer.Option("--user", help="Account the token acts as.")],
    data_dir: DataDir = None,
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    expires_days: Annotated[int, typer.Option(help="Days until it expires (0: never).")] = 365,
) -> None:
    """Make a personal API token (printed once on stdout)."""
    from ..server import operations

    try:
        text = operations.api_token(_dir(data_dir), user, name, expires_days or None)
    except LookupError as e:
        raise _fail(str(e)) from None
    print(text)


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[
        str, typer.Option(help="admin, investigator, auditor or analyst (hotline takedowns).")
    ],
    data_dir: DataDir = None,
    password_file: Annotated[Path | None, typer.Option(help="Read the password from here.")] = None,
) -> None:
    """Add an account (password asked, read from a file, or generated and printed once)."""
    from ..server import operations
    from ..server.auth import ROLES
    from ..server.secrets_ import generate_password

    if role not in ROLES:
        raise _fail(f"--role must be one of {', '.join(ROLES)}")
    pw = _password(True, password_file)
    generated = pw is None
    pw = pw or generate_password()
    try:
        operations.add_user(_dir(data_dir), username, role, pw)
    except LookupError as e:
        raise _fail(str(e)) from None
    sys.stderr.write(f"account {username} ({role}) added\n")
    if generated:
        sys.stderr.write(f"password: {pw}   (shown once)\n")


@lists_app.command("import")
def lists_import(
    file: Path,
    name: Annotated[str, typer.Option("--name", help="The list's name.")],
    data_dir: DataDir = None,
    dry_run: Annotated[bool, typer.Option(help="Validate and report only.")] = False,
    type_: Annotated[
        str, typer.Option("--type", help="Type of 64-digit bare hex lines: sha256 or pdq.")
    ] = "sha256",
) -> None:
    """Import a list file (any supported format) as the list's next version."""
    from ..lists import ListFormatError
    from ..server import operations
    from ..server.lists_service import ListServiceError

    try:
        r = operations.import_list(_dir(data_dir), file, name, dry_run=dry_run, hex64=type_)
    except (ListFormatError, ListServiceError) as e:
        raise _fail(str(e)) from None
    print(json.dumps(r.as_dict(), sort_keys=True))
    verb = f"published as version {r.version}" if r.applied else "not applied"
    sys.stderr.write(
        f"{r.name}: {r.entries} entries ({r.format}); +{r.added} -{r.removed} "
        f"={r.unchanged}; {r.retired_skipped} retired left out; {verb}\n"
    )
    for w in r.warnings:
        sys.stderr.write(f"warning: {w}\n")


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = None) -> None:
    """Check the audit log's hash chain from the first entry to the last."""
    from ..server import operations

    r = operations.verify_audit(_dir(data_dir))
    if r.ok:
        sys.stderr.write(f"audit log intact: {r.entries} entries, head {r.head}\n")
        return
    sys.stderr.write(
        f"AUDIT LOG BROKEN at entry {r.at_id}: {r.problem} "
        f"({r.entries} entries verified before it)\n"
    )
    raise typer.Exit(1)
