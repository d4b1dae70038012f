"""Analytics: every chart is drawn in the browser from /api/v1/analytics JSON, with its
numbers in a table beside it and a CSV download."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request

from ..api_analytics import charts_for
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
