"""Reports worked out from the server's database: the dashboard's analytics (``analytics``)."""

from .analytics import CHARTS, Chart, Period, period_for

__all__ = ["CHARTS", "Chart", "Period", "period_for"]
