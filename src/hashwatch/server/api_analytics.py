"""Analytics as JSON and CSV (/api/v1/analytics/{chart}): the numbers every dashboard chart
is drawn from, and the weekly threat picture (/api/v1/reports/weekly, JSON or PDF) —
aggregated only: no incident, path or hash is in them."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from ..reports import analytics, weekly
from ..reports.weekly_pdf import weekly_pdf
from ..store.db import utcnow
from .auth import Principal, record, require
from .settings import get_setting

router = APIRouter(prefix="/api/v1", tags=["analytics"])


def charts_for(request: Request, weeks: int, site: str | None, names=None) -> dict:
    period = analytics.period_for(weeks, site=site)
    with request.app.state.db.reading() as s:
        return {n: analytics.CHARTS[n](s, period) for n in names or analytics.CHARTS}


@router.get("/analytics/{name}")
def chart(
    name: str,
    request: Request,
    weeks: int = Query(8, ge=1, le=104, description="the last N whole weeks (Monday-based, UTC)"),
    site: str | None = Query(None, max_length=100),
    format: Literal["json", "csv"] = "json",
    me: Principal = Depends(require("analytics:read")),
):
    if name not in analytics.CHARTS:
        raise HTTPException(404, f"no chart {name!r} (known: {', '.join(analytics.CHARTS)})")
    c = charts_for(request, weeks, site, [name])[name]
    if format == "csv":
        suffix = f"-{site}" if site else ""
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in suffix)
        return Response(
            c.to_csv(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="hashwatch-{name}-{weeks}w{safe}.csv"'
            },
        )
    return {"weeks": weeks, "site": site, **c.as_dict()}


def weekly_for(request: Request, week: date | None, site: str | None):
    """The weekly threat picture of ``week`` (any day of it; the last whole week if None)."""
    with request.app.state.db.reading() as s:
        threshold = get_setting(s, "report_change_threshold_pct")
        try:
            return weekly.weekly_report(s, week, now=utcnow(), threshold_pct=threshold, site=site)
        except ValueError as e:
            raise HTTPException(422, f"week: {e}") from None


@router.get("/reports/weekly")
def weekly_report(
    request: Request,
    week: date | None = Query(None, description="any day of the week (the last whole week)"),
    site: str | None = Query(None, max_length=100, description="endpoint figures of one site"),
    format: Literal["json", "pdf"] = "json",
    me: Principal = Depends(require("analytics:read")),
):
    """The weekly threat picture: takedown figures beside the endpoint figures, each week on
    week, with changes past the configured threshold flagged. Aggregates only."""
    report = weekly_for(request, week, site)
    if format == "json":
        return report.as_dict()
    now = utcnow()
    pdf = weekly_pdf(report, generated_by=me.name, generated_at=now)
    with request.app.state.db.transaction() as s:
        record(
            s,
            me,
            request,
            action="report.export",
            target_type="report",
            target_id=f"weekly-{report.week_start.isoformat()}",
            detail={"format": "pdf", "site": site, "sha256": hashlib.sha256(pdf).hexdigest()},
        )
    name = f"hashwatch-weekly-{report.week_start.isoformat()}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
