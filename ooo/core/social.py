"""What a post on the owner's network says about an inquiry: the pure part of watching the
networks (the watchers themselves live in ``ooo.networks``).

A watcher hands over :class:`Post` records (built with :func:`make_post`, which cleans
everything a network controls). :func:`match_posts` decides, for a batch of posts in the order
they were written:

- **which inquiry a post belongs to**: a reply in a thread whose root (or parent) already
  belongs to an inquiry (``Known.thread_of``), else the inquiry's tag (``#OOO7K3Q9M``) or
  reference (``OOO-7K3Q9M``) in the post's text or tags. Only the first
  :data:`REFS_CONSIDERED` references of a post are read, as for email, and only references of
  known inquiries count;
- **who the asker is on that network**: the author of the first post carrying the tag (role
  ``question``; the question itself is no signal). When ooo asked itself (a Matrix room
  notice) there is no asker: everyone who answers is a helper;
- **what the post says**: the asker's later posts are classified like the sender's email
  follow-ups (:func:`ooo.core.resolve.classify` with ``role="sender"``: "thanks, that solved it"
  resolves, "still stuck" keeps it open); when the asker says it is solved without naming
  anyone and someone answered in the thread, the network gets the credit. Anyone else's reply
  is an answer from the network (``role="third_party"``: holding replies, "me too" and
  questions back do not count), with the helper's handle. The owner's own posts are recorded
  (replies to them stay in the thread) and never a signal.

The result is a :class:`NetworkSignal` with its evidence (network, helper, the post's web
link, the time and the sentence) for the store. :func:`room_notice` writes the short notice
ooo posts to an internal room when the owner opted in (``ask``): the asker by name, the subject
only when shared, the reference, "answer in this thread", and no email address anywhere unless
``share_sender`` (then one mailto link that answers the asker with the reference in the
subject).

Pure: no I/O, no clock; what the store knows comes in through the :class:`Known` protocol.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol
from urllib.parse import quote

from ooo.core.network import Audience, NetworkEntry, safe_url, visible_entries
from ooo.core.refs import find_refs
from ooo.core.resolve import classify
from ooo.core.text import one_line
from ooo.core.wording import ENGLISH, Language

REFS_CONSIDERED = 3
"""References read from one post: enough for a real thread, too few for a guessing attack."""
MAX_TEXT = 20_000
"""Characters of a post's text kept (posts are short; a hostile one is cut)."""
MAX_ID = 512
MAX_NAME = 200

NETWORK_NAMES = {"mastodon": "Mastodon", "bluesky": "Bluesky", "matrix": "Matrix"}
"""How a network is named in a sentence ("answered on Mastodon")."""

Role = Literal["question", "asker", "helper", "owner"]


@dataclass(frozen=True)
class Post:
    """One post (a status, a skeet, a room message) as a watcher hands it over: cleaned, with
    every string safe to log (build it with :func:`make_post`)."""

    network: str
    """The kind of network: "mastodon", "bluesky", "matrix"."""
    id: str
    """The service's id: a Mastodon status id (a string, never an int), an at:// URI, a Matrix
    event id."""
    link: str
    """The post's web link (Mastodon ``url``, else ``uri``; bsky.app; matrix.to), or "" when
    the service gave nothing safe to link to."""
    author: str
    """The author's handle: ``@ana@hachyderm.io``, ``@ana.bsky.social``, ``@ana:example.org``."""
    author_name: str
    """The author's display name (may be empty)."""
    created_at: datetime
    """When it was written (timezone-aware)."""
    text: str
    """Plain text (HTML already reduced by ooo.core.htmltext); line breaks kept."""
    tags: tuple[str, ...] = ()
    """Hashtags, lower case, without "#"."""
    reply_to: str | None = None
    """The id of the post this one answers (a quote counts as a reply to what it quotes)."""
    root: str | None = None
    """The id of its thread's first post, when the service says (None: unknown, or a root)."""
    mentions: tuple[str, ...] = ()
    """Who it mentions (handles or account ids)."""


def make_post(
    *,
    network: str,
    id: str,
    link: str | None,
    author: str,
    author_name: str | None,
    created_at: datetime | None,
    text: str,
    tags: Iterable[str] = (),
    reply_to: str | None = None,
    root: str | None = None,
    mentions: Iterable[str] = (),
    fallback_time: datetime | None = None,
) -> Post:
    """A :class:`Post` from what a network returned, cleaned: ids, handles and names on one
    line and capped, the text without control characters (line breaks kept) and cut at
    :data:`MAX_TEXT`, tags lower-cased without "#", the link kept only when it is a plain
    http(s) URL (else ""), and the time made timezone-aware (a naive time is UTC; a missing one
    is ``fallback_time``, else the epoch)."""
    when = created_at or fallback_time or datetime.fromtimestamp(0, UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return Post(
        network=_line(network, 40),
        id=_line(id, MAX_ID),
        link=_safe_link(link),
        author=_line(author, MAX_NAME),
        author_name=_line(author_name or "", MAX_NAME),
        created_at=when,
        text=_clean_text(str(text)),
        tags=tuple(
            dict.fromkeys(t for t in (_line(x, 100).lstrip("#").lower() for x in tags) if t)
        )[:50],
        reply_to=_id_or_none(reply_to),
        root=_id_or_none(root),
        mentions=tuple(dict.fromkeys(_line(m, MAX_NAME) for m in mentions))[:50],
    )


_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def _line(value: object, cap: int) -> str:
    """One clean line: no control characters, no bidi overrides (which make a name read
    differently from what it is), at most ``cap`` characters."""
    return one_line(_BIDI.sub("", str(value)), cap)


def _id_or_none(value: str | None) -> str | None:
    return (_line(value, MAX_ID) or None) if value else None


def _safe_link(link: str | None) -> str:
    if not link:
        return ""
    try:
        return safe_url(str(link)[:2000])
    except ValueError:
        return ""


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _clean_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text[: MAX_TEXT * 2])
    text = re.sub(r"\r\n?|[\u2028\u2029\x85]", "\n", text)
    return _CONTROL.sub("", text)[:MAX_TEXT]


@dataclass(frozen=True)
class Thread:
    """A followed thread: its root post's id and the inquiry it belongs to."""

    root: str
    ref: str


@dataclass(frozen=True)
class Asking:
    """What is known of one inquiry on one network."""

    asker: str | None
    """The handle of the author of the first post carrying the tag; None when ooo asked itself
    (a room notice): then everyone who answers is a helper."""
    helpers: tuple[str, ...] = ()
    """Who answered so far, oldest first."""


class Known(Protocol):
    """What the store knows, for one watcher (``ooo.networks.runner`` implements it)."""

    def thread_of(self, post_id: str) -> Thread | None:
        """The thread a post id belongs to: a followed root, or a post matched before."""

    def asking(self, ref: str) -> Asking | None:
        """The inquiry's state on this network, or None when nothing was seen yet."""

    def is_inquiry(self, ref: str) -> bool:
        """Whether ``ref`` (``OOO-XXXXXX``) is a known inquiry."""


@dataclass(frozen=True)
class NetworkSignal:
    """A resolution signal from a post, with its evidence: for ``Store.add_network_signal``."""

    ref: str
    at: datetime
    """When the post was written."""
    kind: Literal["resolved", "open"]
    by: Literal["sender", "delegate", "network"] | None
    rule: str
    """network_answered (a helper answered), sender_says_resolved or sender_still_open (the
    asker's own post)."""
    evidence: str
    """The sentence, one line, at most 300 characters."""
    network: str
    """The kind of network ("mastodon")."""
    author: str
    """Who wrote the post (handle)."""
    helper: str | None
    """Who helped (a handle), when known."""
    link: str
    """The post's web link ("" when the service gave none)."""
    flagged: bool = False


@dataclass(frozen=True)
class Match:
    """One post that belongs to an inquiry."""

    post: Post
    ref: str
    root: str
    """The root of the thread the post is in (the post itself for a new thread)."""
    role: Role
    """question (the first post with the tag), asker (the asker's later posts), helper
    (anyone else), owner (the owner's own account: recorded, never a signal)."""
    new_thread: bool
    """The post starts a thread to follow (its id is ``root``)."""
    asker: str | None
    """The asker on this network, as known after this post."""
    signal: NetworkSignal | None = None


@dataclass
class _Overlay:
    """What earlier posts of the same batch taught: consulted before the store."""

    known: Known
    threads: dict[str, Thread] = field(default_factory=dict)
    asking: dict[str, Asking] = field(default_factory=dict)

    def thread_of(self, post_id: str) -> Thread | None:
        return self.threads.get(post_id) or self.known.thread_of(post_id)

    def asking_of(self, ref: str) -> Asking | None:
        return self.asking[ref] if ref in self.asking else self.known.asking(ref)


def match_posts(
    posts: Iterable[Post],
    known: Known,
    *,
    own: Collection[str] = (),
    since: datetime | None = None,
    delegate_names: Sequence[str] = (),
) -> list[Match]:
    """The posts that belong to an inquiry, oldest first, each with what it says.

    ``own`` are the owner's handles on this network (and ooo's account in a room): their posts
    are recorded but never signals nor questions. Posts written before ``since`` (the away
    window's start) are ignored; a post id appearing twice is read once. Never raises for any
    post content (a failing rule gives no signal).
    """
    mine = {_norm(h) for h in own}
    overlay = _Overlay(known)
    seen: set[str] = set()
    matches: list[Match] = []
    for post in sorted(posts, key=lambda p: p.created_at):
        if post.id in seen or (since is not None and post.created_at < since):
            continue
        seen.add(post.id)
        match = _match(post, overlay, mine, delegate_names)
        if match is None:
            continue
        matches.append(match)
        overlay.threads[post.id] = Thread(match.root, match.ref)
        if match.new_thread:
            overlay.threads[match.root] = Thread(match.root, match.ref)
        before = overlay.asking_of(match.ref)
        helpers = before.helpers if before else ()
        if match.role == "helper" and post.author not in helpers:
            helpers = (*helpers, post.author)
        overlay.asking[match.ref] = Asking(match.asker, helpers)
    return matches


def thread_roots(matches: Iterable[Match]) -> list[str]:
    """The roots of the threads these matches start, in order (for the watcher to read)."""
    return list(dict.fromkeys(m.root for m in matches if m.new_thread))


def _match(
    post: Post, overlay: _Overlay, mine: set[str], delegate_names: Sequence[str]
) -> Match | None:
    thread = None
    for parent in (post.root, post.reply_to):
        if parent and parent != post.id:
            thread = overlay.thread_of(parent)
            if thread is not None:
                break
    own = _norm(post.author) in mine
    if thread is None:
        ref = _first_known_ref(post, overlay.known)
        if ref is None or own:
            return None
        root, new_thread = post.root or post.id, True
    else:
        ref, root, new_thread = thread.ref, thread.root, False
    asking = overlay.asking_of(ref)
    asker = asking.asker if asking else None
    if own:
        return Match(post, ref, root, "owner", False, asker)
    if asking is None:
        return Match(post, ref, root, "question", True, post.author)
    if asker is not None and _norm(post.author) == _norm(asker):
        signal = _asker_says(post, ref, asking, delegate_names)
        return Match(post, ref, root, "asker", new_thread, asker, signal)
    signal = _helper_says(post, ref)
    return Match(post, ref, root, "helper", new_thread, asker, signal)


def _first_known_ref(post: Post, known: Known) -> str | None:
    text = post.text[:MAX_TEXT] + "\n" + " ".join(f"#{t}" for t in post.tags)
    for ref in find_refs(text)[:REFS_CONSIDERED]:
        if known.is_inquiry(ref):
            return ref
    return None


_LEADING_MENTIONS = re.compile(r"^(?:\s*@[\w.@:+-]+[,:]?)+(?=\s|$)\s*")


def what_it_says(text: str) -> str:
    """The text to classify: without the mentions a reply starts with ("@bob@hachyderm.io
    @ana thanks" is "thanks"), which would otherwise read as naming a helper."""
    return _LEADING_MENTIONS.sub("", text[:MAX_TEXT], count=1)


def _asker_says(
    post: Post, ref: str, asking: Asking, delegate_names: Sequence[str]
) -> NetworkSignal | None:
    said = classify(
        what_it_says(post.text),
        role="sender",
        delegate_names=delegate_names,
        network_names=asking.helpers,
    )
    if said is None:
        return None
    by, helper = said.by, said.helper
    if said.kind == "resolved":
        if by == "sender" and helper is None and asking.helpers:
            # "Thanks, that solved it" after an answer in the thread: the network helped.
            by, helper = "network", asking.helpers[-1]
        elif by == "network" and helper:
            helper = _expand(helper, asking.helpers)
    return NetworkSignal(
        ref=ref,
        at=post.created_at,
        kind=said.kind,
        by=by,
        rule=said.rule,
        evidence=one_line(said.evidence, 300),
        network=post.network,
        author=post.author,
        helper=helper,
        link=post.link,
        flagged=said.flagged,
    )


def _helper_says(post: Post, ref: str) -> NetworkSignal | None:
    said = classify(what_it_says(post.text), role="third_party")
    if said is None or said.kind != "resolved":
        return None
    return NetworkSignal(
        ref=ref,
        at=post.created_at,
        kind="resolved",
        by="network",
        rule="network_answered",
        evidence=one_line(said.evidence, 300),
        network=post.network,
        author=post.author,
        helper=post.author,
        link=post.link,
    )


def _expand(named: str, helpers: Sequence[str]) -> str:
    """The helper "@ana", as the asker wrote it, is "@ana@hachyderm.io" when exactly one
    helper in the thread has that name."""
    short = named.lower()
    found = [
        h
        for h in helpers
        if h.lower() == short or any(h.lower().startswith(short + sep) for sep in "@.:")
    ]
    return found[0] if len(set(found)) == 1 else named


def _norm(handle: str) -> str:
    return handle.strip().lower().lstrip("@")


def watched_entries(
    entries: Sequence[NetworkEntry],
    *,
    internal_sender: bool,
    audience: Audience | None = None,
) -> list[tuple[NetworkEntry, bool]]:
    """The watched entries a sender may see (``ooo preview``: "answers will be looked for
    there"), each with whether ooo will also ask there for them (a room notice: the sender's
    audience is in the entry's ``ask``)."""
    sender: Audience = audience or ("internal" if internal_sender else "external")
    return [
        (e, sender in e.ask)
        for e in visible_entries(entries, internal_sender=internal_sender, audience=audience)
        if e.watch
    ]


def tag_for(ref: str) -> str:
    """The hashtag of an inquiry, without "#": ``OOO-7K3Q9M`` -> ``OOO7K3Q9M`` (as the "ask
    there" link writes it)."""
    return ref.replace("-", "")


# ---------------------------------------------------------------------------------------------
# The room notice


@dataclass(frozen=True)
class Notice:
    """The short message ooo posts to an internal room, as plain text and as HTML."""

    text: str
    html: str


_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:@]*@[^\s<>()\[\]\"',;]+")
# Loose on purpose: anything with an "@" between word characters is taken out of a notice.


_BRACKETED = re.compile(r"<[^<>]*@[^<>]*>|\([^()]*@[^()]*\)")


def _no_address(text: str) -> str:
    return " ".join(_ADDRESS.sub(" ", _BRACKETED.sub(" ", _line(text, 1000))).split())


def room_notice(
    *,
    ref: str,
    asker_name: str,
    owner_name: str,
    subject: str | None = None,
    sender: str | None = None,
    lang: Language = ENGLISH,
) -> Notice:
    """The notice for one inquiry, in ``lang`` (English by default; the room is the owner's
    colleagues', so the shell passes the report's language): who asks (their display name;
    never an address: anything that looks like one is taken out, and "Someone" stands in for
    a name that was only an address), the subject only when given (``share_subject``), the
    reference and its tag, and "answer in this thread". ``sender`` (only with
    ``share_sender``) adds one mailto link that answers the asker with the reference in the
    subject."""
    _ = lang.gettext
    who = _no_address(asker_name)[:MAX_NAME] or _("Someone")
    owner = _no_address(owner_name)[:MAX_NAME] or _("the owner")
    about = _no_address(subject or "")[:200]
    tag = "#" + tag_for(ref)
    words = {"who": who, "owner": owner, "about": about}
    if about:
        asked = _(
            "%(who)s asked %(owner)s, who is away, a question by email: \u201c%(about)s\u201d."
        )
    else:
        asked = _("%(who)s asked %(owner)s, who is away, a question by email.")
    reference = _("Reference %(ref)s (%(tag)s).")
    help_ = _("Can you help? Please answer in this thread.")
    text = f"{asked % words} {reference % {'ref': ref, 'tag': tag}} {help_}"
    code = {"ref": f"<code>{html.escape(ref)}</code>", "tag": html.escape(tag)}
    body = f"{html.escape(asked % words)} {html.escape(reference) % code} {html.escape(help_)}"
    if sender:
        link = mailto(sender, ref, about or None, lang)
        if link:
            text += " " + _("Or answer them by email: %(link)s") % {"link": link}
            body += " " + _('Or <a href="%(link)s">answer them by email</a>.') % {
                "link": html.escape(link)
            }
    return Notice(text=text, html=body)


_MAILBOX = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}")


def mailto(address: str, ref: str, subject: str | None, lang: Language = ENGLISH) -> str | None:
    """``mailto:`` the asker, with "Re: <subject> [<ref>]" as the subject ("your question"
    in ``lang`` when there is none), or None when ``address`` is not a plain address."""
    if not _MAILBOX.fullmatch(address):
        return None
    if not subject:
        subject = lang.gettext("your question")
    line = f"Re: {subject} [{ref}]"
    return f"mailto:{quote(address, safe='@')}?subject={quote(one_line(line), safe='')}"
