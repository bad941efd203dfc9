"""The owner's network entries: handles become links, unsafe links are refused, internal
channels stay internal, and "ask my network" posts are encoded and short."""

from __future__ import annotations

import itertools
import tomllib
import unicodedata
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ooo.core import network
from ooo.core.network import (
    INTERNAL_KINDS,
    SHARE_TEXT_LIMIT,
    NetworkEntry,
    safe_url,
    share_text,
    visible_entries,
)

# The smallest valid entry of every kind.
MINIMAL: dict[str, dict[str, Any]] = {
    "mastodon": {"handle": "@ana@hachyderm.io"},
    "bluesky": {"handle": "ana.bsky.social"},
    "linkedin": {"handle": "ana-example"},
    "x": {"handle": "@ana"},
    "github": {"handle": "octo-org/handbook"},
    "website": {"url": "https://ana.example.com/"},
    "slack": {"label": "#platform-help", "url": "https://example.slack.com/archives/C0123"},
    "teams": {"label": "Platform", "url": "https://teams.microsoft.com/l/channel/19%3Aabc"},
    "matrix": {"handle": "#platform:example.org"},
    "discourse": {"label": "Forum", "url": "https://discuss.example.com/c/platform"},
    "custom": {"label": "Office hours", "url": "https://cal.example.com/ana"},
}


def entry(kind: str, **fields: Any) -> NetworkEntry:
    return NetworkEntry.model_validate({"kind": kind, **fields})


# (kind, handle as written, handle stored, profile_url, display)
GOOD_HANDLES = [
    ("mastodon", "@ana@hachyderm.io", "@ana@hachyderm.io", "https://hachyderm.io/@ana",
     "@ana@hachyderm.io on Mastodon"),
    ("mastodon", "ana@Hachyderm.IO", "@ana@hachyderm.io", "https://hachyderm.io/@ana",
     "@ana@hachyderm.io on Mastodon"),
    ("mastodon", " @Ana_B@fosstodon.org ", "@Ana_B@fosstodon.org", "https://fosstodon.org/@Ana_B",
     "@Ana_B@fosstodon.org on Mastodon"),
    ("bluesky", "ana.bsky.social", "@ana.bsky.social", "https://bsky.app/profile/ana.bsky.social",
     "@ana.bsky.social on Bluesky"),
    ("bluesky", "@Ana.Dev", "@ana.dev", "https://bsky.app/profile/ana.dev", "@ana.dev on Bluesky"),
    ("linkedin", "ana-example", "ana-example", "https://www.linkedin.com/in/ana-example",
     "ana-example on LinkedIn"),
    ("linkedin", "https://www.linkedin.com/in/Ana-Example/", "ana-example",
     "https://www.linkedin.com/in/ana-example", "ana-example on LinkedIn"),
    ("linkedin", "linkedin.com/in/ana-example?trk=public", "ana-example",
     "https://www.linkedin.com/in/ana-example", "ana-example on LinkedIn"),
    ("linkedin", "https://de.linkedin.com/in/ana-example", "ana-example",
     "https://www.linkedin.com/in/ana-example", "ana-example on LinkedIn"),
    ("x", "@ana", "@ana", "https://x.com/ana", "@ana on X"),
    ("x", "Ana_1234567890_", "@Ana_1234567890_", "https://x.com/Ana_1234567890_",
     "@Ana_1234567890_ on X"),
    ("github", "octo-org/handbook", "octo-org/handbook",
     "https://github.com/octo-org/handbook/discussions", "octo-org/handbook discussions on GitHub"),
    ("github", "octo/.github", "octo/.github", "https://github.com/octo/.github/discussions",
     "octo/.github discussions on GitHub"),
    ("github", "@octocat", "octocat", "https://github.com/octocat", "@octocat on GitHub"),
    ("matrix", "#platform:example.org", "#platform:example.org",
     "https://matrix.to/#/#platform:example.org", "#platform:example.org on Matrix"),
    ("matrix", "#help:Matrix.Example.org:8448", "#help:matrix.example.org:8448",
     "https://matrix.to/#/#help:matrix.example.org:8448",
     "#help:matrix.example.org:8448 on Matrix"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "given", "stored", "link", "display"), GOOD_HANDLES)
def test_good_handles_normalise_and_link(
    kind: str, given: str, stored: str, link: str, display: str
) -> None:
    """A valid handle is stored in its canonical form (leading @ as the service shows it,
    domains in lower case, a LinkedIn URL reduced to its slug) and links to its profile."""
    e = entry(kind, handle=given)
    assert e.handle == stored
    assert e.profile_url == link
    assert e.display == display


# (kind, handle): each must be refused with a message naming the kind and the handle.
BAD_HANDLES = [
    ("mastodon", "ana"),
    ("mastodon", "@ana"),
    ("mastodon", "@@ana@hachyderm.io"),
    ("mastodon", "@ana@localhost"),
    ("mastodon", "@ana@192.168.1.1"),
    ("mastodon", "@ana@-bad.example"),
    ("mastodon", "@ana@hachyderm.io@x.io"),
    ("mastodon", "@a na@hachyderm.io"),
    ("mastodon", "@ana@hachyderm.io/@ana"),
    ("mastodon", "@ana@hachydérm.io"),
    ("bluesky", "ana"),
    ("bluesky", "ana..dev"),
    ("bluesky", "ana_b.bsky.social"),
    ("bluesky", "ana.local"),
    ("bluesky", "10.0.0.1"),
    ("bluesky", "ana.bsky.social/post"),
    ("linkedin", "an"),
    ("linkedin", "ana example"),
    ("linkedin", "ana/example"),
    ("linkedin", "https://www.linkedin.com/company/acme"),
    ("linkedin", "https://www.linkedin.com/in/ana/details"),
    ("linkedin", "https://linkedin.com.evil.example/in/ana"),
    ("linkedin", "https://evil.example/in/ana?linkedin.com"),
    ("linkedin", "javascript:alert(1)//linkedin.com/in/ana"),
    ("x", ""),
    ("x", "@"),
    ("x", "@ana-b"),
    ("x", "@sixteen_chars_xx"),
    ("x", "@ana@x.com"),
    ("github", "-octocat"),
    ("github", "octocat-"),
    ("github", "octo--cat"),
    ("github", "o" * 40),
    ("github", "owner/"),
    ("github", "owner/.."),
    ("github", "owner/re po"),
    ("github", "owner/repo/discussions"),
    ("matrix", "platform:example.org"),
    ("matrix", "#platform"),
    ("matrix", "#plat form:example.org"),
    ("matrix", "#platform:example.org:99999"),
    ("matrix", "@ana:example.org"),
]


@pytest.mark.parametrize(("kind", "handle"), BAD_HANDLES)
def test_malformed_handles_are_refused_naming_kind_and_value(kind: str, handle: str) -> None:
    """A malformed handle is a ValueError that names the kind, says what is expected, and
    quotes what was given."""
    with pytest.raises(ValueError, match=f"{kind} handle must") as err:
        entry(kind, handle=handle)
    assert f"got {handle!r}" in str(err.value)


def test_mastodon_message_matches_the_documented_wording() -> None:
    """The config layer shows this message after the entry's location; it reads on its own."""
    with pytest.raises(ValidationError) as err:
        entry("mastodon", handle="ana")
    [problem] = err.value.errors()
    assert problem["loc"] == ("handle",)
    assert problem["msg"] == (
        "Value error, mastodon handle must look like @user@instance.social, got 'ana'"
    )


@pytest.mark.parametrize(
    ("kind", "fields", "expected"),
    [
        ("mastodon", {}, "mastodon needs a handle"),
        ("github", {"label": "Ask"}, "github needs a handle"),
        ("website", {}, "website needs url"),
        ("slack", {"label": "#help"}, "slack needs url"),
        ("slack", {"url": "https://example.slack.com/archives/C1"}, "slack needs a label"),
        ("teams", {"url": "https://teams.microsoft.com/l/x"}, "teams needs a label"),
        ("discourse", {"url": "https://d.example.com/"}, "discourse needs a label"),
        ("custom", {"url": "https://cal.example.com/"}, "custom needs a label"),
        ("custom", {"label": "Office hours"}, "custom needs url"),
        ("matrix", {"label": "Room"}, "matrix needs either handle"),
        ("matrix", {"url": "https://matrix.to/#/#a:b.org"}, "matrix needs a label"),
        ("matrix", {**MINIMAL["matrix"], "url": "https://matrix.to/"}, "not both"),
        ("mastodon", {**MINIMAL["mastodon"], "url": "https://x.io/"}, "takes a handle, not a url"),
        ("slack", {**MINIMAL["slack"], "handle": "#help"}, "slack takes a url .* not a handle"),
        ("website", {"handle": "ana.dev"}, "website takes a url .* not a handle"),
    ],
)
def test_each_kind_gets_exactly_what_it_needs(
    kind: str, fields: dict[str, Any], expected: str
) -> None:
    """Handle kinds need a handle and take no url; channels need a url and a label; matrix
    takes a room alias or a url; a missing or misplaced key is named."""
    with pytest.raises(ValueError, match=expected):
        entry(kind, **fields)


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_minimal_entry_of_every_kind_is_valid_and_links_over_https(kind: str) -> None:
    """Every kind accepts its minimal entry; its link is https and its display is not empty."""
    e = entry(kind, **MINIMAL[kind])
    assert e.profile_url.startswith("https://")
    assert e.display
    assert e.public is (kind not in INTERNAL_KINDS)
    assert NetworkEntry.model_validate(e.model_dump()) == e, "normalising twice changes nothing"


def test_url_kinds_link_to_their_url_and_show_their_label() -> None:
    """A channel links to its url (scheme and host lower-cased, the rest kept) and shows its
    label; a website without a label shows its host."""
    slack = entry("slack", label=" #platform-help ", url="HTTPS://Example.Slack.com/archives/C0123")
    assert slack.profile_url == "https://example.slack.com/archives/C0123"
    assert slack.display == "#platform-help"
    site = entry("website", url="http://Ana.Example.com/About")
    assert site.profile_url == "http://ana.example.com/About"
    assert site.display == "ana.example.com"
    room = entry("matrix", label="Platform room", url="https://matrix.to/#/#platform:example.org")
    assert room.profile_url == "https://matrix.to/#/#platform:example.org"


def test_label_overrides_the_default_display() -> None:
    """An owner's label replaces the default text, on any kind."""
    assert entry("mastodon", label="Ask on Mastodon", **MINIMAL["mastodon"]).display == (
        "Ask on Mastodon"
    )


@pytest.mark.parametrize(
    "label", ["", "   ", "two\nlines", "tab\there", "rtl\u202eevil", "x" * 201]
)
def test_labels_are_one_short_line(label: str) -> None:
    """A label is shown in the reply as text: empty, multi-line, control characters, bidi
    overrides and very long labels are refused."""
    with pytest.raises(ValueError, match="label must be one line"):
        entry("slack", label=label, url="https://example.slack.com/archives/C1")


UNSAFE_URLS = [
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://files.example.com/",
    "//example.com/path",
    "example.com/path",
    "https://",
    "https:///path",
    "https://exa mple.com/",
    "https://example.com/a b",
    "https://example.com/\nBcc: x@example.com",
    "https://example.com/\r\nx",
    "https://example.com/\tx",
    "https://example.com/\x00",
    "https://example.com/\u202eexe.txt",
    "https://example.com/\u00a0x",
    'https://example.com/"onmouseover="alert(1)',
    "https://example.com/<script>",
    "https://example.com/a`b",
    "https://trusted.example.com@evil.example/",
    "https://user:secret@example.com/",
    "https://example.com:99999/",
    "https://[::1/",
]


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_unsafe_urls_are_refused(url: str) -> None:
    """Only absolute http(s) URLs with a host, no credentials, and no whitespace, control or
    markup characters may end up in a link."""
    with pytest.raises(ValueError, match="website url"):
        entry("website", url=url)
    with pytest.raises(ValueError, match=r"^url "):
        safe_url(url)


def test_whitespace_around_a_url_or_handle_is_ignored() -> None:
    """Stray spaces or a newline around a value, easy to leave in a hand-edited file, are
    dropped; inside a URL they are refused (above)."""
    assert entry("website", url=" https://ana.example.com/\n").url == "https://ana.example.com/"
    assert entry("x", handle="\t@ana ").handle == "@ana"


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_default_audience_per_kind(kind: str) -> None:
    """Internal channels default to the internal audience; public kinds to everyone. The
    default is resolved at validation, so .audience is never None."""
    e = entry(kind, **MINIMAL[kind])
    assert e.audience == ("internal" if kind in INTERNAL_KINDS else "all")
    assert entry(kind, audience=None, **MINIMAL[kind]).audience == e.audience


@pytest.mark.parametrize("audience", ["all", "internal", "external"])
def test_explicit_audience_wins(audience: str) -> None:
    """The owner may set any audience on any kind, including showing an internal channel to
    everyone: it is their choice."""
    assert entry("slack", audience=audience, **MINIMAL["slack"]).audience == audience
    assert entry("x", audience=audience, **MINIMAL["x"]).audience == audience


def test_unknown_keys_and_audiences_are_refused() -> None:
    """A typo is an error, never a silent default."""
    with pytest.raises(ValidationError, match="extra"):
        entry("x", hndle="@ana")
    with pytest.raises(ValidationError, match="audience"):
        entry("x", audience="everyone", **MINIMAL["x"])
    with pytest.raises(ValidationError, match="kind"):
        entry("myspace", handle="ana")


def test_entries_are_frozen() -> None:
    """A validated entry cannot be changed behind the validators' back."""
    e = entry("x", **MINIMAL["x"])
    with pytest.raises(ValidationError):
        e.handle = "not a handle"


# A sender as routing sees it: (audience, internal_sender, counts as internal).
SENDERS = [
    ("internal", True, True),
    ("vip", True, True),
    ("vip", False, False),
    ("external", False, False),
    # contradictions are settled toward external, so an internal channel never leaks
    ("external", True, False),
    ("internal", False, False),
]


@pytest.mark.parametrize(
    ("entry_audience", "sender"),
    list(itertools.product(["all", "internal", "external"], SENDERS)),
)
def test_visibility_rules(entry_audience: str, sender: tuple[str, bool, bool]) -> None:
    """Entries for "all" are shown to everyone, "internal" ones only to internal senders,
    "external" ones only to everyone else."""
    audience, internal_sender, is_internal = sender
    e = entry("x", audience=entry_audience, **MINIMAL["x"])
    expected = {"all": True, "internal": is_internal, "external": not is_internal}
    assert e.visible_to(audience, internal_sender=internal_sender) is expected[entry_audience]  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", sorted(INTERNAL_KINDS))
@pytest.mark.parametrize(("audience", "internal_sender"), [("external", False), ("vip", False)])
def test_internal_channel_is_never_shown_to_external_senders_by_default(
    kind: str, audience: str, internal_sender: bool
) -> None:
    """Slack, Teams, Matrix and Discourse entries without an audience stay hidden from external
    senders and external VIPs, and are shown to internal ones."""
    e = entry(kind, **MINIMAL[kind])
    assert not e.visible_to(audience, internal_sender=internal_sender)  # type: ignore[arg-type]
    assert e.visible_to("internal", internal_sender=True)
    assert e.visible_to("vip", internal_sender=True)


def test_visible_to_refuses_an_unknown_audience() -> None:
    """A misspelt audience is a bug in the caller, not an external sender."""
    with pytest.raises(ValueError, match="audience must be"):
        entry("x", **MINIMAL["x"]).visible_to("externel", internal_sender=False)  # type: ignore[arg-type]


def test_visible_entries_filters_and_keeps_the_owners_order() -> None:
    """Each sender sees the entries meant for them, in the order the owner listed them."""
    public = entry("mastodon", **MINIMAL["mastodon"])
    slack = entry("slack", **MINIMAL["slack"])
    outside = entry("website", audience="external", **MINIMAL["website"])
    shared_slack = entry("slack", audience="all", **MINIMAL["slack"])
    entries = [public, slack, outside, shared_slack]
    assert visible_entries(entries, internal_sender=True) == [public, slack, shared_slack]
    assert visible_entries(entries, internal_sender=False) == [public, outside, shared_slack]
    assert visible_entries(entries, internal_sender=True, audience="vip") == [
        public,
        slack,
        shared_slack,
    ]
    assert visible_entries(entries, internal_sender=True, audience="external") == [
        public,
        outside,
        shared_slack,
    ]
    assert visible_entries([], internal_sender=False) == []


def test_entries_load_from_the_documented_toml() -> None:
    """The example from the config documentation validates as written."""
    data = tomllib.loads(
        """
        [[network]]
        kind = "mastodon"
        handle = "@ana@hachyderm.io"
        audience = "all"

        [[network]]
        kind = "slack"
        label = "#platform-help"
        url = "https://example.slack.com/archives/C0123"
        audience = "internal"
        """
    )
    mastodon, slack = (NetworkEntry.model_validate(item) for item in data["network"])
    assert mastodon.profile_url == "https://hachyderm.io/@ana"
    assert slack.display == "#platform-help"
    assert visible_entries([mastodon, slack], internal_sender=False) == [mastodon]


TAG = "OOO7K3Q"
TEXT = share_text("@ana@hachyderm.io", TAG, None)


def test_share_text_names_the_owner_and_the_tag_and_no_subject_by_default() -> None:
    """Without a subject the post says only who is away and the inquiry's hashtag."""
    assert TEXT == "Question for my network while @ana@hachyderm.io is away (#OOO7K3Q)"
    assert share_text("@ana@hachyderm.io", "#OOO7K3Q", None) == TEXT
    assert share_text("@ana@hachyderm.io", TAG, "") == TEXT


def test_share_text_adds_the_subject_on_one_line() -> None:
    """A subject the caller chose to share follows a colon, its line breaks and control
    characters flattened."""
    text = share_text("@ana", TAG, "Deploy\r\n  fails\x07 on\u2028staging")
    assert text == "Question for my network while @ana is away (#OOO7K3Q): Deploy fails on staging"


def test_share_text_cuts_a_long_subject_at_a_word() -> None:
    """A long subject is cut at a word boundary with an ellipsis; the total stays within the
    limit and the mention and tag stay whole."""
    subject = " ".join(f"word{i}" for i in range(100))
    text = share_text("@ana@hachyderm.io", TAG, subject)
    assert len(text) <= SHARE_TEXT_LIMIT
    assert text.endswith("…")
    kept = text.split("): ", 1)[1].removesuffix("…")
    assert (subject + " ").startswith(kept + " ")
    assert "@ana@hachyderm.io" in text and "#OOO7K3Q" in text


def test_share_text_shortens_an_absurd_mention_but_keeps_the_tag() -> None:
    """The tag is what matches answers to the inquiry, so it survives any mention."""
    text = share_text("@" + "a" * 400, TAG, "subject")
    assert len(text) <= SHARE_TEXT_LIMIT
    assert text.endswith("(#OOO7K3Q)")


@pytest.mark.parametrize(("mention", "tag"), [("@ana", "OOO 7K3Q"), ("@ana", ""), ("  ", TAG)])
def test_share_text_refuses_a_bad_tag_or_empty_mention(mention: str, tag: str) -> None:
    """A tag must work as a hashtag, and a post must say who is away."""
    with pytest.raises(ValueError, match=r"tag must|owner_mention"):
        share_text(mention, tag, None)


@pytest.mark.parametrize(
    ("kind", "prefix"),
    [
        ("mastodon", "https://hachyderm.io/share?text="),
        ("bluesky", "https://bsky.app/intent/compose?text="),
        ("x", "https://x.com/intent/post?text="),
    ],
)
def test_share_url_prefills_the_compose_page(kind: str, prefix: str) -> None:
    """The post opens on the owner's Mastodon instance, or Bluesky's or X's compose page, with
    the text fully percent-encoded in one query parameter."""
    url = entry(kind, **MINIMAL[kind]).share_url(TEXT + "? & = # / +\nnext")
    assert url is not None and url.startswith(prefix)
    encoded = url.removeprefix(prefix)
    assert not set(encoded) & set(" \n?&=#/+@()")
    assert unquote(encoded) == TEXT + "? & = # / +\nnext"


@pytest.mark.parametrize("kind", sorted(set(MINIMAL) - {"mastodon", "bluesky", "x"}))
def test_share_url_is_none_without_a_compose_page(kind: str) -> None:
    """LinkedIn, GitHub, websites and channels have no prefilled-post link."""
    assert entry(kind, **MINIMAL[kind]).share_url(TEXT) is None


def test_share_false_turns_the_link_off() -> None:
    """The owner can keep the profile link but offer no "ask my network" post."""
    assert entry("mastodon", share=False, **MINIMAL["mastodon"]).share_url(TEXT) is None


@given(
    mention=st.text(
        st.characters(blacklist_categories=("Cc", "Cf", "Cs")),
        min_size=1,
        max_size=400,
        # share_text refuses a mention with nothing printable left once unsafe characters go.
    ).filter(lambda m: bool(network._one_line(m))),
    tag=st.from_regex(r"#?[A-Za-z0-9_]{1,50}", fullmatch=True),
    subject=st.none() | st.text(max_size=2000),
)
def test_share_text_and_url_are_always_short_one_line_and_safe(
    mention: str, tag: str, subject: str | None
) -> None:
    """Whatever the mention and subject: the text fits the limit on one line, keeps the
    hashtag, and its share link has no raw whitespace or control character and decodes back
    to the text."""
    text = share_text(mention, tag, subject)
    assert len(text) <= SHARE_TEXT_LIMIT
    assert f"(#{tag.removeprefix('#')})" in text
    assert not any(c in "\r\n\t" or unicodedata.category(c) == "Cc" for c in text)
    url = entry("mastodon", **MINIMAL["mastodon"]).share_url(text)
    assert url is not None
    assert not any(c.isspace() or unicodedata.category(c)[0] == "C" for c in url)
    assert unquote(urlsplit(url).query.removeprefix("text=")) == text


@given(st.text(max_size=200))
def test_safe_url_output_is_always_plain_http(url: str) -> None:
    """Anything safe_url accepts is an http(s) URL with a host and nothing that could break
    out of a link."""
    try:
        result = safe_url(url)
    except ValueError:
        return
    assert urlsplit(result).scheme in ("http", "https")
    assert urlsplit(result).hostname
    assert not any(c.isspace() or c in '<>"`' for c in result)
