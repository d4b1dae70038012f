"""The takedown tracker's pages: the URL queue with manual entry and CSV import, a URL's page
(every opening audited) with its history and notices, the host table with the hosts it
does not cover, and "report for takedown" from an incident. URLs are shown defanged, as
text: no page links to, embeds or fetches a reported URL."""

from __future__ import annotations

from math import ceil

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import ValidationError
from sqlalchemy import func, select

from ...store.db import utcnow
from ...store.models import TakedownNotice, TakedownNoticeUrl, TakedownUrl
from ...takedown import notices, service
from ...takedown.urls import UrlError
from .. import api_takedown as api
from .. import takedown_run
from ..auth import Principal, record
from ..settings import get_setting
from .base import can, detail_of, page, redirect, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
UPLOAD_LIMIT = 20 * 1024 * 1024


async def _upload(form, default_name: str) -> tuple[str, bytes | None]:
    """The form's ``file``: (its name, its bytes), or (why not, None)."""
    upload = form.get("file")
    if upload is None or not hasattr(upload, "read"):
        return "Choose a CSV file to import.", None
    name = (upload.filename or default_name)[:200]
    data = await upload.read(UPLOAD_LIMIT + 1)
    if len(data) > UPLOAD_LIMIT:
        return f"{name}: larger than 20 MiB: split the file.", None
    return name, data


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
    errors = []
    with request.app.state.db.reading() as s:
        try:
            total, rows = service.find(
                s,
                statuses=status or None,
                host=host,
                q=q,
                limit=PAGE_SIZE,
                offset=(pg - 1) * PAGE_SIZE,
            )
        except UrlError as e:
            errors.append(f"host: {e}")
            total, rows = service.find(s, statuses=status or None, q=q, limit=PAGE_SIZE)
        counts = dict(
            s.execute(select(TakedownUrl.status, func.count()).group_by(TakedownUrl.status)).all()
        )
        table = service.host_table(s)
        unknown = service.unknown_hosts(s, table)
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
    if len(lines) > api.MAX_BATCH:
        return redirect("/takedown", "At most 1,000 URLs at once: use CSV import.", error=True)
    category = str(form.get("category") or "").strip() or None
    hashes = str(form.get("hashes") or "").strip() or None
    try:
        body = api.ReportsIn(
            urls=[api.ReportIn(url=u[:8192], category=category, hashes=hashes) for u in lines]
        )
        out = api.add_urls(body, request, me=me)
    except (ValidationError, HTTPException) as e:
        return redirect("/takedown", detail_of(e), error=True)
    return redirect("/takedown", _summary(out, "line"), error=bool(out["rejected"]))


@router.post("/takedown/import")
async def import_urls(request: Request, me: Principal = Depends(page("takedown:write"))):
    form = await request.form()
    name, data = await _upload(form, "upload.csv")
    if data is None:
        return redirect("/takedown", name, error=True)
    try:
        out = api.import_csv(request, me, data, name, form.get("partial") == "1")
    except HTTPException as e:
        d = e.detail
        if isinstance(d, dict):
            shown = "; ".join(d["errors"][:10])
            more = len(d["errors"]) - 10
            text = (
                f"{d['message']}: {shown}"
                + (f" (and {more} more)" if more > 0 else "")
                + ". Fix them, or tick 'take the good rows'."
            )
        else:
            text = str(d)
        return redirect("/takedown", text, error=True)
    return redirect("/takedown", f"{name}: " + _summary(out), error=bool(out["rejected"]))


def _summary(out: dict, unit: str = "") -> str:
    """What an intake did, in a sentence, with the first refusals and their reasons."""
    parts = [f"{len(out['created'])} new"]
    if out["repeats"]:
        parts.append(f"{out['repeats']} repeated in this batch")
    if out["again"]:
        parts.append(f"{len(out['again'])} already known (reported again)")
    if out["reappeared"]:
        parts.append(f"{len(out['reappeared'])} reappeared after removal")
    if out["rejected"]:
        parts.append(f"{len(out['rejected'])} refused")
    text = "Reported URLs: " + ", ".join(parts) + "."
    refused = [f"{_where(r['at'], unit)}: {r['reason']}" for r in out["rejected"][:10]]
    return text + (" " + "; ".join(refused) if refused else "")


def _where(at: str, unit: str) -> str:
    """``urls.2`` as "line 3" for a form whose URLs were lines."""
    if unit and at.startswith("urls.") and at[5:].isdigit():
        return f"{unit} {int(at[5:]) + 1}"
    return at


@router.post("/incidents/{incident_id}/takedown")
async def from_incident(
    incident_id: str, request: Request, me: Principal = Depends(page("incidents:write"))
):
    try:
        out = api.from_incident(incident_id, request, me=me)
    except HTTPException as e:
        return redirect(f"/incidents/{incident_id}", detail_of(e), error=True)
    text = "Origin URL reported for takedown." if out["created"] else "Origin URL reported again."
    if out["reappeared"]:
        text = "Origin URL reported again: it had been removed and has reappeared."
    ok = can(me.role, "takedown:read")
    return redirect(f"/takedown/urls/{out['id']}" if ok else f"/incidents/{incident_id}", text)


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
    try:
        api.set_status(url_id, api.StatusIn(status=to, note=note), request, me=me)
    except (ValidationError, HTTPException) as e:
        return redirect(f"/takedown/urls/{url_id}", detail_of(e), error=True)
    return redirect(f"/takedown/urls/{url_id}", f"Marked {to.replace('_', ' ')}.")


@router.post("/takedown/urls/{url_id}/note")
async def url_note(url_id: str, request: Request, me: Principal = Depends(page("takedown:write"))):
    form = await request.form()
    try:
        api.add_note(url_id, api.NoteIn(note=str(form.get("note") or "").strip()), request, me=me)
    except (ValidationError, HTTPException) as e:
        return redirect(f"/takedown/urls/{url_id}", detail_of(e), error=True)
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
    fields = ("pattern", "provider", "abuse_email", "country", "notes")
    values = {f: str(form.get(f) or "").strip()[:1000] for f in fields}
    try:
        api.put_hosts(api.HostsIn(hosts=[api.HostIn(**values)]), request, me=me)
    except (ValidationError, HTTPException) as e:
        return redirect("/takedown/hosts", f"Not saved: {detail_of(e)}", error=True)
    return redirect("/takedown/hosts", f"Saved {values['pattern']} ({values['provider']}).")


@router.post("/takedown/hosts/import")
async def hosts_import(request: Request, me: Principal = Depends(page("takedown:manage"))):
    form = await request.form()
    name, data = await _upload(form, "hosts.csv")
    if data is None:
        return redirect("/takedown/hosts", name, error=True)
    try:
        out = api.import_hosts_csv(request, me, data, name)
    except HTTPException as e:
        return redirect("/takedown/hosts", f"Nothing imported: {detail_of(e)}", error=True)
    return redirect(
        "/takedown/hosts",
        f"{name}: {out['added']} added, {out['changed']} changed, {out['unchanged']} unchanged.",
    )


@router.post("/takedown/hosts/delete")
async def hosts_delete(request: Request, me: Principal = Depends(page("takedown:manage"))):
    form = await request.form()
    pattern = str(form.get("pattern") or "")[:260]
    try:
        api.delete_host(pattern, request, me=me)
    except HTTPException as e:
        return redirect("/takedown/hosts", detail_of(e), error=True)
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
        done = api.run_due_notices(request, me=me)["notices"]
    except HTTPException as e:
        return redirect("/takedown/notices", f"{detail_of(e)}.", error=True)
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
        body = api.ReplyIn(
            host=str(form.get("host") or "").strip(),
            notice_id=int(raw_id) if raw_id else None,
            from_address=str(form.get("from_address") or "").strip() or None,
            summary=str(form.get("summary") or "").strip(),
        )
        r = api.add_reply(body, request, me=me)
    except (ValueError, HTTPException) as e:
        return redirect("/takedown/notices", f"Reply not recorded: {detail_of(e)}", error=True)
    return redirect("/takedown/notices", f"Reply from {r['host']} recorded.")


@router.post("/takedown/templates/{name}")
async def template_save(
    name: str, request: Request, me: Principal = Depends(page("takedown:manage"))
):
    form = await request.form()
    try:
        if form.get("reset") == "1":
            api.reset_template(name, request, me=me)
        else:
            body = api.TemplateIn(
                subject=str(form.get("subject") or ""),
                body=str(form.get("body") or "").replace("\r\n", "\n"),
            )
            api.put_template(name, body, request, me=me)
    except (ValueError, HTTPException) as e:
        return redirect("/takedown/notices#templates", f"Not saved: {detail_of(e)}", error=True)
    return redirect("/takedown/notices#templates", f"Template {name} saved.")
