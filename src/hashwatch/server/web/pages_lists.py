"""Hash lists: versions, entry counts by type and category, upload with a validation report
before anything is applied, and retiring false positives."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select

from ...lists import ListFormatError
from ...store.models import HashListRow, ListEntryRow
from .. import api_admin, lists_service
from ..auth import Principal, client_ip
from .base import detail_of, page, redirect, render

router = APIRouter(include_in_schema=False)
UPLOAD_TTL = 3600  # an upload not applied within the hour is removed
_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _uploads(request: Request) -> Path:
    d = Path(request.app.state.cfg.data_dir) / "uploads"
    d.mkdir(mode=0o700, exist_ok=True)
    now = time.time()
    for old in d.iterdir():
        if now - old.stat().st_mtime > UPLOAD_TTL:
            old.unlink(missing_ok=True)
    return d


def _breakdown(s, list_id: int, version: int) -> list[tuple[str, str, int]]:
    """(signal type, category, entries) of one version."""
    alive = lists_service._alive(list_id, version)
    return [
        (t, c or "—", n)
        for t, c, n in s.execute(
            select(ListEntryRow.signal_type, ListEntryRow.category, func.count())
            .where(alive)
            .group_by(ListEntryRow.signal_type, ListEntryRow.category)
            .order_by(ListEntryRow.signal_type, ListEntryRow.category)
        ).all()
    ]


@router.get("/lists")
def lists_page(request: Request, me: Principal = Depends(page("lists:read"))):
    lists = api_admin.get_lists(request, me=me)["lists"]
    retired = api_admin.list_retired(request, me=me)["retired"]
    return render(
        request, "lists.html", me, lists=lists, retired=retired[:200], retired_total=len(retired)
    )


@router.get("/lists/{name}")
def list_page(name: str, request: Request, me: Principal = Depends(page("lists:read"))):
    try:
        info = api_admin.get_list(name, request, me=me)
    except HTTPException as e:
        return render(request, "error.html", me, status=e.status_code, message=e.detail)
    with request.app.state.db.reading() as s:
        row = s.scalar(select(HashListRow).where(HashListRow.name == name))
        breakdown = _breakdown(s, row.id, row.version) if row.version else []
    return render(request, "list.html", me, info=info, breakdown=breakdown)


def _import(
    request: Request, me: Principal, path: Path, name: str, hex64: str, filename: str, apply: bool
):
    with request.app.state.db.transaction() as s:
        return lists_service.import_file(
            s,
            path,
            name,
            actor=me.name,
            actor_kind=me.actor_kind,
            ip=client_ip(request),
            apply=apply,
            bare_hex_64=hex64,
            source_name=filename,
        ).as_dict()


def _reason(e: Exception, filename: str) -> str:
    if isinstance(e, ListFormatError):
        return f"{filename}: line {e.line}: {e.reason}" if e.line else f"{filename}: {e.reason}"
    return detail_of(e)


@router.post("/lists/import")
async def upload(request: Request, me: Principal = Depends(page("lists:write"))):
    """Step 1: keep the upload aside and show what applying it would do."""
    form = await request.form()
    name = str(form.get("name") or "").strip()
    hex64 = "pdq" if form.get("hex64") == "pdq" else "sha256"
    f = form.get("file")
    if f is None or isinstance(f, str) or not f.filename:
        return redirect("/lists", "Choose a list file to upload.", error=True)
    filename = Path(f.filename).name[:255]
    upload_id = secrets.token_urlsafe(24)
    dest = _uploads(request) / upload_id
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        await run_in_threadpool(shutil.copyfileobj, f.file, out, 1 << 20)
    if dest.stat().st_size == 0:
        dest.unlink()
        return redirect("/lists", f"{filename}: the file is empty.", error=True)
    try:
        report = await run_in_threadpool(_import, request, me, dest, name, hex64, filename, False)
    except (ListFormatError, lists_service.ListServiceError) as e:
        dest.unlink(missing_ok=True)
        return render(
            request,
            "list_import.html",
            me,
            status=422,
            error=_reason(e, filename),
            name=name,
            filename=filename,
        )
    return render(
        request,
        "list_import.html",
        me,
        report=report,
        upload_id=upload_id,
        name=name,
        hex64=hex64,
        filename=filename,
    )


@router.post("/lists/import/apply")
async def apply(request: Request, me: Principal = Depends(page("lists:write"))):
    """Step 2: publish the upload that was checked as a new version."""
    form = await request.form()
    upload_id = str(form.get("upload") or "")
    name = str(form.get("name") or "")
    filename = str(form.get("filename") or "upload")[:255]
    hex64 = "pdq" if form.get("hex64") == "pdq" else "sha256"
    path = _uploads(request) / upload_id
    if not _ID.match(upload_id) or not path.is_file():
        return redirect("/lists", "That upload has expired: upload the file again.", error=True)
    try:
        report = await run_in_threadpool(_import, request, me, path, name, hex64, filename, True)
    except (ListFormatError, lists_service.ListServiceError) as e:
        return redirect("/lists", _reason(e, filename), error=True)
    finally:
        path.unlink(missing_ok=True)
    request.app.state.invalidate_lists()
    if not report.get("applied"):
        return redirect(f"/lists/{name}", "; ".join(report.get("warnings") or ["Nothing changed."]))
    return redirect(
        f"/lists/{name}",
        f"Published version {report['version']} of {name}: {report['added']} added, "
        f"{report['removed']} removed. Agents fetch it at their next heartbeat.",
    )


@router.post("/lists/retire")
async def retire(request: Request, me: Principal = Depends(page("lists:write"))):
    form = await request.form()
    try:
        body = api_admin.RetireIn(
            signal_type=str(form.get("signal_type") or "").strip(),
            signal=str(form.get("signal") or "").strip(),
            reason=str(form.get("reason") or "").strip() or None,
        )
        out = api_admin.retire_hash(body, request, me=me)
    except (ValueError, HTTPException) as e:
        return redirect("/lists", detail_of(e), error=True)
    made = (
        ", ".join(f"{x['list']} v{x['version']}" for x in out["new_versions"]) or "no list held it"
    )
    return redirect("/lists", f"Retired: it stops matching with the next bundle ({made}).")
