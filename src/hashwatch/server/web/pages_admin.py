"""Settings (organisation, sites with working hours and holidays, notification targets),
users, the audit log and one's own account. Forms here are thin: each calls the same function
as the JSON API, so the validation and the audit entry are the API's."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import ValidationError

from .. import api_admin, api_people, audit
from ..auth import ROLES, Principal
from ..derive import DAYS
from .base import can, detail_of, page, redirect, render

router = APIRouter(include_in_schema=False)
_SPAN = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2}|24:00)\s*$")


def hours_text(hours: dict) -> str:
    return "\n".join(
        f"{d} " + ", ".join(f"{a}-{b}" for a, b in hours[d]) for d in DAYS if hours.get(d)
    )


def parse_hours(text: str) -> dict:
    """``mon 08:00-12:30, 13:30-18:00`` per line; a day not named is a day off."""
    out: dict[str, list[list[str]]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        day, _, rest = line.partition(" ")
        day = day.lower()[:3]
        if day not in DAYS:
            raise ValueError(f"working hours, line {n}: {line!r} does not start with a weekday")
        spans = []
        for part in rest.split(","):
            m = _SPAN.match(part)
            if not m:
                raise ValueError(
                    f"working hours, line {n}: {part.strip()!r} is not like 08:00-18:00"
                )
            a, b = m.groups()
            spans.append([a.zfill(5), b.zfill(5)])
        out.setdefault(day, []).extend(spans)
    return out


def _form_text(form, key: str, limit: int = 10000) -> str:
    return str(form.get(key) or "")[:limit]


# ---- settings -----------------------------------------------------------------------------


@router.get("/settings")
def settings_page(request: Request, me: Principal = Depends(page("settings:read"))):
    settings = api_admin.get_settings(request, me=me)
    sites = api_admin.get_sites(request, me=me)["sites"]
    targets = outbox = failures = None
    if can(me.role, "settings:write"):
        t = api_admin.get_targets(request, me=me)
        targets, outbox = t["targets"], t["outbox"]
        failures = api_admin.get_notifications(request, status="failed", limit=20, me=me)[
            "notifications"
        ]
    return render(
        request,
        "settings.html",
        me,
        settings=settings,
        sites=[{**x, "hours_text": hours_text(x["working_hours"])} for x in sites],
        targets=targets,
        outbox=outbox,
        failures=failures,
        roles=ROLES,
        default_hours=hours_text({d: [["08:00", "18:00"]] for d in DAYS[:5]}),
    )


@router.post("/settings")
async def save_settings(request: Request, me: Principal = Depends(page("settings:write"))):
    form = await request.form()
    try:
        nets = [
            x.strip() for x in re.split(r"[\s,]+", _form_text(form, "org_networks")) if x.strip()
        ]
        retention = _form_text(form, "retention_days").strip()
        body = {
            "org_networks": nets,
            "heartbeat_seconds": int(form.get("heartbeat_minutes") or 15) * 60,
            "silent_after_seconds": int(float(form.get("silent_after_hours") or 72) * 3600),
            "retention_days": int(retention) if retention else None,
            "mask_paths_for": [r for r in form.getlist("mask_paths_for") if r in ROLES],
        }
        api_admin.put_settings(body, request, me=me)
    except (ValueError, HTTPException) as e:
        return redirect("/settings", detail_of(e), error=True)
    return redirect("/settings", "Settings saved.")


@router.post("/settings/takedown")
async def save_takedown_settings(request: Request, me: Principal = Depends(page("settings:write"))):
    form = await request.form()
    try:
        cc = [x for x in re.split(r"[\s,;]+", _form_text(form, "takedown_escalation_cc")) if x]
        body = {
            "takedown_mail_target": _form_text(form, "takedown_mail_target", 200).strip() or None,
            "takedown_sender": _form_text(form, "takedown_sender", 300).strip() or None,
            "takedown_resend_hours": int(form.get("takedown_resend_hours") or 24),
            "takedown_escalate_after": int(form.get("takedown_escalate_after") or 3),
            "takedown_escalation_cc": cc,
            "takedown_recheck": form.get("takedown_recheck") == "1",
            "takedown_recheck_hours": int(form.get("takedown_recheck_hours") or 12),
            "report_change_threshold_pct": int(form.get("report_change_threshold_pct") or 50),
        }
        api_admin.put_settings(body, request, me=me)
    except (ValueError, HTTPException) as e:
        return redirect("/settings", detail_of(e), error=True)
    return redirect("/settings", "Takedown settings saved.")


@router.post("/settings/sites")
async def save_site(request: Request, me: Principal = Depends(page("settings:write"))):
    form = await request.form()
    name = _form_text(form, "name", 100).strip()
    try:
        holidays = [x for x in re.split(r"[\s,]+", _form_text(form, "holidays")) if x]
        body = api_admin.SiteIn(
            timezone=_form_text(form, "timezone", 64).strip() or "UTC",
            working_hours=parse_hours(_form_text(form, "working_hours")),
            holidays=holidays,
        )
        api_admin.put_site(name, body, request, me=me)
    except (ValueError, ValidationError, HTTPException) as e:
        return redirect("/settings", f"Site {name!r}: {detail_of(e)}", error=True)
    return redirect(
        "/settings", f"Site {name!r} saved (applies to incidents arriving from now on)."
    )


_TARGET_FIELDS = {
    "email": ("host", "port", "sender", "recipients", "security", "username", "password"),
    "webhook": ("url", "secret"),
    "jsonl": ("path",),
    "syslog": ("host", "port", "protocol", "facility"),
}


@router.post("/settings/targets")
async def add_target(request: Request, me: Principal = Depends(page("settings:write"))):
    form = await request.form()
    kind = _form_text(form, "kind", 20)
    config: dict = {}
    for key in _TARGET_FIELDS.get(kind, ()):
        v = _form_text(form, f"{kind}_{key}", 2000).strip()
        if not v:
            continue
        if key == "port":
            config[key] = int(v) if v.isdigit() else v
        elif key == "recipients":
            config[key] = [x.strip() for x in v.split(",") if x.strip()]
        elif key == "facility" and v.isdigit():
            config[key] = int(v)
        else:
            config[key] = v
    try:
        body = api_admin.TargetIn(
            name=_form_text(form, "name", 100).strip(), kind=kind, config=config
        )
        api_admin.add_target(body, request, me=me)
    except (ValidationError, HTTPException) as e:
        return redirect("/settings", f"Notification target: {detail_of(e)}", error=True)
    return redirect("/settings", f"Notification target {body.name!r} added.")


@router.post("/settings/targets/{target_id}/disable")
def disable_target(
    target_id: int, request: Request, me: Principal = Depends(page("settings:write"))
):
    try:
        api_admin.disable_target(target_id, request, me=me)
    except HTTPException as e:
        return redirect("/settings", detail_of(e), error=True)
    return redirect("/settings", "Notification target disabled.")


# ---- users --------------------------------------------------------------------------------


@router.get("/users")
def users_page(request: Request, me: Principal = Depends(page("users:manage"))):
    users = api_people.list_users(request, me=me)["users"]
    return render(
        request, "users.html", me, users=users, roles=ROLES, min_password=api_people.MIN_PASSWORD
    )


@router.post("/users")
async def create_user(request: Request, me: Principal = Depends(page("users:manage"))):
    form = await request.form()
    try:
        body = api_people.UserIn(
            username=_form_text(form, "username", 64).strip(),
            role=_form_text(form, "role", 20),
            password=_form_text(form, "password", 1024),
            display_name=_form_text(form, "display_name", 200).strip() or None,
        )
        api_people.create_user(body, request, me=me)
    except (ValidationError, HTTPException) as e:
        return redirect("/users", detail_of(e), error=True)
    return redirect("/users", f"Account {body.username!r} created ({body.role}).")


@router.post("/users/{username}")
async def update_user(
    username: str, request: Request, me: Principal = Depends(page("users:manage"))
):
    form = await request.form()
    changes: dict = {}
    if form.get("role"):
        changes["role"] = _form_text(form, "role", 20)
    if form.get("active") in ("yes", "no"):
        changes["active"] = form.get("active") == "yes"
    if form.get("password"):
        changes["password"] = _form_text(form, "password", 1024)
    try:
        api_people.update_user(username, api_people.UserPatch(**changes), request, me=me)
    except (ValidationError, HTTPException) as e:
        return redirect("/users", f"{username}: {detail_of(e)}", error=True)
    said = ", ".join(
        "password changed" if k == "password" else f"{k} → {v}" for k, v in changes.items()
    )
    return redirect("/users", f"{username}: {said or 'nothing changed'}.")


# ---- audit --------------------------------------------------------------------------------


@router.get("/audit")
def audit_page(request: Request, me: Principal = Depends(page("audit:read"))):
    qp = request.query_params
    filters = {k: (qp.get(k) or "").strip()[:100] or None for k in ("action", "actor", "target_id")}
    try:
        before = int(qp.get("before") or 0) or None
    except ValueError:
        before = None
    entries = api_admin.get_audit(request, before_id=before, limit=100, me=me, **filters)["entries"]
    chain = None
    if qp.get("verify"):
        with request.app.state.db.reading() as s:
            chain = audit.verify_chain(s)
    return render(
        request,
        "audit.html",
        me,
        entries=entries,
        filters=filters,
        chain=chain,
        older=entries[-1]["id"] if len(entries) == 100 else None,
    )


# ---- my account ---------------------------------------------------------------------------


@router.get("/account")
def account_page(request: Request, me: Principal = Depends(page("self"))):
    tokens = api_people.my_tokens(request, me=me)["tokens"]
    return render(request, "account.html", me, tokens=tokens)


@router.post("/account/tokens")
async def new_api_token(request: Request, me: Principal = Depends(page("self"))):
    form = await request.form()
    try:
        days = _form_text(form, "expires_days", 5).strip()
        body = api_people.ApiTokenIn(
            name=_form_text(form, "name", 100).strip(), expires_days=int(days) if days else None
        )
        out = api_people.new_token(body, request, me=me)
    except (ValueError, ValidationError, HTTPException) as e:
        return redirect("/account", detail_of(e), error=True)
    return render(request, "token_made.html", me, token=out["token"], info=out, back="/account")


@router.post("/account/tokens/{token_id}/revoke")
def revoke_api_token(token_id: str, request: Request, me: Principal = Depends(page("self"))):
    try:
        api_people.revoke_token(token_id, request, me=me)
    except HTTPException as e:
        return redirect("/account", detail_of(e), error=True)
    return redirect("/account", "Token revoked.")
