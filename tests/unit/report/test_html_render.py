"""The default HTML reply, rendered by a real browser engine: Debian's Chromium, headless.

The reply is built the way the daemon builds it (the config through `ooo.config.loads`, the
policy, `ooo.core.routing.route`, `ooo.core.compose.compose_reply`), written to a file and opened in
Chromium, which parses it and runs any script in it like a web mail client that shows HTML.
The test reads back the DOM Chromium ended up with (`--dump-dom`) and takes a phone-size
screenshot (420 x 900).

The sender controls the subject and their display name, and both are hostile here: if either
reached the page as markup, its script would run in Chromium and change the DOM, and the
test would see it.

Chromium missing is a failure, never a skip: run scripts/test (it installs it through
scripts/install-browser).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from ooo.app import engine_settings
from ooo.config import Config, loads
from ooo.core.compose import compose_reply
from ooo.core.parse import parse
from ooo.core.policy import decide
from ooo.core.routing import Routing, route
from ooo.templating import Renderer

OWNER = "bob@example.com"
DELEGATE = "carol@example.com"
REF = "OOO-7K3Q9M"
NOW = datetime(2026, 12, 22, 10, 0, tzinfo=UTC)
WIDTH, HEIGHT = 420, 900
# Each would change the DOM if it ever ran: a changed title, a data attribute, a new element.
HOSTILE_SUBJECT = '<script>document.title="PWNED"</script> & <b id="injected">invoice</b>'
HOSTILE_NAME = "<img src=x onerror=document.body.dataset.pwned=1>"

CONFIG = f"""
[owner]
name = "Bob Example"
addresses = ["{OWNER}"]
timezone = "Europe/Berlin"

[away]
start = 2026-12-20T00:00:00
end = 2027-01-05T09:00:00

[mailbox]
host = "imap.example.com"
username = "{OWNER}"

[smtp]
host = "smtp.example.com"

[[network]]
kind = "mastodon"
handle = "@ana@hachyderm.io"

[[network]]
kind = "bluesky"
handle = "ana.bsky.social"

[[network]]
kind = "x"
handle = "@ana"

[[network]]
kind = "linkedin"
handle = "ana-example"

[[network]]
kind = "slack"
label = "#platform-help"
url = "https://example.slack.com/archives/C0123"

[delegate]
name = "Carol Jones"
email = "{DELEGATE}"
handle = "@carol@hachyderm.io"

[audiences]
internal_domains = ["example.com"]

[reply]
share_subject = true
"""

PROFILES = {
    "mastodon": "https://hachyderm.io/@ana",
    "bluesky": "https://bsky.app/profile/ana.bsky.social",
    "x": "https://x.com/ana",
    "linkedin": "https://www.linkedin.com/in/ana-example",
}
SHARES = {
    "mastodon": "https://hachyderm.io/share?text=",
    "bluesky": "https://bsky.app/intent/compose?text=",
    "x": "https://x.com/intent/post?text=",
}
SLACK = "https://example.slack.com/archives/C0123"


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not installed: run scripts/test (it installs Debian's chromium "
            "through scripts/install-browser)",
            pytrace=False,
        )
    return path


def run_chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium, headless, offline, with a throwaway profile, on ``page``."""
    argv = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
        page.as_uri(),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"chromium failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return done


@dataclass(frozen=True)
class Rendered:
    html: str
    routing: Routing
    dom: str
    links: dict[str, str]
    """href -> link text, from the DOM Chromium built."""
    text: str
    """The visible text of the body."""
    title: str
    body_attrs: dict[str, str | None]
    ids: set[str]


_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"})


class _Dom(HTMLParser):
    """Links, visible text, title, body attributes and element ids of a serialized DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self.text: list[str] = []
        self.title = ""
        self.body_attrs: dict[str, str | None] = {}
        self.ids: set[str] = set()
        self._href: str | None = None
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID:
            self._in.append(tag)
        attrd = dict(attrs)
        if attrd.get("id"):
            self.ids.add(str(attrd["id"]))
        if tag == "body":
            self.body_attrs = attrd
        if tag == "a" and attrd.get("href"):
            self._href = str(attrd["href"])
            self.links[self._href] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()
        if tag == "a":
            self._href = None

    def handle_data(self, data: str) -> None:
        if "title" in self._in:
            self.title += data
        elif "body" in self._in:
            self.text.append(data)
        if self._href is not None:
            self.links[self._href] += data


def render(tmp_path: Path, sender: str) -> Rendered:
    """The default HTML reply to a hostile message from ``sender``, as Chromium sees it."""
    cfg: Config = loads(CONFIG, tmp_path / "config.toml")
    settings = engine_settings(cfg)
    head = (
        f"Return-Path: <{sender}>\r\n"
        f'From: "{HOSTILE_NAME}" <{sender}>\r\n'
        f"To: Bob Example <{OWNER}>\r\n"
        f"Subject: {HOSTILE_SUBJECT}\r\n"
        "Message-ID: <q1@example.org>\r\n"
        "Date: Tue, 22 Dec 2026 10:00:00 +0000\r\n\r\n"
    ).encode()
    msg = parse("1", head, b"Hello Bob,\r\nwhat about the invoice?\r\n", NOW, len(head))
    decision = decide(
        msg,
        settings.owner,
        window_start=settings.window_start,
        window_end=settings.window_end,
        last_reply_at=None,
        interval=settings.interval,
        now=NOW,
    )
    assert decision.reply and decision.recipient == sender, decision
    routing = route(msg, decision.recipient, cfg)
    reply = compose_reply(
        msg,
        decision,
        settings.reply,
        Renderer(cfg.templates.dir),
        message_id="<reply-1@example.com>",
        now=NOW,
        routing=routing,
        ref=REF,
    )
    part = reply.get_body(("html",))
    assert part is not None
    html = part.get_content()
    page = tmp_path / "reply.html"
    page.write_text(html, encoding="utf-8")

    dom = run_chromium(page, tmp_path / "profile-dom", "--dump-dom").stdout
    parser = _Dom()
    parser.feed(dom)
    parser.close()
    return Rendered(
        html=html,
        routing=routing,
        dom=dom,
        links=parser.links,
        text=" ".join("".join(parser.text).split()),
        title=parser.title,
        body_attrs=parser.body_attrs,
        ids=parser.ids,
    )


def assert_clean(page: Rendered) -> None:
    """No template markup leaked, and nothing the sender wrote became markup or ran."""
    for markup in ("{{", "}}", "{%", "%}", "{#", "#}"):
        assert markup not in page.dom, f"template markup {markup!r} leaked:\n{page.dom}"
    assert page.title == "Bob Example is away until Tuesday 5 January 2027", page.title
    assert "PWNED" not in page.title
    assert "data-pwned" not in page.dom
    assert "injected" not in page.ids
    assert "<script" not in page.dom.lower()
    assert "<img" not in page.dom.lower()
    assert "&lt;script&gt;" in page.dom  # the subject is shown, as text
    # What the reader sees: the subject and the name exactly as the sender wrote them.
    assert '<script>document.title="PWNED"</script> & <b id="injected">invoice</b>' in page.text
    assert f"Hello {HOSTILE_NAME}," in page.text
    assert "Your reference is OOO-7K3Q9M." in page.text


def test_external_reply_renders_with_public_links_only(tmp_path: Path) -> None:
    """An external sender's HTML reply, in Chromium: every public profile and "ask your
    question there" compose link, and the delegate's mailto, are real <a href> links; the
    compose links carry the reference tag (and, with share_subject = true, the subject as
    URL-encoded text, never as markup); the internal Slack channel is absent."""
    page = render(tmp_path, "alice@example.org")
    assert page.routing.audience == "external"
    assert_clean(page)
    for kind, url in PROFILES.items():
        assert url in page.links, f"{kind} profile link missing: {sorted(page.links)}"
    assert page.links[f"mailto:{DELEGATE}"] == DELEGATE
    assert "Carol Jones" in page.text
    for kind, prefix in SHARES.items():
        (share,) = [href for href in page.links if href.startswith(prefix)]
        assert page.links[share] == "ask your question there"
        (post,) = parse_qs(urlsplit(share).query)["text"]
        assert "#OOO7K3Q9M" in post, (kind, post)
        assert "PWNED" in post  # share_subject = true: the subject, as text in the URL
        assert "<" not in share and '"' not in share, share  # encoded, cannot break out
    assert SLACK not in page.links
    assert "#platform-help" not in page.text


def test_internal_reply_renders_the_channel_and_keeps_the_subject_private(
    tmp_path: Path,
) -> None:
    """An internal sender's HTML reply shows the internal Slack channel as a link, next to
    the public profiles; even with share_subject = true, the subject of an internal message
    never goes into a public compose link."""
    page = render(tmp_path, "erin@example.com")
    assert page.routing.audience == "internal"
    assert_clean(page)
    assert page.links[SLACK] == "#platform-help"
    for url in PROFILES.values():
        assert url in page.links
    assert f"mailto:{DELEGATE}" in page.links
    shares = [href for href in page.links if href.startswith(tuple(SHARES.values()))]
    assert len(shares) == len(SHARES)
    for share in shares:
        (post,) = parse_qs(urlsplit(share).query)["text"]
        assert "#OOO7K3Q9M" in post
        assert "PWNED" not in post and "invoice" not in post, post


def png_size_and_colours(png: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the decoded pixel rows of an
    8-bit PNG (a blank page has a handful; rendered text has many)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", data[:8])
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_phone_size_screenshot(tmp_path: Path) -> None:
    """Chromium draws the reply at phone size (420 x 900): the PNG is written, has that size,
    and is not a blank page."""
    render(tmp_path, "alice@example.org")
    shot = tmp_path / "reply.png"
    run_chromium(
        tmp_path / "reply.html",
        tmp_path / "profile-shot",
        f"--screenshot={shot}",
        f"--window-size={WIDTH},{HEIGHT}",
        "--hide-scrollbars",
    )
    assert shot.is_file(), "chromium wrote no screenshot"
    png = shot.read_bytes()
    width, height, colours = png_size_and_colours(png)
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(png) > 10_000, f"suspiciously small screenshot: {len(png)} bytes"
    assert colours > 50, f"the screenshot looks blank ({colours} distinct byte values)"
