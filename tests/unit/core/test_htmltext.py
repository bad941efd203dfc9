"""html_to_text: HTML mail and social-network posts as the reader sees them, marked for
ooo.core.resolve (quotes with "> ", signatures after "-- ", Outlook's original cut off).

Tables first (block structure, entities, quotes, signatures, Outlook, Mastodon), then what
resolve makes of the result, then hostile input: deep nesting, unclosed constructs, the
inputs that make the standard library's parser slow or raise, and a property test that the
function never raises and never returns a control character but the newline.
"""

from __future__ import annotations

import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ooo.core import htmltext
from ooo.core.htmltext import MAX_HTML, html_to_text
from ooo.core.resolve import classify, new_text

# ---------------------------------------------------------------------------------------------
# Block structure, entities, dropped elements

STRUCTURE = [
    ("paragraphs", "<p>One</p><p>Two</p>", "One\n\nTwo"),
    ("br", "<div>a<br>b</div><div>c</div>", "a\nb\nc"),
    ("gmail blank line", "<div>a</div><div><br></div><div>b</div>", "a\n\nb"),
    ("list", "<ul><li>x</li><li>y</li></ul>", "x\ny"),
    (
        "table",
        "<table><tr><td>A</td><td>B</td></tr><tr><th>C</th><td>D</td></tr></table>",
        "A B\nC D",
    ),
    ("heading and rule", "<h1>Title</h1>text<hr>after", "Title\n\ntext\nafter"),
    (
        "inline",
        "Hello <b>Bob</b>, <i>see</i> <a href='https://x.example'>the docs</a>.",
        "Hello Bob, see the docs.",
    ),
    ("whitespace", "<p>  lots \n\t of   space\xa0here  </p>", "lots of space here"),
    ("one blank line at most", "<p>a</p>\n\n\n<p></p><p>&nbsp;</p><br><br><p>b</p>", "a\n\nb"),
    ("pre keeps its lines", "<pre>line1\n  line2\n\nline4</pre>", "line1\nline2\n\nline4"),
    ("upper case tags", "<P CLASS=MsoNormal>Upper</P><BR>X", "Upper\n\nX"),
    (
        "head, style, script, title",
        "<html><head><title>Subject</title><style>p{color:red}</style></head><body>"
        "<script>if (a<b) alert(1)</script>Body</body></html>",
        "Body",
    ),
    ("head without end tag", "<head><meta charset=utf-8>Hello <b>there</b>", "Hello there"),
    ("template and svg", "a<template>t</template><svg><text>s</text></svg>b", "ab"),
    ("comments", "x<!-- hidden --> y <!--[if mso]>mso<![endif]-->z", "x y z"),
    ("conditional", "<![if !supportLists]>- <![endif]>item", "- item"),
    ("entities", "AT&amp;T &lt;b&gt; it&#8217;s &#x1F600;", "AT&T <b> it’s 😀"),
    ("broken entities", "&foo; &#xZZ; &amp &#38 &", "&foo; &#xZZ; & & &"),
    ("literal <", "1 < 2 and 3 > 2, <3", "1 < 2 and 3 > 2, <3"),
    ("quoted > in attribute", '<a href="x" title="a>b">link</a> end', "link end"),
]


@pytest.mark.parametrize(("name", "html", "text"), STRUCTURE, ids=[n for n, _, _ in STRUCTURE])
def test_structure(name: str, html: str, text: str) -> None:
    """Blocks become lines (paragraphs a blank line), inline elements run on, whitespace is
    collapsed, entities unescaped, and what a reader never sees is dropped."""
    assert html_to_text(html) == text


# ---------------------------------------------------------------------------------------------
# Quotes, signatures, Outlook's reply header

MARKS = [
    ("blockquote", "new<blockquote>old<br>older</blockquote>", "new\n\n> old\n> older"),
    (
        "nested blockquote",
        "<blockquote>q1<blockquote>q2</blockquote>back</blockquote>after",
        "> q1\n\n> > q2\n\n> back\n\nafter",
    ),
    (
        "gmail quote",
        'new<div class="gmail_quote"><div class="gmail_attr">On Mon, Ann &lt;a@x.org&gt; '
        'wrote:<br></div><blockquote class="gmail_quote">old</blockquote></div>',
        "new\n> On Mon, Ann <a@x.org> wrote:\n\n> > old",
    ),
    (
        "thunderbird quote",
        'new<div class="moz-cite-prefix">On Mon, Ann wrote:<br></div>'
        '<blockquote type="cite">old</blockquote>',
        "new\n> On Mon, Ann wrote:\n\n> old",
    ),
    ("yahoo quote", 'new<div class="yahoo_quoted">old</div>', "new\n> old"),
    (
        "gmail signature",
        '<div>new</div><br><span class="gmail_signature_prefix">-- </span><br>'
        '<div class="gmail_signature" data-smartmail="gmail_signature">Bob<br>ACME</div>',
        "new\n\n-- \nBob\nACME",
    ),
    ("moz-signature", 'text<div class="moz-signature">-- <br>Sig</div>', "text\n-- \nSig"),
    ("Outlook Signature", '<p>text</p><div id="Signature"><p>Sig</p></div>', "text\n\n-- \nSig"),
    ("OWA x_Signature", 'text<div id="x_Signature">Sig</div>', "text\n-- \nSig"),
    (
        "Apple signature",
        'text<div id="AppleMailSignature">Sent from my iPhone</div>',
        "text\n-- \nSent from my iPhone",
    ),
    (
        "disclaimer block",
        'text<div class="disclaimer">Confidential.</div>',
        "text\n-- \nConfidential.",
    ),
    (
        "Outlook divRplyFwdMsg",
        'new<div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Ann<br>'
        "<b>Sent:</b> Monday</div><div>old</div>",
        "new",
    ),
    ("OWA x_divRplyFwdMsg", 'new<div id="x_divRplyFwdMsg">From: Ann</div>old', "new"),
    ("rule then From:", "new<hr><b>From:</b> Ann<br><b>Sent:</b> Monday<br>old", "new"),
    ("rule then Von:", "neu<hr><font><b>Von:</b> Ann</font><br>alt", "neu"),
    (
        "Outlook desktop border-top",
        "new<div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3pt 0 0 0'>"
        "<p class=MsoNormal><b>De&nbsp;:</b> Ann</p></div>old",
        "new",
    ),
    ("rule without header", "above<hr>below", "above\nbelow"),
]


@pytest.mark.parametrize(("name", "html", "text"), MARKS, ids=[n for n, _, _ in MARKS])
def test_quotes_signatures_and_outlook(name: str, html: str, text: str) -> None:
    """Quoted history is prefixed with "> " per level, a signature or disclaimer block comes
    after a "-- " line (once), and Outlook's reply header ends the text."""
    assert html_to_text(html) == text


# ---------------------------------------------------------------------------------------------
# Mastodon post HTML

MASTODON = [
    (
        "mention, link, hashtag",
        '<p><span class="h-card" translate="no"><a href="https://mastodon.social/@bob" '
        'class="u-url mention">@<span>bob</span></a></span> try restarting the gateway, see '
        '<a href="https://docs.example.com/gateway/restart" target="_blank" '
        'rel="nofollow noopener noreferrer"><span class="invisible">https://</span>'
        '<span class="ellipsis">docs.example.com/gateway/resta</span>'
        '<span class="invisible">rt</span></a> <a href="https://mastodon.social/tags/ops" '
        'class="mention hashtag" rel="tag">#<span>ops</span></a></p>',
        "@bob try restarting the gateway, see docs.example.com/gateway/resta… #ops",
    ),
    (
        "short link, paragraphs and br",
        '<p>Fixed in <a href="https://example.org/r/2"><span class="invisible">https://</span>'
        '<span class="">example.org/r/2</span><span class="invisible"></span></a></p>'
        "<p>Second paragraph<br />line two</p>",
        "Fixed in example.org/r/2\n\nSecond paragraph\nline two",
    ),
    (
        "remote mention with domain",
        '<p><span class="h-card"><a href="https://hachyderm.io/@ana" class="u-url mention">'
        "@<span>ana</span></a></span> answered: use the admin role</p>",
        "@ana answered: use the admin role",
    ),
]


@pytest.mark.parametrize(("name", "html", "text"), MASTODON, ids=[n for n, _, _ in MASTODON])
def test_mastodon_post(name: str, html: str, text: str) -> None:
    """A Mastodon post: links become their visible text (the "invisible" parts dropped, an
    "ellipsis" part followed by "…"), mentions and hashtags stay as text."""
    assert html_to_text(html) == text


# ---------------------------------------------------------------------------------------------
# What ooo.core.resolve makes of it


def test_resolve_reads_only_the_new_text_of_html_mail() -> None:
    """Through html_to_text, resolve's own rules drop the quote and the signature block."""
    html = (
        '<div dir="ltr">Never mind, figured it out.<br><br><span class="gmail_signature_prefix">'
        '-- </span><br><div class="gmail_signature">Bob<br>Still need a new job? Call us!</div>'
        '</div><div class="gmail_quote"><div class="gmail_attr">On Mon, Dana &lt;d@x.org&gt; '
        'wrote:<br></div><blockquote class="gmail_quote">This is <b>urgent</b>, I still need '
        "it.</blockquote></div>"
    )
    assert new_text(html_to_text(html)) == "Never mind, figured it out."
    signal = classify(html_to_text(html), role="sender")
    assert signal is not None and (signal.kind, signal.flagged) == ("resolved", False)


def test_outlook_html_original_is_not_read() -> None:
    """The original below Outlook's reply header says "resolved"; only "still" counts."""
    html = (
        '<p class="MsoNormal">I still haven&#8217;t heard back.</p><div id="appendonsend"></div>'
        '<hr><div id="divRplyFwdMsg"><b>From:</b> Carol<br><b>Sent:</b> Monday</div>'
        "<p>Resolved: refund sent.</p>"
    )
    signal = classify(html_to_text(html), role="sender")
    assert signal is not None and signal.kind == "open"


# ---------------------------------------------------------------------------------------------
# Limits and hostile input


def test_output_is_capped() -> None:
    """The output never exceeds ``cap`` characters, whatever the input."""
    assert len(html_to_text("<p>word word</p>" * 50_000, cap=1_000)) <= 1_000
    assert len(html_to_text("x" * 500_000)) <= 100_000
    assert html_to_text("<p>abc</p>", cap=0) == ""


def test_input_beyond_the_limit_is_not_read() -> None:
    """Only the first MAX_HTML characters are read."""
    assert html_to_text("<!--" + "x" * MAX_HTML + "-->visible") == ""


HOSTILE = {
    "1 MB nested, closed": "<div>" * 90_000 + "deep" + "</div>" * 90_000,
    "nested blockquotes": "<blockquote>" * 80_000 + "deep",
    "nested spans, one end": "<span>" * 150_000 + "x" + "</span>",
    "stray end tags": "</div></p></blockquote></span>" * 30_000,
    "unclosed tags": "<p>unclosed <b>bold <i>italic <table><tr><td>cell" * 20_000,
    "lone <": "<" * 1_000_000,
    "< and letters": "<a" * 500_000,
    "unclosed comments": "<!--" * 250_000,
    "marked sections": "<![" * 330_000,
    "declarations": "<!" * 500_000,
    "processing instructions": "<?" * 500_000,
    "end tag openers": "</" * 500_000,
    "ampersands": "&" * 1_000_000,
    "broken charrefs": "&#" * 500_000 + "&#x" * 100_000,
    "unclosed attribute": '<a href="' + "x" * 1_000_000,
    "odd quotes": '<a b="c>' * 120_000,
    "unclosed script": "<script>" + "x<" * 500_000,
    "unclosed titles": "<title>" * 140_000,
    "long tag": "<div " + 'a="b" ' * 160_000 + ">x",
    "long tag name": "<" + "a" * 1_000_000 + ">x",
    "signatures": '<div class="signature">' * 40_000 + "sig",
    "controls": "".join(map(chr, range(32))) * 30_000,
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("html", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_finishes(html: str) -> None:
    """Hostile HTML (a megabyte of nesting, unclosed constructs, the inputs that make the
    standard parser quadratic or raise) finishes, and the result is clean text."""
    started = time.monotonic()
    text = html_to_text(html)
    assert time.monotonic() - started < 60
    assert len(text) <= 100_000
    assert all(c == "\n" or unicodedata.category(c) != "Cc" for c in text)


@pytest.mark.timeout(120)
def test_deep_nesting_keeps_the_text() -> None:
    """A megabyte of nested divs finishes and still yields the text at the bottom."""
    started = time.monotonic()
    assert html_to_text("<div>" * 200_000 + "deep") == "deep"
    assert time.monotonic() - started < 60
    assert html_to_text("<blockquote>" * 3 + "deep") == "> > > deep"


def test_unclosed_script_and_comment_hide_the_rest_as_in_a_browser() -> None:
    """An unclosed script, style or comment hides the rest; an unclosed title hides nothing."""
    assert html_to_text("x<script>never") == "x"
    assert html_to_text("x<style>never") == "x"
    assert html_to_text("x<!-- never") == "x"
    assert html_to_text("x<title>kept") == "xkept"


def test_a_bug_falls_back_to_stripping_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the converter itself fail, the text is still returned, tags stripped."""

    def broken(source: str, cap: int) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(htmltext, "_convert", broken)
    assert html_to_text("<p>Never mind,</p><p>figured it &amp; out</p>") == (
        "Never mind, figured it & out"
    )


def test_linear_time() -> None:
    """Four times the input takes about four times as long, not sixteen (generous bounds: the
    machine may be busy)."""

    def duration(units: int) -> float:
        html = '<p class="x">a <b>b</b> &amp; c<br>' * units
        started = time.perf_counter()
        html_to_text(html, cap=10_000_000)
        return time.perf_counter() - started

    duration(500)  # warm up
    small = min(duration(2_000) for _ in range(3))
    large = min(duration(8_000) for _ in range(3))
    assert large < small * 10 + 0.5


HTML_PIECES = [
    "<p>",
    "</p>",
    "<div>",
    "</div>",
    "<br>",
    "<hr>",
    "<blockquote>",
    "</blockquote>",
    '<div class="gmail_quote">',
    '<div class="gmail_signature">',
    '<div id="divRplyFwdMsg">',
    '<span class="invisible">',
    '<span class="ellipsis">',
    "</span>",
    "<pre>",
    "</pre>",
    "<script>",
    "</script>",
    "<style>",
    "<title>",
    "<head>",
    "<!--",
    "-->",
    "<![",
    "<!",
    "<?",
    "</",
    "<",
    ">",
    '"',
    "'",
    "&",
    "&#",
    "&#x",
    "&amp;",
    "&nbsp;",
    "&#0;",
    "&#x85;",
    "&#13;",
    "From:",
    "-- ",
    "\x00",
    "\x85",
    "\r",
    "\u2028",
    "\ufdd0",
    '<a href="x" title="a>b">',
]


@st.composite
def html_documents(draw: st.DrawFn) -> str:
    pieces = draw(
        st.lists(st.one_of(st.sampled_from(HTML_PIECES), st.text(max_size=30)), max_size=40)
    )
    return "".join(pieces) * draw(st.integers(min_value=1, max_value=50))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html=st.one_of(st.text(), html_documents()), cap=st.integers(min_value=0, max_value=5_000))
def test_never_raises_and_never_returns_control_characters(html: str, cap: int) -> None:
    """For any input: no exception, no control character but "\\n", at most ``cap`` long, no
    line with leading or trailing space (but the "-- " delimiter), no two blank lines in a row."""
    text = html_to_text(html, cap=cap)
    assert isinstance(text, str) and len(text) <= cap
    assert all(c == "\n" or unicodedata.category(c) != "Cc" for c in text)
    assert "\n\n\n" not in text
    for line in text.split("\n"):
        if line.endswith("-- "):
            continue
        assert line == line.strip()
