"""The takedown tracker's pages: the URL queue with manual entry and CSV import, a URL's page
(every opening audited) with its history and notices, the host table with the hosts it
does not cover, and "report for takedown" from an incident. URLs are shown defanged, as
text: no page links to, embeds or fetches a reported URL."""

from __future__ import annotations

from math import ceil

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import func, or_, select

from ...store.db import utcnow
from ...store.models import TakedownNotice, TakedownNoticeUrl, TakedownUrl
from ...takedown import notices, service
from ...takedown.hosts import HostRow, HostRowError, HostsFileError, read_hosts_csv
from ...takedown.intake_csv import read_reports_csv
from ...takedown.urls import UrlError, normalise_host
from .. import takedown_run
from ..auth import Principal, record
from ..settings import get_setting
from .base import can, page, redirect, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
UPLOAD_LIMIT = 20 * 1024 * 1024


def _summary(result: service.IntakeResult, extra_rejected: int = 0) -> str:
    parts = [f"{len(result.created)} new"]
    if result.again:
        parts.append(f"{len(result.again)} already known (reported again)")
    if result.reappeared:
        parts.append(f"{len(result.reappeared)} reappeared after removal")
    bad = len(result.rejected) + extra_rejected
    if bad:
        parts.append(f"{bad} refused")
    return "Reported URLs: " + ", ".join(parts) + "."


def _rejections(result: service.IntakeResult, limit: int = 10) -> str:
    lines = [f"{at}: {reason}" for at, _url, reason in result.rejected[:limit]]
    return (" " + "; ".join(lines)) if lines else ""


@router.get("/takedown")
def takedown_queue(request: Request, me: Principal = Depends(page("takedown:read"))):
    qp = request.query_params
    status = [x for x in qp.getlist("status") if x in service.STATUSES]
    if not qp.get("f") and not status:
        status = list(service.OPEN)
    host = (qp.get("host") or "").strip()[:260]
    q = (qp.get("q") or "").strip()[:200]
    try:
        pg = max(1, int(qp.get("page") or 1))
    except ValueError:
        pg = 1
    conds = [TakedownUrl.status.in_(status)] if status else []
    errors = []
    if host:
        try:
            h = normalise_host(host)
            conds.append(or_(TakedownUrl.host == h, TakedownUrl.host.like(f"%.{h}")))
        except UrlError as e:
            errors.append(f"host: {e}")
    if q:
        conds.append(TakedownUrl.url.contains(q, autoescape=True))
    with request.app.state.db.reading() as s:
        table = service.host_table(s)
        total = s.scalar(select(func.count()).select_from(TakedownUrl).where(*conds))
        rows = s.scalars(
            select(TakedownUrl)
            .where(*conds)
            .order_by(TakedownUrl.reported_at.desc(), TakedownUrl.id)
            .limit(PAGE_SIZE)
            .offset((pg - 1) * PAGE_SIZE)
        ).all()
        counts = dict(
            s.execute(select(TakedownUrl.status, func.count()).group_by(TakedownUrl.status)).all()
        )
        unknown = service.unknown_hosts(s)
        urls = [(r, table.lookup(r.host)) for r in rows]
    return render(
        request,
        "takedown.html",
        me,
        urls=urls,
        total=total,
        page=pg,
        pages=max(1, ceil(total / PAGE_SIZE)),
        statuses=service.STATUSES,
        chosen=status,
        host=host,
        q=q,
        counts=counts,
        unknown=unknown[:20],
        unknown_total=len(unknown),
        errors=errors,
    )


@router.post("/takedown/report")
async def report_urls(request: Request, me: Principal = Depends(page("takedown:write"))):
    """Manual entry: one URL per line, with an optional category and hashes for all."""
    form = await request.form()
    lines = [x.strip() for x in str(form.get("urls") or "").splitlines() if x.strip()]
    if not lines:
        return redirect("/takedown", "Paste at least one URL, one per line.", error=True)
    if len(lines) > 1000:
        return redirect("/takedown", "At most 1,000 URLs at once: use CSV import.", error=True)
    now = utcnow()
    try:
        hashes = service.parse_hashes(str(form.get("hashes") or ""), "hashes")
    except service.TakedownError as e:
        return redirect("/takedown", str(e), error=True)
    category = str(form.get("category") or "").strip()[:100] or None
    reports = [
        service.Report(url=u, reported_at=now, category=category, hashes=hashes) for u in lines
    ]
    with request.app.state.db.transaction() as s:
        result = service.intake(
            s, reports, by=me.name, now=now, where=[f"line {i + 1}" for i in range(len(lines))]
        )
        record(
            s,
            me,
            request,
            action="takedown.report",
            target_type="takedown",
            detail={"urls": len(lines), "created": len(result.created)},
        )
    return redirect(
        "/takedown", _summary(result) + _rejections(result), error=bool(result.rejected)
    )


@router.post("/takedown/import")
async def import_urls(request: Request, me: Principal = Depends(page("takedown:write"))):
    form = await request.form()
    upload = form.get("file")
    if upload is None or not hasattr(upload, "read"):
        return redirect("/takedown", "Choose a CSV file to import.", error=True)
    name = (upload.filename or "upload.csv")[:200]
    data = await upload.read(UPLOAD_LIMIT + 1)
    if len(data) > UPLOAD_LIMIT:
        return redirect("/takedown", f"{name}: larger than 20 MiB: split the file.", error=True)
    now = utcnow()
    try:
        parsed = read_reports_csv(data, name=name, now=now)
    except service.TakedownError as e:
        return redirect("/takedown", str(e), error=True)
    partial = form.get("partial") == "1"
    if parsed.errors and not partial:
        shown = "; ".join(parsed.error_texts(10))
        more = len(parsed.errors) - 10
        return redirect(
            "/takedown",
            f"{name}: {len(parsed.errors)} bad row(s), nothing imported: {shown}"
            + (f" (and {more} more)" if more > 0 else "")
            + ". Fix them, or tick 'take the good rows'.",
            error=True,
        )
    with request.app.state.db.transaction() as s:
        result = service.intake(s, parsed.reports, by=me.name, now=now, where=parsed.where)
        record(
            s,
            me,
            request,
            action="takedown.import",
            target_type="takedown",
            detail={"file": name, "rows": len(parsed.reports) + len(parsed.errors)},
        )
    skipped = "; ".join(parsed.error_texts(5))
    text = _summary(result, len(parsed.errors)) + _rejections(result, 5)
    return redirect(
        "/takedown",
        f"{name}: " + text + (f" Left out: {skipped}." if skipped else ""),
        error=bool(result.rejected or parsed.errors),
    )


@router.post("/incidents/{incident_id}/takedown")
async def from_incident(
    incident_id: str, request: Request, me: Principal = Depends(page("incidents:write"))
):
    with request.app.state.db.transaction() as s:
        try:
            result = service.from_incident(s, incident_id, by=me.name, now=utcnow())
        except service.TakedownError as e:
            return redirect(f"/incidents/{incident_id}", str(e), error=True)
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
    text = "Origin URL reported for takedown." if result.created else "Origin URL reported again."
    if result.reappeared:
        text = "Origin URL reported again: it had been removed and has reappeared."
    target = f"/takedown/urls/{url_id}" if _can_open(me) else f"/incidents/{incident_id}"
    return redirect(target, text)


def _can_open(me: Principal) -> bool:
    return can(me.role, "takedown:read")


@router.get("/takedown/urls/{url_id}")
def url_page(url_id: str, request: Request, me: Principal = Depends(page("takedown:read"))):
    with request.app.state.db.transaction() as s:
        try:
            row = service.get(s, url_id)
        except service.TakedownError as e:
            raise HTTPException(e.status, str(e)) from None
        attribution = service.host_table(s).lookup(row.host)
        events = service.history(s, url_id)
        notices = s.scalars(
            select(TakedownNotice)
            .join(TakedownNoticeUrl, TakedownNoticeUrl.notice_id == TakedownNotice.id)
            .where(TakedownNoticeUrl.url_id == url_id)
            .order_by(TakedownNotice.created_at.desc())
            .limit(100)
        ).all()
        record(s, me, request, action="takedown.view", target_type="takedown", target_id=url_id)
        moves = service.MOVES[row.status]
        return render(
            request,
            "takedown_url.html",
            me,
            u=row,
            attribution=attribution,
            events=events,
            notices=notices,
            moves=[m for m in moves if m != "notice_sent"],
        )


@router.post("/takedown/urls/{url_id}/status")
async def url_status(
    url_id: str, request: Request, me: Principal = Depends(page("takedown:write"))
):
    form = await request.form()
    to = str(form.get("to") or "")
    note = str(form.get("note") or "").strip()[:2000] or None
    with request.app.state.db.transaction() as s:
        try:
            row = service.get(s, url_id)
            before = row.status
            service.move(s, row, to, by=me.name, at=utcnow(), note=note)
        except service.TakedownError as e:
            return redirect(f"/takedown/urls/{url_id}", str(e), error=True)
        record(
            s,
            me,
            request,
            action="takedown.status",
            target_type="takedown",
            target_id=url_id,
            detail={"from": before, "to": to, "note": note},
        )
    return redirect(f"/takedown/urls/{url_id}", f"Marked {to}.")


@router.post("/takedown/urls/{url_id}/note")
async def url_note(url_id: str, request: Request, me: Principal = Depends(page("takedown:write"))):
    form = await request.form()
    text = str(form.get("note") or "").strip()
    if len(text) > 2000:
        return redirect(
            f"/takedown/urls/{url_id}", "A note is at most 2,000 characters.", error=True
        )
    with request.app.state.db.transaction() as s:
        try:
            service.note(s, service.get(s, url_id), text, by=me.name, at=utcnow())
        except service.TakedownError as e:
            return redirect(f"/takedown/urls/{url_id}", str(e), error=True)
        record(s, me, request, action="takedown.note", target_type="takedown", target_id=url_id)
    return redirect(f"/takedown/urls/{url_id}", "Note added.")


# ---- hosts ----------------------------------------------------------------------------------


@router.get("/takedown/hosts")
def hosts_page(request: Request, me: Principal = Depends(page("takedown:read"))):
    with request.app.state.db.reading() as s:
        loads = service.open_by_host(s)
        open_by_pattern: dict[str, int] = {}
        for h in loads:
            if h.attribution is not None:
                p = h.attribution.pattern
                open_by_pattern[p] = open_by_pattern.get(p, 0) + h.open
        return render(
            request,
            "takedown_hosts.html",
            me,
            hosts=list(service.host_table(s)),
            open_by_pattern=open_by_pattern,
            unknown=[h for h in loads if h.attribution is None],
            prefill=(request.query_params.get("host") or "")[:260],
        )


@router.post("/takedown/hosts")
async def hosts_put(request: Request, me: Principal = Depends(page("takedown:manage"))):
    form = await request.form()
    try:
        row = HostRow(
            str(form.get("pattern") or ""),
            str(form.get("provider") or ""),
            str(form.get("abuse_email") or ""),
            str(form.get("country") or ""),
            str(form.get("notes") or ""),
        )
    except HostRowError as e:
        return redirect("/takedown/hosts", f"Not saved: {e}", error=True)
    with request.app.state.db.transaction() as s:
        added, changed = service.put_hosts(s, [row], by=me.name, now=utcnow())
        record(
            s,
            me,
            request,
            action="takedown.hosts",
            target_type="takedown_hosts",
            target_id=row.pattern,
            detail={"added": added, "changed": changed},
        )
    return redirect("/takedown/hosts", f"Saved {row.pattern} ({row.provider}).")


@router.post("/takedown/hosts/import")
async def hosts_import(request: Request, me: Principal = Depends(page("takedown:manage"))):
    form = await request.form()
    upload = form.get("file")
    if upload is None or not hasattr(upload, "read"):
        return redirect("/takedown/hosts", "Choose a CSV file to import.", error=True)
    name = (upload.filename or "hosts.csv")[:200]
    data = await upload.read(UPLOAD_LIMIT + 1)
    if len(data) > UPLOAD_LIMIT:
        return redirect("/takedown/hosts", f"{name}: larger than 20 MiB.", error=True)
    try:
        text = data.decode("utf-8")
        rows = read_hosts_csv(text if "\n" in text else text + "\n", name=name)
    except UnicodeDecodeError as e:
        return redirect("/takedown/hosts", f"{name}: not UTF-8 text (byte {e.start})", error=True)
    except (HostsFileError, ValueError) as e:
        return redirect("/takedown/hosts", f"Nothing imported: {e}", error=True)
    with request.app.state.db.transaction() as s:
        added, changed = service.put_hosts(s, rows, by=me.name, now=utcnow())
        record(
            s,
            me,
            request,
            action="takedown.hosts_import",
            target_type="takedown_hosts",
            detail={"file": name, "added": added, "changed": changed},
        )
    return redirect(
        "/takedown/hosts",
        f"{name}: {added} added, {changed} changed, {len(rows) - added - changed} unchanged.",
    )


@router.post("/takedown/hosts/delete")
async def hosts_delete(request: Request, me: Principal = Depends(page("takedown:manage"))):
    form = await request.form()
    pattern = str(form.get("pattern") or "")[:260]
    with request.app.state.db.transaction() as s:
        try:
            service.delete_host(s, pattern)
        except service.TakedownError as e:
            return redirect("/takedown/hosts", str(e), error=True)
        record(
            s,
            me,
            request,
            action="takedown.host_delete",
            target_type="takedown_hosts",
            target_id=pattern,
        )
    return redirect("/takedown/hosts", f"Removed {pattern}.")


# ---- notices, replies, templates ------------------------------------------------------------


@router.get("/takedown/notices")
def notices_page(request: Request, me: Principal = Depends(page("takedown:read"))):
    host = (request.query_params.get("host") or "").strip()[:260] or None
    with request.app.state.db.reading() as s:
        sent = notices.notices_for(s, host=host, limit=200)
        replies = notices.replies_for(s, host=host, limit=200)
        templates = {n: notices.template(s, n) for n in notices.TEMPLATE_NAMES}
        settings = {k: get_setting(s, k) for k in TAKEDOWN_SETTINGS}
        try:
            takedown_run.mail_sender(s)
            mail_off = None
        except (takedown_run.NoticesOff, takedown_run.Busy) as e:
            mail_off = str(e)
        due = len(notices.due(s, utcnow(), takedown_run.notice_policy(s)))
    return render(
        request,
        "takedown_notices.html",
        me,
        sent=sent,
        replies=replies,
        host=host or "",
        templates=templates,
        placeholders=notices.PLACEHOLDERS,
        settings=settings,
        mail_off=mail_off,
        due=due,
    )


TAKEDOWN_SETTINGS = (
    "takedown_mail_target",
    "takedown_sender",
    "takedown_resend_hours",
    "takedown_escalate_after",
    "takedown_escalation_cc",
    "takedown_recheck",
    "takedown_recheck_hours",
)


@router.post("/takedown/notices/run")
async def notices_run(request: Request, me: Principal = Depends(page("takedown:write"))):
    try:
        done = takedown_run.run_notices(
            request.app.state.db, lock=request.app.state.cfg.data_dir / "takedown.lock", wait=30
        )
    except (takedown_run.NoticesOff, takedown_run.Busy) as e:
        return redirect("/takedown/notices", f"Notices not sent: {e}.", error=True)
    with request.app.state.db.transaction() as s:
        record(s, me, request, action="takedown.notices_run", detail={"notices": len(done)})
    failed = [d for d in done if d["status"] != "sent"]
    text = f"{len(done) - len(failed)} notice(s) sent."
    if failed:
        text += f" {len(failed)} failed: " + "; ".join(
            f"{d['host']}: {d['error']}" for d in failed[:5]
        )
    return redirect("/takedown/notices", text, error=bool(failed))


@router.post("/takedown/replies")
async def reply_add(request: Request, me: Principal = Depends(page("takedown:write"))):
    form = await request.form()
    raw_id = str(form.get("notice_id") or "").strip()
    try:
        notice_id = int(raw_id) if raw_id else None
    except ValueError:
        return redirect("/takedown/notices", "notice: a notice number.", error=True)
    now = utcnow()
    with request.app.state.db.transaction() as s:
        try:
            r = notices.record_reply(
                s,
                host=str(form.get("host") or ""),
                notice_id=notice_id,
                received_at=now,
                from_address=str(form.get("from_address") or "").strip() or None,
                summary=str(form.get("summary") or ""),
                by=me.name,
                now=now,
            )
        except service.TakedownError as e:
            return redirect("/takedown/notices", f"Reply not recorded: {e}", error=True)
        record(
            s,
            me,
            request,
            action="takedown.reply",
            target_type="takedown_host",
            target_id=r.host,
            detail={"reply": r.id, "notice": r.notice_id},
        )
    return redirect("/takedown/notices", f"Reply from {r.host} recorded.")


@router.post("/takedown/templates/{name}")
async def template_save(
    name: str, request: Request, me: Principal = Depends(page("takedown:manage"))
):
    form = await request.form()
    with request.app.state.db.transaction() as s:
        try:
            if form.get("reset") == "1":
                notices.reset_template(s, name)
                action = "takedown.template_reset"
            else:
                notices.put_template(
                    s,
                    name,
                    str(form.get("subject") or ""),
                    str(form.get("body") or "").replace("\r\n", "\n"),
                    by=me.name,
                    now=utcnow(),
                )
                action = "takedown.template"
        except service.TakedownError as e:
            return redirect("/takedown/notices#templates", f"Not saved: {e}", error=True)
        record(s, me, request, action=action, target_type="template", target_id=name)
    return redirect("/takedown/notices#templates", f"Template {name} saved.")
