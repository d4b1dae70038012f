"""The takedown records: intake and de-duplication, the status moves and their history,
rechecks applied to a URL, host attribution and the CSV intake's errors."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from hashwatch.store import Database
from hashwatch.store.migrate import upgrade
from hashwatch.store.models import TakedownEvent, TakedownUrl
from hashwatch.takedown import service
from hashwatch.takedown.hosts import HostRow
from hashwatch.takedown.intake_csv import read_reports_csv
from hashwatch.takedown.recheck import RecheckResult

T0 = datetime(2026, 11, 2, 9, 0, 0)
PDQ = "f" * 64
SHA = "a" * 64


@pytest.fixture
def db(tmp_path):
    d = Database(str(tmp_path / "t.db"))
    upgrade(d.engine)
    yield d
    d.dispose()


def rep(url: str, at: datetime = T0, **kw) -> service.Report:
    return service.Report(url=url, reported_at=at, **kw)


def statuses(s, url_id: str) -> list[tuple[str | None, str | None]]:
    return [(e.from_status, e.to_status) for e in service.history(s, url_id) if e.kind == "status"]


def test_the_same_url_however_spelled_is_one_report(db):
    with db.transaction() as s:
        r = service.intake(
            s,
            [
                rep("HTTPS://Files.Example.INVALID:443/a/b.jpg?utm_source=x", category="A"),
                rep("https://files.example.invalid/a/./b.jpg", hashes=(("pdq", PDQ),)),
                rep("https://files.example.invalid/other.jpg"),
            ],
            by="analyst",
            now=T0 + timedelta(hours=1),
        )
        assert len(r.created) == 2 and r.again == [] and r.rejected == []
        row = s.get(TakedownUrl, r.created[0])
        assert row.url == "https://files.example.invalid/a/b.jpg"
        assert row.times_reported == 2 and row.category == "A"
        assert row.hashes == [{"type": "pdq", "value": PDQ}]
        # reported again later, from elsewhere: the same row, the hashes merged
        r2 = service.intake(
            s,
            [rep("https://FILES.example.invalid/a/b.jpg", hashes=(("sha256", SHA),))],
            by="api",
            now=T0 + timedelta(hours=2),
        )
        assert r2.created == [] and r2.again == [row.id]
        assert row.times_reported == 3 and len(row.hashes) == 2
        kinds = [e.kind for e in service.history(s, row.id)]
        assert kinds == ["status", "reported_again", "reported_again"]


def test_bad_urls_are_rejected_with_their_reason_and_the_rest_kept(db):
    with db.transaction() as s:
        r = service.intake(
            s,
            [
                rep("ftp://files.example.invalid/x"),
                rep("https://ok.example.invalid/x"),
                rep("not a url"),
                rep("https://" + "a" * 10000 + ".example/"),
                rep("https://ok.example.invalid/y", at=T0 + timedelta(days=2)),
            ],
            by="a",
            now=T0,
            where=["line 2", "line 3", "line 4", "line 5", "line 6"],
        )
        assert len(r.created) == 1
        where = [w for w, _, _ in r.rejected]
        assert where == ["line 2", "line 4", "line 5", "line 6"]
        reasons = " | ".join(reason for _, _, reason in r.rejected)
        assert "scheme" in reasons and "future" in reasons


def test_status_moves_are_checked_and_recorded(db):
    with db.transaction() as s:
        uid = service.intake(s, [rep("https://h.example.invalid/1")], by="a", now=T0).created[0]
        row = service.get(s, uid)
        with pytest.raises(service.TakedownError) as e:
            service.move(s, row, "reappeared", by="a", at=T0)
        assert e.value.status == 409 and "reported URL cannot become reappeared" in str(e.value)
        service.move(s, row, "notice_sent", by="notices", at=T0 + timedelta(hours=1))
        service.move(s, row, "removed", by="analyst", at=T0 + timedelta(hours=30), note="gone")
        assert row.removed_at == T0 + timedelta(hours=30)
        # reported again after removal: it has reappeared
        r = service.intake(
            s,
            [rep("https://h.example.invalid/1", T0 + timedelta(days=3))],
            by="b",
            now=T0 + timedelta(days=3),
        )
        assert r.reappeared == [uid] and row.status == "reappeared"
        service.move(s, row, "removed", by="analyst", at=T0 + timedelta(days=4))
        assert statuses(s, uid) == [
            (None, "reported"),
            ("reported", "notice_sent"),
            ("notice_sent", "removed"),
            ("removed", "reappeared"),
            ("reappeared", "removed"),
        ]
        with pytest.raises(service.TakedownError):
            service.move(s, row, "gone", by="a", at=T0)


def _result(outcome: str, reason: str = "") -> RecheckResult:
    return RecheckResult(outcome, "u", "u", 404 if outcome == "removed" else 200, T0, reason)


def test_recheck_results_change_only_what_they_prove(db):
    with db.transaction() as s:
        uid = service.intake(s, [rep("https://h.example.invalid/2")], by="a", now=T0).created[0]
        row = service.get(s, uid)
        t = T0 + timedelta(hours=5)
        # content served that is not the reported content: recorded, nothing changes
        assert (
            service.record_check(s, row, _result("live_no_match", "no hash matched"), at=t) is None
        )
        assert row.status == "reported" and row.last_check.startswith("live_no_match")
        assert service.record_check(s, row, _result("error", "timed out"), at=t) is None
        assert service.record_check(s, row, _result("live_match", "pdq 3"), at=t) is None
        assert service.record_check(s, row, _result("removed", "HTTP 404"), at=t) == "removed"
        assert row.status == "removed"
        # found live again with the listed content: reappeared
        later = t + timedelta(days=2)
        assert (
            service.record_check(s, row, _result("live_match", "sha256"), at=later) == "reappeared"
        )
        assert statuses(s, uid)[-1] == ("removed", "reappeared")
        checks = s.scalars(
            select(TakedownEvent).where(TakedownEvent.url_id == uid, TakedownEvent.kind == "check")
        ).all()
        assert len(checks) == 5 and all(e.by == "recheck" for e in checks)


def test_hashes_are_parsed_strictly():
    assert service.parse_hashes("pdq:" + PDQ + ", md5:" + "b" * 32) == (
        ("pdq", PDQ),
        ("md5", "b" * 32),
    )
    assert service.parse_hashes("C" * 40) == (("sha1", "c" * 40),)
    assert service.parse_hashes([{"type": "SHA256", "value": SHA}]) == (("sha256", SHA),)
    for bad, words in (
        (SHA, "sha256:<hex> or pdq:<hex>"),
        ("pdq:abc", "64 hex digits"),
        ("crc:" + "a" * 8, "unknown hash type"),
        ("zzzz", "not a hash"),
        ([{"kind": "pdq"}], "'type'"),
        (42, "a text or a list"),
    ):
        with pytest.raises(service.TakedownError, match="hashes") as e:
            service.parse_hashes(bad)
        assert words in str(e.value)


def test_unknown_hosts_are_those_without_a_row(db):
    with db.transaction() as s:
        service.put_hosts(
            s,
            [HostRow("example-hosting.invalid", "Example Hosting", "abuse@eh.invalid", "NL")],
            by="admin",
            now=T0,
        )
        service.intake(
            s,
            [
                rep("https://cdn.example-hosting.invalid/1"),
                rep("https://cdn.example-hosting.invalid/2"),
                rep("https://elsewhere.example/1"),
                rep("http://[2001:db8::1]/x"),
            ],
            by="a",
            now=T0,
        )
        loads = service.open_by_host(s)
        assert [(h.host, h.open) for h in loads][0] == ("cdn.example-hosting.invalid", 2)
        assert loads[0].attribution.provider == "Example Hosting"
        assert sorted(h.host for h in service.unknown_hosts(s)) == [
            "2001:db8::1",
            "elsewhere.example",
        ]
        # an edit replaces by pattern; unchanged rows are not counted
        assert service.put_hosts(
            s,
            [
                HostRow("example-hosting.invalid", "Example Hosting", "abuse@eh.invalid", "NL"),
                HostRow("elsewhere.example", "Elsewhere", "abuse@elsewhere.example", "US"),
            ],
            by="admin",
            now=T0,
        ) == (1, 0)
        assert [h.host for h in service.unknown_hosts(s)] == ["2001:db8::1"]
        service.delete_host(s, "elsewhere.example")
        with pytest.raises(service.TakedownError):
            service.delete_host(s, "elsewhere.example")


def test_csv_intake_names_line_and_field():
    text = (
        "url,reported_at,source,category,hashes\n"
        "https://a.example.invalid/1,2026-11-01T10:00:00Z,partner,A,pdq:" + PDQ + "\n"
        "https://a.example.invalid/2,yesterday,partner,A,\n"
        "https://a.example.invalid/3,2026-11-01T10:00:00+02:00,,B,md5:zz\n"
        "https://a.example.invalid/4,,,,\n"
        "https://a.example.invalid/5,2027-01-01T00:00:00Z,,,\n"
        "only,two\n"
        "# a comment\n"
    )
    got = read_reports_csv(text, name="feed.csv", now=T0)
    assert [r.url for r in got.reports] == [
        "https://a.example.invalid/1",
        "https://a.example.invalid/4",
    ]
    assert got.reports[0].reported_at == datetime(2026, 11, 1, 10, 0)
    assert got.reports[0].source == "partner" and got.reports[1].source == "csv"
    assert got.reports[1].reported_at == T0  # empty: now
    assert got.where == ["line 2", "line 5"]
    assert [(n, f) for n, f, _ in got.errors] == [
        (3, "reported_at"),
        (4, "hashes"),
        (6, "reported_at"),
        (7, "row"),
    ]
    assert got.error_texts()[0].startswith("feed.csv, line 3, reported_at: 'yesterday'")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"\xff\xfe", "not UTF-8"),
        (b"address,when\nx,y\n", "unknown column"),
        (b"source\nx\n", "no 'url' column"),
        (b"url,url\nx,y\n", "named twice"),
    ],
)
def test_csv_files_that_cannot_be_read_are_refused_as_a_whole(data, words):
    with pytest.raises(service.TakedownError, match=words):
        read_reports_csv(data, name="bad.csv", now=T0)


def test_a_stored_host_row_that_fails_the_checks_is_left_out_not_fatal(db):
    from hashwatch.store.models import TakedownHost

    with db.transaction() as s:
        s.add(
            TakedownHost(
                pattern="broken.example",
                provider="B",
                abuse_email=None,
                country=None,
                updated_at=T0,
                updated_by="sql",
            )
        )
        service.put_hosts(
            s, [HostRow("good.example", "G", "abuse@good.example", "DE")], by="a", now=T0
        )
        service.intake(
            s, [rep("https://broken.example/1"), rep("https://good.example/1")], by="a", now=T0
        )
        assert [r.pattern for r in service.host_table(s)] == ["good.example"]
        assert [h.host for h in service.unknown_hosts(s)] == ["broken.example"]


def test_a_report_dated_before_the_removal_is_not_a_reappearance(db):
    with db.transaction() as s:
        uid = service.intake(s, [rep("https://h.example.invalid/late")], by="a", now=T0).created[0]
        row = service.get(s, uid)
        service.move(s, row, "removed", by="a", at=T0 + timedelta(days=2))
        backfill = rep("https://h.example.invalid/late", T0 + timedelta(days=1))
        r = service.intake(s, [backfill], by="csv", now=T0 + timedelta(days=3))
        assert r.again == [uid] and r.reappeared == [] and row.status == "removed"


def test_a_huge_csv_field_is_a_row_error_and_the_process_limit_is_left_alone():
    import csv

    before = csv.field_size_limit()
    text = "url,category\nhttps://a.example/1," + "x" * 20000 + "\nhttps://a.example/2,A\n"
    got = read_reports_csv(text, name="big.csv", now=T0)
    assert [r.url for r in got.reports] == ["https://a.example/2"]
    assert got.errors[0][:2] == (2, "row")
    assert csv.field_size_limit() == before
