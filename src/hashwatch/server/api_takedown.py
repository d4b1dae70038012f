"""The takedown tracker for people and other tools (/api/v1/takedown): reported URLs (intake
one by one, in bulk, from a CSV file or from an incident), their status and history, the
host attribution table and the hosts it does not cover. Every change and every view of a
URL's detail is audited. A URL is shown as text, never as a link, and never fetched here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import Field

from ..store.db import naive_utc, utcnow
from ..store.models import TakedownNotice, TakedownReply, TakedownUrl
from ..takedown import notices, service
from ..takedown.hosts import HostRow, HostRowError, HostsFileError, read_hosts_csv, write_hosts_csv
from ..takedown.intake_csv import read_reports_csv
from ..takedown.urls import UrlError
from . import takedown_run
from .api_incidents import Strict
from .auth import Principal, record, require

router = APIRouter(prefix="/api/v1/takedown", tags=["takedown"])
MAX_BATCH = 1000


def _fail(e: service.TakedownError) -> HTTPException:
    return HTTPException(e.status, str(e))


def _iso(t: datetime | None) -> str | None:
    return t.isoformat(timespec="seconds") + "Z" if t else None


def url_json(r: TakedownUrl, attribution: HostRow | None = None) -> dict:
    return {
        "id": r.id,
        "url": r.url,
        "host": r.host,
        "status": r.status,
        "status_at": _iso(r.status_at),
        "reported_at": _iso(r.reported_at),
        "times_reported": r.times_reported,
        "source": r.source,
        "category": r.category,
        "incident_id": r.incident_id,
        "hashes": r.hashes or [],
        "removed_at": _iso(r.removed_at),
        "notices": r.notices,
        "last_notice_at": _iso(r.last_notice_at),
        "escalated_at": _iso(r.escalated_at),
        "last_check_at": _iso(r.last_check_at),
        "last_check": r.last_check,
        "provider": attribution.provider if attribution else None,
        "country": attribution.country if attribution else None,
    }


def host_json(row: HostRow) -> dict:
    return {
        "pattern": row.pattern,
        "provider": row.provider,
        "abuse_email": row.abuse_email,
        "country": row.country,
        "notes": row.notes,
    }


# ---- reported URLs --------------------------------------------------------------------------


class ReportIn(Strict):
    url: Annotated[str, Field(min_length=1, max_length=8192)]
    reported_at: datetime | None = Field(None, description="when it was reported (UTC); now")
    source: Annotated[str | None, Field(max_length=100)] = None
    category: Annotated[str | None, Field(max_length=100)] = None
    hashes: list[dict] | str | None = Field(
        None, description='"pdq:<hex> sha256:<hex>" or [{"type": "pdq", "value": "<hex>"}]'
    )


class ReportsIn(Strict):
    urls: Annotated[list[ReportIn], Field(min_length=1, max_length=MAX_BATCH)]


def _naive(t: datetime | None, now: datetime) -> datetime:
    return now if t is None else naive_utc(t)


def _source_of(me: Principal, given: str | None) -> str:
    if given:
        return given
    return f"api:{me.name}" if me.kind == "token" else "manual"


@router.get("/urls")
def list_urls(
    request: Request,
    status: list[Literal[service.STATUSES]] = Query(None),  # type: ignore[valid-type]
    open_only: bool = Query(False, alias="open"),
    host: str | None = Query(None, max_length=260),
    q: str | None = Query(None, max_length=200, description="part of the URL"),
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    me: Principal = Depends(require("takedown:read")),
) -> dict:
    statuses = status or None
    if open_only:
        statuses = [x for x in statuses or service.OPEN if x in service.OPEN]
    with request.app.state.db.reading() as s:
        try:
            total, rows = service.find(
                s, statuses=statuses, host=host, q=q, limit=limit, offset=offset
            )
        except UrlError as e:
            raise HTTPException(422, f"host: {e}") from None
        table = service.host_table(s)
        return {"total": total, "urls": [url_json(r, table.lookup(r.host)) for r in rows]}


def _intake(request: Request, me: Principal, reports, where, action: str, detail: dict) -> dict:
    now = utcnow()
    with request.app.state.db.transaction() as s:
        result = service.intake(s, reports, by=me.name, now=now, where=where)
        record(
            s,
            me,
            request,
            action=action,
            target_type="takedown",
            detail={
                **detail,
                "created": len(result.created),
                "again": len(result.again),
                "reappeared": len(result.reappeared),
                "rejected": len(result.rejected),
            },
        )
        return result.as_dict()


@router.post("/urls", status_code=201)
def add_urls(
    body: ReportsIn, request: Request, me: Principal = Depends(require("takedown:write"))
) -> dict:
    """Report URLs (one or many): each is normalised, and a URL already known (however
    spelled) is reported again rather than added twice. URLs that cannot be taken are
    listed under ``rejected`` with the reason; the others are kept."""
    now = utcnow()
    reports = []
    for i, u in enumerate(body.urls):
        try:
            hashes = service.parse_hashes(u.hashes, f"urls.{i}.hashes")
        except service.TakedownError as e:
            raise _fail(e) from None
        reports.append(
            service.Report(
                url=u.url,
                reported_at=_naive(u.reported_at, now),
                source=_source_of(me, u.source),
                category=u.category,
                hashes=hashes,
            )
        )
    where = [f"urls.{i}" for i in range(len(reports))]
    return _intake(request, me, reports, where, "takedown.report", {"urls": len(reports)})


@router.post("/urls/import", status_code=201)
async def import_urls(
    request: Request,
    name: str = Query("upload.csv", max_length=200, description="the file's name, for errors"),
    partial: bool = Query(False, description="take the good rows even if some are bad"),
    me: Principal = Depends(require("takedown:write")),
) -> dict:
    """A CSV file (``url, reported_at, source, category, hashes``) as the request body. A
    file with bad rows is refused as a whole, naming every line and field, unless
    ``partial`` is set: then the good rows are taken and the bad ones listed."""
    data = await request.body()
    limit = request.app.state.cfg.list_upload_bytes
    if len(data) > limit:
        raise HTTPException(413, f"request body larger than {limit} bytes")
    return import_csv(request, me, data, name, partial)


def import_csv(request: Request, me: Principal, data: bytes, name: str, partial: bool) -> dict:
    """Read and take a URL CSV (the API's and the page's upload alike)."""
    try:
        parsed = read_reports_csv(data, name=name, now=utcnow())
    except service.TakedownError as e:
        raise _fail(e) from None
    if parsed.errors and not partial:
        raise HTTPException(
            422,
            {
                "message": f"{name}: {len(parsed.errors)} bad row(s); nothing was imported",
                "errors": parsed.error_texts(),
            },
        )
    out = _intake(
        request,
        me,
        parsed.reports,
        parsed.where,
        "takedown.import",
        {"file": name, "rows": len(parsed.reports) + len(parsed.errors)},
    )
    out["rejected"] = [
        {"at": f"line {n}", "url": "", "reason": f"{f}: {r}"} for n, f, r in parsed.errors
    ] + out["rejected"]
    return out


@router.post("/from-incident/{incident_id}", status_code=201)
def from_incident(
    incident_id: str, request: Request, me: Principal = Depends(require("incidents:write"))
) -> dict:
    """Report the incident's origin URL (the page it was downloaded from), with its hashes."""
    now = utcnow()
    with request.app.state.db.transaction() as s:
        try:
            result = service.from_incident(s, incident_id, by=me.name, now=now)
        except service.TakedownError as e:
            raise _fail(e) from None
        url_id = (result.created or result.again)[0]
        record(
            s,
            me,
            request,
            action="takedown.from_incident",
            target_type="incident",
            target_id=incident_id,
            detail={"url_id": url_id, "new": bool(result.created)},
        )
        return {"id": url_id, **result.as_dict()}


@router.get("/urls/{url_id}")
def get_url(url_id: str, request: Request, me: Principal = Depends(require("takedown:read"))):
    """A URL with its status history (every view is audited)."""
    with request.app.state.db.transaction() as s:
        try:
            row = service.get(s, url_id)
        except service.TakedownError as e:
            raise _fail(e) from None
        out = url_json(row, service.host_table(s).lookup(row.host))
        out["history"] = [
            {
                "at": _iso(e.at),
                "by": e.by,
                "kind": e.kind,
                "from": e.from_status,
                "to": e.to_status,
                "note": e.note,
            }
            for e in service.history(s, url_id)
        ]
        record(s, me, request, action="takedown.view", target_type="takedown", target_id=url_id)
        return out


class StatusIn(Strict):
    status: Literal["removed", "reappeared", "notice_sent"]
    note: Annotated[str | None, Field(max_length=2000)] = None
    at: datetime | None = Field(None, description="when it happened (UTC); now")


@router.post("/urls/{url_id}/status")
def set_status(
    url_id: str,
    body: StatusIn,
    request: Request,
    me: Principal = Depends(require("takedown:write")),
) -> dict:
    """An analyst's change: confirmed removed, found live again, or a notice sent by hand."""
    now = utcnow()
    at = _naive(body.at, now)
    if at > now:
        raise HTTPException(422, "at: in the future")
    with request.app.state.db.transaction() as s:
        try:
            row = service.get(s, url_id)
            before = row.status
            service.move(s, row, body.status, by=me.name, at=at, note=body.note)
        except service.TakedownError as e:
            raise _fail(e) from None
        record(
            s,
            me,
            request,
            action="takedown.status",
            target_type="takedown",
            target_id=url_id,
            detail={"from": before, "to": body.status, "note": body.note},
        )
        return url_json(row, service.host_table(s).lookup(row.host))


class NoteIn(Strict):
    note: Annotated[str, Field(min_length=1, max_length=2000)]


@router.post("/urls/{url_id}/notes", status_code=201)
def add_note(
    url_id: str, body: NoteIn, request: Request, me: Principal = Depends(require("takedown:write"))
) -> dict:
    with request.app.state.db.transaction() as s:
        try:
            row = service.get(s, url_id)
            service.note(s, row, body.note, by=me.name, at=utcnow())
        except service.TakedownError as e:
            raise _fail(e) from None
        record(s, me, request, action="takedown.note", target_type="takedown", target_id=url_id)
        return {"ok": True}


# ---- hosts ----------------------------------------------------------------------------------


@router.get("/hosts")
def list_hosts(request: Request, me: Principal = Depends(require("takedown:read"))) -> dict:
    with request.app.state.db.reading() as s:
        return {"hosts": [host_json(r) for r in service.host_table(s)]}


@router.get("/hosts.csv")
def export_hosts(request: Request, me: Principal = Depends(require("takedown:read"))):
    with request.app.state.db.reading() as s:
        text = write_hosts_csv(list(service.host_table(s)))
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="hashwatch-hosts.csv"'},
    )


class HostIn(Strict):
    pattern: Annotated[str, Field(min_length=1, max_length=260)]
    provider: Annotated[str, Field(min_length=1, max_length=200)]
    abuse_email: Annotated[str, Field(min_length=3, max_length=254)]
    country: Annotated[str, Field(min_length=2, max_length=2)]
    notes: Annotated[str, Field(max_length=1000)] = ""


class HostsIn(Strict):
    hosts: Annotated[list[HostIn], Field(min_length=1, max_length=10000)]


@router.put("/hosts")
def put_hosts(
    body: HostsIn, request: Request, me: Principal = Depends(require("takedown:manage"))
) -> dict:
    """Add or replace rows (by pattern)."""
    rows = []
    for i, h in enumerate(body.hosts):
        try:
            rows.append(HostRow(h.pattern, h.provider, h.abuse_email, h.country, h.notes))
        except HostRowError as e:
            raise HTTPException(422, f"hosts.{i}.{e.field}: {e.reason}") from None
    return _store_hosts(request, me, rows, "takedown.hosts", {})


def _store_hosts(request: Request, me: Principal, rows: list[HostRow], action, detail) -> dict:
    patterns = [r.pattern for r in rows]
    if len(set(patterns)) != len(patterns):
        dup = next(p for p in patterns if patterns.count(p) > 1)
        raise HTTPException(422, f"pattern {dup!r} is given twice")
    with request.app.state.db.transaction() as s:
        added, changed = service.put_hosts(s, rows, by=me.name, now=utcnow())
        record(
            s,
            me,
            request,
            action=action,
            target_type="takedown_hosts",
            target_id=patterns[0] if len(patterns) == 1 else None,
            detail={**detail, "added": added, "changed": changed, "patterns": patterns[:1000]},
        )
        return {"added": added, "changed": changed, "unchanged": len(rows) - added - changed}


@router.post("/hosts/import")
async def import_hosts(
    request: Request,
    name: str = Query("hosts.csv", max_length=200),
    me: Principal = Depends(require("takedown:manage")),
) -> dict:
    """A hosts CSV (``pattern, provider, abuse_email, country, notes``) as the request body:
    every row is checked first; one bad row refuses the file, naming its line and field."""
    return import_hosts_csv(request, me, await request.body(), name)


def import_hosts_csv(request: Request, me: Principal, data: bytes, name: str) -> dict:
    """Read a hosts CSV and store its rows (the API's and the page's upload alike)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HTTPException(422, f"{name}: not UTF-8 text (byte {e.start})") from None
    try:
        rows = read_hosts_csv(text if "\n" in text else text + "\n", name=name)
    except HostsFileError as e:
        raise HTTPException(422, str(e)) from None
    except ValueError as e:
        raise HTTPException(422, f"{name}: {e}") from None
    if not rows:
        raise HTTPException(422, f"{name}: no rows")
    return _store_hosts(request, me, rows, "takedown.hosts_import", {"file": name})


@router.delete("/hosts/{pattern}", status_code=204)
def delete_host(
    pattern: str, request: Request, me: Principal = Depends(require("takedown:manage"))
) -> Response:
    with request.app.state.db.transaction() as s:
        try:
            service.delete_host(s, pattern)
        except service.TakedownError as e:
            raise _fail(e) from None
        record(
            s,
            me,
            request,
            action="takedown.host_delete",
            target_type="takedown_hosts",
            target_id=pattern,
        )
    return Response(status_code=204)


@router.get("/unknown-hosts")
def unknown_hosts(request: Request, me: Principal = Depends(require("takedown:read"))) -> dict:
    """Hosts with open URLs that the attribution table does not cover: no notice can reach
    them until a row is added."""
    with request.app.state.db.reading() as s:
        return {
            "hosts": [
                {"host": h.host, "open": h.open, "oldest_reported_at": _iso(h.oldest)}
                for h in service.unknown_hosts(s)
            ]
        }


# ---- notices, replies, templates ------------------------------------------------------------


def notice_json(n: TakedownNotice, with_body: bool = False) -> dict:
    out = {
        "id": n.id,
        "host": n.host,
        "provider": n.provider,
        "kind": n.kind,
        "sequence": n.sequence,
        "to": n.to_addresses,
        "subject": n.subject,
        "status": n.status,
        "error": n.error,
        "created_at": _iso(n.created_at),
        "sent_at": _iso(n.sent_at),
        "message_id": n.message_id,
    }
    if with_body:
        out["body"] = n.body
    return out


def reply_json(r: TakedownReply) -> dict:
    return {
        "id": r.id,
        "host": r.host,
        "notice_id": r.notice_id,
        "received_at": _iso(r.received_at),
        "from_address": r.from_address,
        "summary": r.summary,
        "recorded_at": _iso(r.recorded_at),
        "recorded_by": r.recorded_by,
    }


@router.get("/notices")
def list_notices(
    request: Request,
    host: str | None = Query(None, max_length=260),
    limit: int = Query(100, ge=1, le=1000),
    me: Principal = Depends(require("takedown:read")),
) -> dict:
    with request.app.state.db.reading() as s:
        return {
            "notices": [notice_json(n) for n in notices.notices_for(s, host=host, limit=limit)],
            "replies": [reply_json(r) for r in notices.replies_for(s, host=host, limit=limit)],
        }


@router.get("/notices/{notice_id}")
def get_notice(
    notice_id: int, request: Request, me: Principal = Depends(require("takedown:read"))
) -> dict:
    with request.app.state.db.reading() as s:
        n = s.get(TakedownNotice, notice_id)
        if n is None:
            raise HTTPException(404, f"no notice {notice_id}")
        out = notice_json(n, with_body=True)
        out["urls"] = [u.id for u in notices.notice_urls(s, notice_id)]
        out["replies"] = [reply_json(r) for r in notices.replies_for(s, notice_id=notice_id)]
        return out


@router.post("/notices/run")
def run_due_notices(request: Request, me: Principal = Depends(require("takedown:write"))) -> dict:
    """Send the notices that are due now (the server also does this every minute)."""
    try:
        done = takedown_run.run_notices(
            request.app.state.db, lock=request.app.state.cfg.data_dir / "takedown.lock", wait=30
        )
    except (takedown_run.NoticesOff, takedown_run.Busy) as e:
        raise HTTPException(409, f"notices not sent: {e}") from None
    with request.app.state.db.transaction() as s:
        record(s, me, request, action="takedown.notices_run", detail={"notices": len(done)})
    return {"notices": done}


class ReplyIn(Strict):
    host: Annotated[str, Field(min_length=1, max_length=260)]
    notice_id: int | None = None
    received_at: datetime | None = None
    from_address: Annotated[str | None, Field(max_length=254)] = None
    summary: Annotated[str, Field(min_length=1, max_length=5000)]


@router.post("/replies", status_code=201)
def add_reply(
    body: ReplyIn, request: Request, me: Principal = Depends(require("takedown:write"))
) -> dict:
    """Record a host's reply (typed by an analyst, or posted by a mail gateway)."""
    now = utcnow()
    with request.app.state.db.transaction() as s:
        try:
            r = notices.record_reply(
                s,
                host=body.host,
                notice_id=body.notice_id,
                received_at=_naive(body.received_at, now),
                from_address=body.from_address,
                summary=body.summary,
                by=me.name,
                now=now,
            )
        except service.TakedownError as e:
            raise _fail(e) from None
        record(
            s,
            me,
            request,
            action="takedown.reply",
            target_type="takedown_host",
            target_id=r.host,
            detail={"reply": r.id, "notice": r.notice_id},
        )
        return reply_json(r)


@router.get("/templates")
def get_templates(request: Request, me: Principal = Depends(require("takedown:read"))) -> dict:
    with request.app.state.db.reading() as s:
        out = {}
        for name in notices.TEMPLATE_NAMES:
            subject, body = notices.template(s, name)
            out[name] = {
                "subject": subject,
                "body": body,
                "default": (subject, body) == notices.DEFAULT_TEMPLATES[name],
            }
        return {"templates": out, "placeholders": notices.PLACEHOLDERS}


class TemplateIn(Strict):
    subject: Annotated[str, Field(min_length=1, max_length=300)]
    body: Annotated[str, Field(min_length=1, max_length=20000)]


@router.put("/templates/{name}")
def put_template(
    name: str,
    body: TemplateIn,
    request: Request,
    me: Principal = Depends(require("takedown:manage")),
) -> dict:
    with request.app.state.db.transaction() as s:
        try:
            notices.put_template(s, name, body.subject, body.body, by=me.name, now=utcnow())
        except service.TakedownError as e:
            raise _fail(e) from None
        record(s, me, request, action="takedown.template", target_type="template", target_id=name)
        return {"name": name, "subject": body.subject, "body": body.body}


@router.delete("/templates/{name}", status_code=204)
def reset_template(
    name: str, request: Request, me: Principal = Depends(require("takedown:manage"))
) -> Response:
    with request.app.state.db.transaction() as s:
        try:
            notices.reset_template(s, name)
        except service.TakedownError as e:
            raise _fail(e) from None
        record(
            s,
            me,
            request,
            action="takedown.template_reset",
            target_type="template",
            target_id=name,
        )
    return Response(status_code=204)
