"""Analytics as JSON and CSV (/api/v1/analytics/{chart}): the numbers every dashboard chart
is drawn from, aggregated only — no incident, path or hash is in them."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from ..reports import analytics
from .auth import Principal, require

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
