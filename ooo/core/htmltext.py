"""HTML to plain text, for mail bodies and social-network posts: :func:`html_to_text`.

What a reader sees, one paragraph per block, and marked so that :mod:`ooo.core.resolve` reads
only what the author wrote now:

- block elements (``p``, ``div``, ``br``, ``li``, ``tr``, ``h1``-``h6``, ``blockquote``,
  ``hr``, ...) become line breaks, table cells are separated by a space;
- ``style``, ``script``, ``head``, ``title`` (and ``template``, ``svg``, ``math``) are dropped,
  entities unescaped, whitespace collapsed on each line, control characters removed;
- quoted history (``<blockquote>``, Gmail's ``gmail_quote``, Yahoo's ``yahoo_quoted``,
  Thunderbird's ``moz-cite-prefix``) has each line prefixed with "> ";
- a signature or a disclaimer block (class or id ``gmail_signature``, ``moz-signature``,
  ``Signature``, ``x_Signature``, ``AppleMailSignature``, ``disclaimer``, ...) is preceded by
  a line "-- ", the signature delimiter;
- Outlook's reply header (``id="divRplyFwdMsg"``, ``id="appendonsend"``, or an ``<hr>`` or a
  top-bordered ``div`` followed by "From:", "Von:", "De :", ...) ends the text: what follows
  is the original message;
- links become their text; Mastodon's ``<span class="invisible">`` parts of a link are
  dropped and its ``ellipsis`` part gets a "…"; mentions (``h-card``) stay as text.

Built on the standard library's :class:`html.parser.HTMLParser`. Total (never raises) and
linear: a first pass, in linear time, keeps only complete tags and drops comments,
declarations and the content of ``script``/``style``/``title``, so that the parser never meets
the malformed constructs that cost it quadratic time; the output stops at ``cap`` characters
and the input is read up to :data:`MAX_HTML` characters.

Pure: no I/O, no globals that change.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser

__all__ = ["MAX_HTML", "html_to_text"]

MAX_HTML = 2_000_000
"""Only the first this many characters of an HTML document are read."""
_MAX_TAG = 4_096
# A longer tag keeps its name only: attribute parsing is not worth more than that.
_CHUNK = 32_768


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_BLOCK = _names(
    "address article aside blockquote body caption center dd details dialog dir div dl dt "
    "fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html li legend "
    "main menu nav ol p pre section summary table tbody tfoot thead tr ul"
)
_PARAGRAPH = _names("p h1 h2 h3 h4 h5 h6 blockquote table ul ol dl pre")
_VOID = _names("area base br col embed hr img input keygen link meta param source track wbr")
_SKIP = _names("style script title template svg math head")
_HEAD_CONTENT = _names("base link meta noscript script style template title")
_CELL = frozenset(("td", "th"))
_QUOTE_CLASSES = frozenset(("gmail_quote", "yahoo_quoted", "moz-cite-prefix"))
_OUTLOOK_HEADER_IDS = ("divrplyfwdmsg", "appendonsend")
_FROM_LINE = re.compile(
    r"\s*\**\s*(?:from|von|de|van|da|od|från|fra|expéditeur|remitente|afzender)\s*\**\s*:",
    re.IGNORECASE,
)
_LT = "\ufdd0"
# A "<" in text travels to the parser as this noncharacter (no entity to decode), and back.
_SPACE = re.compile(r"[ \t\n\r\f\v\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
# Control characters (Unicode category Cc) but newline and tab, and the invisible characters
# that only hide text: dropped. Tab and the other whitespace become spaces.
_DROP = {
    **dict.fromkeys((c for c in range(0x20) if chr(c) not in "\t\n\r\f\v"), None),
    **dict.fromkeys(range(0x7F, 0xA0), None),
    **dict.fromkeys(map(ord, "\u00ad\u200b\u2060\ufeff"), None),
    0x85: " ",
    ord(_LT): "<",
}
_RAW_END = {
    name: re.compile(rf"</{name}[\s/>]", re.IGNORECASE) for name in ("script", "style", "title")
}
_TAG_START = re.compile(r"</?([A-Za-z][A-Za-z0-9:_-]{0,63})")
_TEXT_LT = re.compile(r"(?:<(?![A-Za-z/!?])[^<]*)+")
_QUOTE_PREFIX = re.compile(r"^(?:> ?)*")


class _Stop(Exception):
    """The rest of the document is not new text, or the output is full."""


def html_to_text(html: str, cap: int = 100_000) -> str:
    """The text of an HTML document or fragment, as a reader sees it, at most ``cap`` long.

    Lines of quoted history start with "> ", a signature or disclaimer block is preceded by a
    "-- " line, and Outlook's reply header ends the text (see the module docstring). The result
    has no control characters but newlines, no line starts or ends with a space (but the "-- "
    signature delimiter), and there is never more than one blank line in a row. Never raises.
    """
    try:
        cap = max(int(cap), 0)
        return _convert(str(html)[:MAX_HTML].replace(_LT, ""), cap)
    except Exception:  # a bug here must not lose the message: fall back to stripping tags
        try:
            return _fallback(str(html)[:MAX_HTML], max(int(cap), 0))
        except Exception:
            return ""


def _convert(source: str, cap: int) -> str:
    parser = _TextParser(cap)
    try:
        # Fed in pieces that end with a complete tag, so the parser never holds back a
        # half-read construct, and a full output stops the work early.
        buffer: list[str] = []
        size = 0
        for piece in _sanitize(source):
            buffer.append(piece)
            size += len(piece)
            if size >= _CHUNK and piece.startswith("<"):
                parser.feed("".join(buffer))
                buffer.clear()
                size = 0
        parser.feed("".join(buffer))
        parser.close()
    except _Stop:
        pass
    return _finish(parser.lines(), cap)


def _fallback(source: str, cap: int) -> str:
    text = unescape(re.sub(r"<[^<>]{0,4096}>", " ", source))
    return _finish(text.split("\n"), cap)


def _sanitize(source: str) -> Iterator[str]:
    """The document in pieces, each a complete tag or text (where a "<" that starts no tag is
    escaped), without comments, declarations, processing instructions or script, style and
    title content.

    Linear: each search starts where the previous one ended, and the position of the next ">"
    is found once and reused, so no character is scanned more than a few times.
    """
    n = len(source)
    i = 0
    gt = -1  # the first ">" at or after the current "<"
    unclosed: set[str] = set()  # script/style/title with no end tag anywhere further on
    while i < n:
        lt = source.find("<", i)
        if lt < 0:
            yield source[i:]
            break
        if lt > i:
            yield source[i:lt]
        if source.startswith("<!--", lt):
            end = source.find("-->", lt + 4)
            if end < 0:
                break  # an unclosed comment hides the rest, as in a browser
            i = end + 3
            continue
        text = _TEXT_LT.match(source, lt)
        if text is not None:  # "<3", "a < b", "<<<": a "<" that starts no tag is text
            yield text.group().replace("<", _LT)
            i = text.end()
            continue
        name_match = _TAG_START.match(source, lt)
        if gt < lt:
            gt = source.find(">", lt)
        if gt < 0:
            break  # an unfinished tag at the end is dropped, as in a browser
        inner = source.find("<", lt + 1, gt)
        if inner >= 0:  # "<a <b>": the first "<" starts no tag
            yield _LT + source[lt + 1 : inner]
            i = inner
            continue
        i = gt + 1
        if name_match is None:
            continue  # <!doctype>, <![if mso]>, <?xml?>, </ >: nothing a reader sees
        tag = source[lt:i]
        if tag.count('"') % 2:  # title="a>b": the tag ends after the closing quote
            quote = source.find('"', gt, lt + _MAX_TAG)
            end = source.find(">", quote, lt + _MAX_TAG) if quote >= 0 else -1
            if end >= 0 and source.count('"', lt, end) % 2 == 0:
                i = end + 1
                tag = source[lt:i]
        if len(tag) > _MAX_TAG or tag.count('"') % 2 or ('"' not in tag and tag.count("'") % 2):
            tag = name_match.group(0) + ">"  # keep the element, not its broken attributes
        name = name_match.group(1).lower()
        if tag.startswith("</") or name not in _RAW_END:
            yield tag
            continue
        # script, style, title: their content is not text.
        end_match = None if name in unclosed else _RAW_END[name].search(source, i)
        if end_match is None:
            unclosed.add(name)
            if name != "title":
                break  # an unclosed script or style hides the rest, as in a browser
            continue  # an unclosed title: only the tag is dropped
        close = source.find(">", end_match.end() - 1)
        i = n if close < 0 else close + 1


@dataclass(slots=True)
class _Frame:
    tag: str
    quote: bool = False
    signature: bool = False
    skip: bool = False
    invisible: bool = False
    ellipsis: bool = False
    pre: bool = False


class _TextParser(HTMLParser):
    """Collects the text as lines; every event costs constant time (amortised)."""

    def __init__(self, cap: int) -> None:
        super().__init__(convert_charrefs=True)
        self._cap = cap
        self._lines: list[str] = []
        self._size = 0
        self._line: list[str] = []
        self._line_size = 0
        self._prefix = ""
        self._pending = 0  # before the next text: 0 nothing, 1 a line break, 2 a blank line
        self._stack: list[_Frame] = []
        self._open: dict[str, int] = {}
        self._quote = self._signature = self._skip = self._invisible = self._pre = 0
        self._in_head = False
        self._after_rule = False

    # -- the output ---------------------------------------------------------------------------

    def lines(self) -> list[str]:
        with contextlib.suppress(_Stop):  # the last line filled the output: _finish cuts it
            self._end_line()
        return self._lines

    def _add_line(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line) + 1
        if self._size > self._cap:
            raise _Stop

    def _end_line(self) -> None:
        if self._line:
            line = "".join(self._line).strip(" ")
            self._line = []
            self._line_size = 0
            if line:
                self._add_line(self._prefix + line)

    def _break(self, kind: int) -> None:
        self._pending = max(self._pending, kind)

    def _flush_break(self) -> None:
        if self._pending:
            self._end_line()
            if self._pending == 2 and self._lines and self._lines[-1]:
                self._add_line("")
            self._pending = 0

    def _newline(self) -> None:
        """<br>: ends the line, or makes an empty one."""
        self._flush_break()
        if self._line:
            self._end_line()
        else:
            self._add_line("")

    def _text(self, text: str) -> None:
        if not text:
            return
        if self._pending:
            if not text.strip(" "):
                return  # whitespace between blocks
            self._flush_break()
        if not self._line:
            text = text.lstrip(" ")
            if not text:
                return
            self._prefix = "> " * self._quote
        self._line.append(text)
        self._line_size += len(text)
        if self._size + self._line_size > self._cap:
            self._end_line()
            raise _Stop

    def _signature_line(self) -> None:
        self._break(1)
        self._flush_break()
        self._end_line()
        marker = "> " * self._quote + "-- "
        if not self._lines or self._lines[-1] != marker:
            self._add_line(marker)

    # -- the parser's events ------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self._in_head = True
            return
        if tag in ("body", "html"):
            self._in_head = False
            return
        if self._in_head and tag not in _HEAD_CONTENT:
            self._in_head = False  # body content: the head ended without its end tag
        classes, ident, style = _attributes(attrs) if attrs else _NO_ATTRIBUTES
        if ident and ident.endswith(_OUTLOOK_HEADER_IDS):
            raise _Stop  # Outlook's reply header: the rest is the original message
        if tag in _VOID:
            if tag == "br":
                self._newline()
            elif tag == "hr":
                self._break(1)
                self._after_rule = True
            return
        frame = _Frame(tag)
        if tag == "blockquote" or (classes and not _QUOTE_CLASSES.isdisjoint(classes)):
            frame.quote = True
            self._break(1)
            self._quote += 1
        if (classes or ident) and _is_signature(classes, ident):
            frame.signature = True
            if not self._signature:
                self._signature_line()
            self._signature += 1
        if tag in _SKIP:
            frame.skip = True
            self._skip += 1
        if classes:
            if "invisible" in classes:
                frame.invisible = True
                self._invisible += 1
            frame.ellipsis = "ellipsis" in classes
        if tag == "pre":
            frame.pre = True
            self._pre += 1
        if tag in _BLOCK:
            self._break(2 if tag in _PARAGRAPH else 1)
            if "border-top" in style:
                self._after_rule = True  # Outlook's rule above "From: ... Sent: ..."
        elif tag in _CELL and self._line:
            self._text(" ")
        self._stack.append(frame)
        self._open[tag] = self._open.get(tag, 0) + 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("head", "body", "html"):
            self._in_head = False
            return
        if not self._open.get(tag):
            if tag == "br":
                self._newline()  # </br> is read as <br>
            elif tag == "p":
                self._break(2)
            return
        while self._stack:  # each frame is popped once: linear overall
            frame = self._stack.pop()
            self._open[frame.tag] -= 1
            self._close(frame)
            if frame.tag == tag:
                break

    def _close(self, frame: _Frame) -> None:
        if frame.ellipsis and not self._invisible and not self._skip and not self._in_head:
            self._text("…")
        if frame.quote:
            self._break(1)
            self._quote -= 1
        if frame.signature:
            self._signature -= 1
        if frame.skip:
            self._skip -= 1
        if frame.invisible:
            self._invisible -= 1
        if frame.pre:
            self._pre -= 1
        if frame.tag in _BLOCK:
            self._break(2 if frame.tag in _PARAGRAPH else 1)
        elif frame.tag in _CELL:
            self._text(" ")

    def handle_data(self, data: str) -> None:
        if self._in_head and not data.isspace():
            self._in_head = False  # text: the head ended without its end tag
        if self._skip or self._invisible or self._in_head:
            return
        data = data.translate(_DROP)
        if self._after_rule and data.strip():
            self._after_rule = False
            if _FROM_LINE.match(data):
                raise _Stop  # "From: ... Sent: ..." below a rule: the original message
        if self._pre:
            for k, piece in enumerate(data.replace("\r\n", "\n").split("\n")):
                if k:
                    self._newline()
                self._text(_SPACE.sub(" ", piece))
            return
        self._text(_SPACE.sub(" ", data))


def _is_signature(classes: list[str], ident: str) -> bool:
    return any("signature" in c or "disclaimer" in c for c in (*classes, ident))


_NO_ATTRIBUTES: tuple[list[str], str, str] = ([], "", "")


def _attributes(attrs: list[tuple[str, str | None]]) -> tuple[list[str], str, str]:
    """The class names, the id and the style of an element, lower case."""
    classes: list[str] = []
    ident = style = ""
    for name, value in attrs[:50]:
        if not value:
            continue
        if name == "class":
            classes.extend(value.lower().split()[:20])
        elif name == "id":
            ident = value.lower()[:200]
        elif name == "data-smartmail":  # Gmail's mark on a signature
            classes.append(value.lower()[:200])
        elif name == "style":
            style = value.lower()[:2000]
    return classes, ident, style


def _finish(lines: list[str], cap: int) -> str:
    """Lines without stray spaces or control characters, at most one blank line in a row."""
    out: list[str] = []
    for raw in lines:
        line = " ".join(_SPACE.split(raw.translate(_DROP))).strip()
        if _QUOTE_PREFIX.sub("", line) == "--":
            line += " "  # the signature delimiter keeps its space
            if out and out[-1] == line:
                continue
        elif not line:
            if out and out[-1] and not out[-1].endswith("-- "):
                out.append("")
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    text = "\n".join(out)
    return text if len(text) <= cap else text[:cap].rstrip()
