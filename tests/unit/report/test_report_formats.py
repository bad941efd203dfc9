"""The reporters behind ``ooo.report.render``, the HTML page's templates (the owner's first,
then the shipped ones) and the chart's geometry."""

from __future__ import annotations

import gc
import os
from datetime import date, timedelta
from pathlib import Path

import pytest

from ooo.core.report import DayCounts
from ooo.errors import UserError
from ooo.report import FORMATS, REPORTERS, SUFFIXES, render
from ooo.report.chart import chart
from tests.support import ROOT
from tests.unit.report.test_report import HOSTILE_SUBJECT, check_html, mixed

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def test_one_reporter_per_format() -> None:
    """Every format has its reporter, in the order the formats are listed, and its suffix."""
    assert tuple(REPORTERS) == FORMATS == ("text", "markdown", "html", "json", "csv")
    assert SUFFIXES == {
        "text": ".txt",
        "markdown": ".md",
        "html": ".html",
        "json": ".json",
        "csv": ".csv",
    }
    assert all(reporter.format == fmt for fmt, reporter in REPORTERS.items())


def test_the_page_forbids_every_fetch_and_script() -> None:
    """The Content-Security-Policy is the one the page has always had."""
    page = render(mixed(), "html")
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page


def test_the_stylesheet_is_inlined() -> None:
    """report.css is in the page, not linked: the file stays self-contained."""
    css = (ROOT / "templates" / "report.css").read_text(encoding="utf-8")
    assert f"<style>\n{css}</style></head>" in render(mixed(), "html")


def test_an_owner_template_wins_and_is_autoescaped(tmp_path: Path) -> None:
    """A report.html.j2 in the owner's template dir replaces the shipped page, and what a
    sender wrote is still escaped in it."""
    (tmp_path / "report.html.j2").write_text(
        "{{ owner }}: {{ summary.total }}\n"
        "{% for ref, vip, flagged, name, address, subject, received, last in open %}"
        "{{ subject }}\n{% endfor %}",
        encoding="utf-8",
    )
    page = render(mixed(), "html", template_dir=tmp_path)
    assert page.startswith("Bob Example: 5\n")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert HOSTILE_SUBJECT not in page


def test_an_owner_stylesheet_restyles_the_shipped_page(tmp_path: Path) -> None:
    """Only report.css in the owner's dir: the shipped page with their stylesheet."""
    (tmp_path / "report.css").write_text("body{color:#123456}\n", encoding="utf-8")
    page = render(mixed(), "html", template_dir=tmp_path)
    assert "<style>\nbody{color:#123456}\n</style></head>" in page
    check_html(page)


def test_an_edited_template_is_read_at_the_next_report(tmp_path: Path) -> None:
    """The renderer is kept between reports, but not the template it read."""
    template = tmp_path / "report.html.j2"
    template.write_text("first\n", encoding="utf-8")
    assert render(mixed(), "html", template_dir=tmp_path) == "first\n"
    template.write_text("second\n", encoding="utf-8")
    later = template.stat().st_mtime + 10
    os.utime(template, (later, later))
    assert render(mixed(), "html", template_dir=tmp_path) == "second\n"


def test_a_broken_owner_template_is_a_user_error_naming_the_line(tmp_path: Path) -> None:
    """A syntax error in the owner's template names the file and the line."""
    (tmp_path / "report.html.j2").write_text("ok\n{% if %}\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"report\.html\.j2:2"):
        render(mixed(), "html", template_dir=tmp_path)


@pytest.mark.parametrize("enabled", [True, False])
def test_rendering_leaves_the_cycle_collector_as_it_was(enabled: bool) -> None:
    """The collector is paused while the page renders, and only then."""
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        render(mixed(), "html")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_the_chart_is_computed_as_plain_data() -> None:
    """A week from Monday: one slot per day, Saturday and Sunday shaded, the bars stacked
    open first, ticks from 0 (the axis) to a round top, every day labelled, the month once."""
    monday = date(2027, 1, 4)
    per_day = [(monday + timedelta(days=i), DayCounts()) for i in range(7)]
    per_day[1] = (per_day[1][0], DayCounts(open=2, resolved_by_network=1))
    drawn = chart(per_day)
    assert len(drawn.days) == 7
    assert len(drawn.weekends) == 2
    assert drawn.summary == "3 inquiries from Mon 4 Jan to Sun 10 Jan"
    tuesday = drawn.days[1]
    assert [box.title for box in tuesday.bar] == [
        "Tue 5 Jan: 2 still open",
        "Tue 5 Jan: 1 resolved by your network",
    ]
    open_box, network_box = tuesday.bar
    assert network_box.y + network_box.height == pytest.approx(open_box.y, abs=0.1)
    assert open_box.y + open_box.height == pytest.approx(drawn.plot_top + drawn.plot_height)
    assert [t.value for t in drawn.ticks] == [0, 1, 2, 3]
    assert [t.axis for t in drawn.ticks] == [True, False, False, False]
    assert [d.label for d in drawn.days] == list(range(4, 11))
    assert [d.month for d in drawn.days] == ["Jan"] + [None] * 6
    assert len(drawn.legend) == 5
