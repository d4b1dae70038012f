"""The takedown tracker and the weekly threat picture in a real browser (chromium via
Playwright) against the real demo server process of ``conftest.py``. Expected numbers are
worked out here straight from the database file (sqlite3), not by the code that draws the
pages. The tests add URLs, a removal and a host row to the shared demo data, and no
incident changes status (the dashboard tests count open incidents)."""

from __future__ import annotations

import io
import json
import math
import re
import sqlite3
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, urlsplit

from pypdf import PdfReader

STATUSES = ("reported", "notice_sent", "removed", "reappeared")
OPEN = ("reported", "notice_sent", "reappeared")
#: the demo's disruption week, counted back from the Monday of the seeding's "now"
#: (src/hashwatch/server/demo_takedown.py)
DISRUPTION_WEEKS_BACK = 3
UNKNOWN_SHOWN = 20  # the queue page lists the first 20 unknown hosts


def _db(data) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{data / 'server.db'}?mode=ro", uri=True)


def _local_only(session) -> None:
    others = [u for u in session.requests if not u.startswith(session.base + "/")]
    assert others == [], f"requests left the server: {others[:5]}"
    assert session.errors == [], session.errors


def _flash(page) -> str:
    return page.inner_text("main .flash[role=status]")


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _defanged(url: str) -> str:
    """As the pages promise (the note under the takedown menu): hxxps[://]host[.]example."""
    return url.replace("http", "hxxp", 1).replace(".", "[.]").replace("://", "[://]", 1)


def _covered(host: str, patterns: list[str]) -> bool:
    """A host-table pattern covers the host itself and its subdomains."""
    return any(host == p or host.endswith("." + p) for p in patterns)


def _unknown_hosts(data) -> dict[str, int]:
    """Hosts with open URLs that no row of the host table covers, with their open URLs."""
    with _db(data) as db:
        patterns = [p for (p,) in db.execute("select pattern from takedown_hosts")]
        open_by_host = dict(
            db.execute(
                f"select host, count(*) from takedown_urls where status in {OPEN!r} group by host"
            ).fetchall()
        )
    # the demo's table holds host names only (no addresses or networks)
    assert patterns and all(re.fullmatch(r"[a-z0-9.-]+", p) for p in patterns), patterns
    return {h: n for h, n in open_by_host.items() if not _covered(h, patterns)}


def _links_stay_home(session) -> None:
    """Every link, script, stylesheet and form of the page is a path on this server."""
    page = session.page
    refs = page.eval_on_selector_all(
        "a[href], link[href], script[src], img[src], iframe[src], form[action]",
        "els => els.map(e => e.getAttribute('href') ?? e.getAttribute('src') ?? "
        "e.getAttribute('action'))",
    )
    assert refs
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
    resolved = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    assert all(u.startswith(session.base + "/") for u in resolved), resolved


def _removals_by_week(data) -> dict[date, int]:
    """Status events to 'removed', by Monday-based UTC week."""
    weeks: dict[date, int] = {}
    with _db(data) as db:
        for (at,) in db.execute(
            "select at from takedown_events where kind = 'status' and to_status = 'removed'"
        ):
            w = _monday(datetime.fromisoformat(at).date())
            weeks[w] = weeks.get(w, 0) + 1
    return weeks


def _disruption_monday(data) -> date:
    with _db(data) as db:
        (mark,) = db.execute("select value from settings where key = 'demo_seeded'").fetchone()
    seeded = datetime.fromisoformat(json.loads(mark)["now"].removesuffix("Z"))
    return _monday(seeded.date()) - timedelta(weeks=DISRUPTION_WEEKS_BACK)


def _half_up(x: float) -> str:
    return str(math.floor(abs(x) + 0.5))


def _removal_drop(data, monday: date) -> tuple[int, int, float, str]:
    """(removals that week, the week before, change % as the report rounds it, the flag)."""
    by_week = _removals_by_week(data)
    this, prev = by_week.get(monday, 0), by_week.get(monday - timedelta(weeks=1), 0)
    assert prev > 0
    pct = round(100 * (this - prev) / prev, 1)
    sentence = f"Removals down {_half_up(pct)}% week on week ({this} against {prev})"
    return this, prev, pct, sentence


# ---- 1. the analyst's queue ------------------------------------------------------------------


def test_analyst_queue_counts_defanged_urls_and_unknown_hosts(as_role, demo_server):
    base, data, creds = demo_server
    assert "analyst" in creds
    s = as_role("analyst")
    page = s.page
    # home: the first page of the menu the analyst may open
    assert urlsplit(page.url).path == "/takedown", page.url
    nav = page.inner_text("header nav")
    assert "Takedown" in nav and "Incidents" not in nav

    with _db(data) as db:
        counts = dict(
            db.execute("select status, count(*) from takedown_urls group by status").fetchall()
        )
        shown = dict(
            db.execute(
                f"select id, url from takedown_urls where status in {OPEN!r} "
                "order by reported_at desc, id limit 50"
            ).fetchall()
        )
    assert counts.get("removed", 0) > 0 and sum(counts.get(x, 0) for x in OPEN) > 0
    for st in STATUSES:
        assert page.inner_text(f"#count-{st}") == str(counts.get(st, 0)), st
    # the default filter: open URLs
    assert page.inner_text("#takedown-total") == str(sum(counts.get(x, 0) for x in OPEN))

    # reported URLs are text, defanged, never links
    rows = page.locator("#takedown-queue tbody tr[data-id]")
    assert rows.count() == len(shown)
    for i in range(rows.count()):
        row = rows.nth(i)
        url = shown[row.get_attribute("data-id")]
        text = row.locator("td").first.locator("a").inner_text()
        # the demo's URLs are short: shown whole (the page shortens past 120 characters)
        assert len(_defanged(url)) <= 120 and text == _defanged(url)
        assert "hxxp" in text and "[.]" in text and "://" not in text.replace("[://]", "")
    _links_stay_home(s)
    html = page.content()
    for url in shown.values():
        assert url not in html and url.split("://", 1)[1] not in html

    # hosts with open URLs and no row in the host table
    unknown = _unknown_hosts(data)
    assert "example.invalid" in unknown  # the incidents' origins: no row covers it
    card = page.locator("#unknown-hosts")
    assert f"({len(unknown)})" in card.locator("h2").inner_text()
    listed = {
        r.locator("td").nth(0).inner_text(): int(r.locator("td").nth(1).inner_text())
        for r in card.locator("tbody tr").all()
    }
    if len(unknown) <= UNKNOWN_SHOWN:
        assert listed == unknown
    else:
        assert len(listed) == UNKNOWN_SHOWN and listed.items() <= unknown.items()
    assert card.locator("a").count() == 0  # attributing a host is the admin's

    # no incident for the hotline analyst
    assert "may not open this page" in s.refused("/incidents")
    assert "Incidents" not in page.inner_text("header nav")
    _local_only(s)


# ---- 2. report, find, confirm removed ------------------------------------------------------


def test_analyst_reports_a_url_and_confirms_its_removal(as_role, demo_server):
    _, data, _ = demo_server
    host = "new-host.example.invalid"
    s = as_role("analyst")
    page = s.goto("/takedown")
    page.fill(
        "#report-form textarea[name=urls]",
        f"https://New-Host.example.invalid:443/x?utm_source=a\nhttps://{host}/x",
    )
    page.click("#report-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    # the second spelling is the same URL: counted as a repeat, not added twice
    assert _flash(page) == "Reported URLs: 1 new, 1 repeated in this batch."
    with _db(data) as db:
        rows = db.execute(
            "select id, url, times_reported, status, source from takedown_urls where host = ?",
            (host,),
        ).fetchall()
    # one row for both spellings: normalised (case, default port, tracking parameter)
    assert len(rows) == 1, rows
    url_id, url, times, status, source = rows[0]
    assert (url, times, status, source) == (f"https://{host}/x", 2, "reported", "manual")

    # a third spelling, in a batch of its own: known, reported again
    page.fill("#report-form textarea[name=urls]", "HTTPS://NEW-HOST.example.invalid/x?utm_medium=b")
    page.click("#report-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert _flash(page) == "Reported URLs: 0 new, 1 already known (reported again)."

    # find it in the queue by its host, open its page
    page.fill("#takedown-filters input[name=host]", host)
    page.click("#takedown-filters button[type=submit]")
    page.wait_for_url(re.compile(r".*host=new-host\.example\.invalid.*"))
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#takedown-total") == "1"
    link = page.locator("#takedown-queue tbody tr a")
    assert link.count() == 1 and link.get_attribute("href") == f"/takedown/urls/{url_id}"
    link.click()
    page.wait_for_load_state("networkidle")
    assert urlsplit(page.url).path == f"/takedown/urls/{url_id}"
    assert page.inner_text("#url-text") == "hxxps[://]new-host[.]example[.]invalid/x"
    assert page.inner_text("#url-status") == "reported"
    assert "reported 3 times" in page.inner_text("main")
    history = page.locator("#url-history tbody tr")
    before = history.count()
    assert before == 3  # the report, then two reports again
    _links_stay_home(s)

    page.click("#url-actions button:has-text('Confirm removed')")
    page.wait_for_load_state("networkidle")
    assert _flash(page) == "Marked removed."
    assert page.inner_text("#url-status") == "removed"
    assert history.count() == before + 1
    last = history.nth(before).inner_text()
    assert "analyst" in last and "reported → removed" in last
    assert page.locator("#url-actions button:has-text('Found live again')").count() == 1

    with _db(data) as db:
        audit = db.execute(
            "select action, actor, detail from audit_log where target_type = 'takedown' "
            "and target_id = ? order by id",
            (url_id,),
        ).fetchall()
        status_now = db.execute(
            "select status, removed_at is not null from takedown_urls where id = ?", (url_id,)
        ).fetchone()
    actions = [a for a, _, _ in audit]
    assert actions.count("takedown.view") == 2  # opened, and shown again after the change
    assert actions.count("takedown.status") == 1 and {who for _, who, _ in audit} == {"analyst"}
    detail = json.loads(next(d for a, _, d in audit if a == "takedown.status"))
    assert detail["from"] == "reported" and detail["to"] == "removed"
    assert status_now == ("removed", 1)
    _local_only(s)


# ---- 3. the weekly threat picture ----------------------------------------------------------


def test_weekly_report_flags_the_disruption(as_role, demo_server, tmp_path):
    _, data, _ = demo_server
    cut = _disruption_monday(data)
    this, prev, pct, sentence = _removal_drop(data, cut)
    assert pct <= -80, (this, prev)  # the demo's disruption: removals down ~90 %

    s = as_role("auditor")  # aggregate figures only
    page = s.goto(f"/reports/weekly?week={cut.isoformat()}")
    title = f"Weekly threat picture — week of {cut.isoformat()}"
    assert page.inner_text("h1") == title
    flags = page.inner_text("#weekly-flags")
    assert "Flagged changes" in flags and sentence in flags, (sentence, flags)

    row = page.locator("#table-takedown tbody tr[data-key=removals]")
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == "Removals" and (cells[1], cells[2]) == (str(this), str(prev))
    assert cells[3] == str(this - prev)
    assert cells[4] == f"{pct:.1f}".removesuffix(".0") + "%"
    assert "flagged" in (row.get_attribute("class") or "")

    # every series chart is drawn; the removals chart has the database's weekly counts
    page.wait_for_function(
        "(() => { const c = [...document.querySelectorAll('canvas[data-chart]')];"
        " return c.length > 0 && c.every(x => x.dataset.drawn === '1'); })()"
    )
    assert page.locator("canvas[data-chart]").count() == 5
    assert page.locator("canvas[data-error]").count() == 0
    by_week = _removals_by_week(data)
    weeks = [cut - timedelta(weeks=n) for n in range(11, -1, -1)]
    chart = page.evaluate(
        "(() => { const c = Chart.getChart(document.getElementById('chart-removals'));"
        " return [c.data.labels, c.data.datasets[0].data]; })()"
    )
    assert chart == [[w.isoformat() for w in weeks], [by_week.get(w, 0) for w in weeks]]

    # the PDF, from the page's link
    with page.expect_download() as dl:
        page.click("#weekly-pdf")
    path = tmp_path / "weekly.pdf"
    dl.value.save_as(path)
    pdf = path.read_bytes()
    assert pdf.startswith(b"%PDF")
    text = "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)
    # the PDF's core font has no em dash: the report writes "-" for it (weekly_pdf._t)
    assert title.replace("—", "-") in text and sentence in text, text[:300]
    _links_stay_home(s)

    # the default week (the last whole one) still shows the drop among the earlier weeks
    page = s.goto("/reports/weekly")
    default = _monday(datetime.now(UTC).date()) - timedelta(weeks=1)
    assert page.inner_text("h1").endswith(f"week of {default.isoformat()}")
    # the earlier flags are those of the series' weeks before the reported one
    if default - timedelta(weeks=10) <= cut <= default - timedelta(weeks=1):
        earlier = page.locator("#earlier-flags").text_content()
        assert f"week of {cut.isoformat()}: {sentence}" in earlier, earlier
        assert page.locator(f"#earlier-flags a[href='/reports/weekly?week={cut}']").count() == 1
    page.wait_for_function(
        "[...document.querySelectorAll('canvas[data-chart]')].every(x => x.dataset.drawn)"
    )
    _links_stay_home(s)
    _local_only(s)


# ---- 4. from an incident ---------------------------------------------------------------------


def test_investigator_reports_an_incident_origin_for_takedown(as_role, demo_server):
    _, data, _ = demo_server
    with _db(data) as db:
        # an incident with an origin URL nobody reported yet; not a new one (the dashboard
        # test opens the first new incident and counts its views)
        found = db.execute(
            "select id, origin_url, status from incidents where origin_url is not null "
            "and status != 'new' and origin_url not like '%\\%%' escape '\\' "
            "and origin_url not in (select url from takedown_urls) "
            "and id not in (select incident_id from takedown_urls where incident_id is not null) "
            "order by id limit 1"
        ).fetchone()
    assert found, "the demo has incidents with an origin URL not reported yet"
    incident_id, origin, status = found

    s = as_role("investigator")
    page = s.goto(f"/incidents/{incident_id}")
    assert page.inner_text("#origin-url").startswith(_defanged(origin))
    assert page.locator("#origin-url a").count() == 0  # text, not a link
    page.click("#report-origin button")
    page.wait_for_load_state("networkidle")
    assert _flash(page) == "Origin URL reported for takedown."
    m = re.fullmatch(r"/takedown/urls/([0-9a-f-]{36})", urlsplit(page.url).path)
    assert m, page.url
    url_id = m.group(1)
    assert page.inner_text("#url-text") == _defanged(origin)
    assert page.locator(f"main a[href='/incidents/{incident_id}']").inner_text() == incident_id
    assert "from incident" in page.inner_text("main dl.kv")
    with _db(data) as db:
        row = db.execute(
            "select source, incident_id, url, status, created_by from takedown_urls where id = ?",
            (url_id,),
        ).fetchone()
        after = db.execute("select status from incidents where id = ?", (incident_id,)).fetchone()
        logged = db.execute(
            "select count(*) from audit_log where action = 'takedown.from_incident' "
            "and target_id = ? and actor = 'investigator'",
            (incident_id,),
        ).fetchone()[0]
    assert row == ("incident", incident_id, origin, "reported", "investigator")
    assert after == (status,) and logged == 1  # the incident's status is left as it was
    _local_only(s)


# ---- 5. the host table -----------------------------------------------------------------------


def test_admin_attributes_an_unknown_host(as_role, demo_server):
    _, data, _ = demo_server
    unknown = _unknown_hosts(data)
    # one of the demo's unlisted hosts (a row for example.invalid would cover every host)
    candidates = [h for h in unknown if h != "example.invalid"]
    assert candidates, unknown
    host = min(candidates, key=lambda h: ("unlisted-host" not in h, h))

    s = as_role("admin")
    page = s.goto("/takedown")
    page.locator("#unknown-hosts tr", has_text=host).locator("a:has-text('attribute')").click()
    page.wait_for_load_state("networkidle")
    assert urlsplit(page.url).path == "/takedown/hosts"
    assert f"host={quote(host)}" in page.url
    form = page.locator("#add-host")
    assert form.locator("input[name=pattern]").input_value() == host
    form.locator("input[name=provider]").fill("Demo Hosting Z (synthetic)")
    form.locator("input[name=abuse_email]").fill("abuse@demo-hosting-z.example.invalid")
    form.locator("input[name=country]").fill("NL")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert _flash(page) == f"Saved {host} (Demo Hosting Z (synthetic))."
    table = page.locator("#host-table tbody tr", has_text=host)
    assert table.count() == 1
    assert table.locator("td").nth(4).inner_text() == str(unknown[host])  # its open URLs
    if page.locator("#unknown-hosts").count():
        assert host not in page.inner_text("#unknown-hosts")

    page = s.goto("/takedown")
    left = set(_unknown_hosts(data))
    assert host not in left and left == set(unknown) - {host}
    assert host not in page.inner_text("#unknown-hosts")
    assert f"({len(left)})" in page.inner_text("#unknown-hosts h2")
    with _db(data) as db:
        saved = db.execute(
            "select provider, abuse_email, country, updated_by from takedown_hosts "
            "where pattern = ?",
            (host,),
        ).fetchone()
        (logged,) = db.execute(
            "select detail from audit_log where action = 'takedown.hosts' and actor = 'admin' "
            "order by id desc limit 1"
        ).fetchone()
    assert saved == (
        "Demo Hosting Z (synthetic)",
        "abuse@demo-hosting-z.example.invalid",
        "NL",
        "admin",
    )
    assert json.loads(logged)["added"] == 1
    _local_only(s)
