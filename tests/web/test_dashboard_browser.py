"""The dashboard in a real browser (chromium via Playwright) against a real server process
seeded with the synthetic demo organisation. Expected numbers are worked out here straight
from the database file, not by the code that draws the pages."""

from __future__ import annotations

import re
import sqlite3
import zipfile
from datetime import UTC, datetime, timedelta

from .conftest import WEEKS

OPEN = ("new", "in_review", "escalated")


def _db(data) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{data / 'server.db'}?mode=ro", uri=True)


def _local_only(session) -> None:
    others = [u for u in session.requests if not u.startswith(session.base + "/")]
    assert others == [], f"requests left the server: {others[:5]}"
    assert session.errors == [], session.errors


def test_sign_in_filter_open_work_and_export(as_role, demo_server, tmp_path):
    base, data, _ = demo_server
    s = as_role("investigator")
    page = s.page
    assert page.url.startswith(f"{base}/incidents")  # home: the first page the role may see
    with _db(data) as db:
        open_n = db.execute(f"select count(*) from incidents where status in {OPEN!r}").fetchone()[
            0
        ]
        open_removable = db.execute(
            f"select count(*) from incidents where status in {OPEN!r} and removable_media"
        ).fetchone()[0]
    assert open_n > 0 and 0 < open_removable < open_n
    assert page.inner_text("#queue-total") == str(open_n)
    # filter without reloading the page (htmx), the URL follows
    page.select_option("select[name=removable_media]", "yes")
    page.wait_for_url(re.compile(r".*removable_media=yes.*"))
    page.wait_for_function(
        f"document.querySelector('#queue-total').textContent === '{open_removable}'"
    )
    rows = page.locator("#queue tbody tr")
    assert rows.count() == min(open_removable, 50)
    for i in range(rows.count()):
        assert "removable" in rows.nth(i).inner_text()

    # open a new incident: the view is audited
    s.goto("/incidents?f=1&status=new")
    link = page.locator("#queue tbody tr a").first
    href = link.get_attribute("href")
    incident_id = href.rsplit("/", 1)[1]
    link.click()
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#incident-status") == "new"
    assert "never holds the file" in page.inner_text("main")
    with _db(data) as db:
        viewed = db.execute(
            "select count(*) from audit_log where action='incident.view' and target_id=? "
            "and actor='investigator'",
            (incident_id,),
        ).fetchone()[0]
    assert viewed == 1

    # the workflow: review, escalate, close as confirmed
    page.click("#workflow button:has-text('Start review')")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#incident-status") == "in review"
    page.fill("input[aria-label='note for escalated']", "passed to the safeguarding lead")
    page.click("#workflow button:has-text('Escalate')")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#incident-status") == "escalated"
    page.select_option("#workflow select[name=resolution]", "confirmed")
    page.click("#workflow button:has-text('Close')")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#incident-status") == "closed"
    assert page.inner_text("#incident-resolution") == "confirmed"
    history = page.inner_text("#history")
    assert "passed to the safeguarding lead" in history and history.count("investigator") == 3

    # export: a zip with the chain of custody
    page.fill("input[aria-label='reason for export']", "referral")
    with page.expect_download() as dl:
        page.click("button:has-text('Export evidence')")
    path = tmp_path / "export.zip"
    dl.value.save_as(path)
    names = zipfile.ZipFile(path).namelist()
    assert any(n.endswith(".pdf") for n in names) and any(n.endswith(".json") for n in names)
    _local_only(s)


def _period(now: datetime) -> tuple[datetime, datetime]:
    monday = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return monday - timedelta(weeks=WEEKS - 1), monday + timedelta(weeks=1)


def test_analytics_draw_the_seeded_numbers(as_role, demo_server):
    _, data, _ = demo_server
    s = as_role("auditor")  # aggregate figures only: the auditor may see them
    page = s.goto(f"/analytics?weeks={WEEKS}")
    page.wait_for_function("document.querySelectorAll('canvas[data-drawn]').length === 4")
    start, end = _period(datetime.now(UTC).replace(tzinfo=None))
    with _db(data) as db:
        rows = db.execute(
            "select detected_at, outside_hours, removable_media from incidents "
            "where detected_at >= ? and detected_at < ? and not (status = 'closed' and "
            "resolution in ('false_positive', 'duplicate'))",
            (start.isoformat(sep=" "), end.isoformat(sep=" ")),
        ).fetchall()
    assert len(rows) > 20
    weekly = [0] * WEEKS
    for detected, _, _ in rows:
        weekly[(datetime.fromisoformat(detected) - start).days // 7] += 1
    drawn = page.evaluate(
        "Chart.getChart(document.getElementById('chart-weekly')).data.datasets[0].data"
    )
    assert drawn == weekly
    table = [
        int(x) for x in page.locator("#table-weekly tbody tr td:nth-child(2)").all_inner_texts()
    ]
    assert table == weekly
    outside = sum(r[1] for r in rows) / len(rows)
    removable = sum(r[2] for r in rows) / len(rows)
    assert page.inner_text("#fig-outside") == f"{100 * outside:.1f} %"
    assert page.inner_text("#fig-removable") == f"{100 * removable:.1f} %"
    shares = page.evaluate(
        "Chart.getChart(document.getElementById('chart-overview')).data.datasets[0].data"
    )
    assert abs(shares[0] - 100 * outside) <= 0.05 + 1e-9  # per cent, to one decimal
    assert abs(shares[2] - 100 * removable) <= 0.05 + 1e-9
    heat = sum(
        int(t) for t in page.locator("#table-heatmap tbody td").all_inner_texts() if t.strip()
    )
    assert heat == len(rows)
    # every chart has its CSV
    with page.expect_download() as dl:
        page.click("#section-weekly a:has-text('Download CSV')")
    text = open(dl.value.path(), encoding="utf-8").read().splitlines()
    assert text[0].startswith("week_start,incidents") and len(text) == WEEKS + 1
    _local_only(s)


def test_roles_are_refused_what_they_may_not_do(as_role, demo_server):
    auditor = as_role("auditor")
    nav = auditor.page.inner_text("header nav")
    assert "Incidents" not in nav and "Audit log" in nav and "Analytics" in nav
    assert "may not open this page" in auditor.refused("/incidents")
    page = auditor.goto("/audit")
    assert page.locator("#audit tbody tr").count() > 10
    _local_only(auditor)

    inv = as_role("investigator")
    assert "may not open this page" in inv.refused("/users")
    page = inv.goto("/fleet")
    page.locator("#devices tbody tr a").first.click()
    page.wait_for_load_state("networkidle")
    assert page.locator("button:has-text('Revoke')").count() == 0
    assert page.locator("#journal").count() == 1
    page = inv.goto("/settings")
    assert page.locator("#org-settings button[type=submit]").count() == 0
    assert page.locator("#org_networks").is_disabled()
    _local_only(inv)

    admin = as_role("admin")
    page = admin.goto("/fleet")
    # silent and unhealthy devices come first
    first = page.locator("#devices tbody tr").first.inner_text()
    assert "silent" in first or "error" in first or "degraded" in first
    page.locator("#devices tbody tr a").first.click()
    page.wait_for_load_state("networkidle")
    assert page.locator("button:has-text('Revoke')").count() == 1
    _local_only(admin)
