"""Analytics and the weekly threat picture: every chart is drawn in the browser from the
same JSON the API serves, with its numbers in a table beside it."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request

from ...reports import analytics
from ..api_analytics import charts_for, weekly_for
from ..auth import Principal
from ..incident_query import site_names
from .base import page, render

router = APIRouter(include_in_schema=False)
PERIODS = (4, 8, 12, 26, 52)


@router.get("/analytics")
def analytics_page(request: Request, me: Principal = Depends(page("analytics:read"))):
    qp = request.query_params
    try:
        weeks = int(qp.get("weeks") or 8)
    except ValueError:
        weeks = 8
    weeks = min(max(weeks, 1), 104)
    with request.app.state.db.reading() as s:
        sites = sorted(site_names(s).values())
    site = qp.get("site") if qp.get("site") in sites else None
    charts = charts_for(request, weeks, site)
    query = urlencode({"weeks": weeks, **({"site": site} if site else {})})
    return render(
        request,
        "analytics.html",
        me,
        charts=charts,
        weeks=weeks,
        periods=PERIODS,
        site=site,
        sites=sites,
        query=query,
    )


@router.get("/reports/weekly")
def weekly_page(request: Request, me: Principal = Depends(page("analytics:read"))):
    qp = request.query_params
    try:
        week = date.fromisoformat(qp["week"]) if qp.get("week") else None
    except ValueError:
        week = None
    with request.app.state.db.reading() as s:
        sites = sorted(site_names(s).values())
    site = qp.get("site") if qp.get("site") in sites else None
    try:
        report = weekly_for(request, week, site)
    except HTTPException as e:
        return render(request, "error.html", me, status=e.status_code, message=e.detail)
    this_monday = analytics.period_for(1).start.date()
    weeks = [this_monday - timedelta(weeks=n) for n in range(0, 27)]
    query = urlencode({"week": report.week_start.isoformat(), **({"site": site} if site else {})})
    return render(
        request,
        "weekly.html",
        me,
        r=report,
        d=report.as_dict(),
        weeks=weeks,
        sites=sites,
        site=site,
        query=query,
    )
