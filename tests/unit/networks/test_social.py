"""What a post says about an inquiry (ooo.core.social): which inquiry it belongs to, who asked
on the network, and whether it resolves the inquiry or keeps it open; and the room notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ooo.core.social import (
    REFS_CONSIDERED,
    Asking,
    Match,
    Post,
    Thread,
    mailto,
    make_post,
    match_posts,
    room_notice,
    tag_for,
    what_it_says,
)

REF = "OOO-7K3Q9M"
OTHER = "OOO-4F6G7H"
T0 = datetime(2026, 12, 22, 10, 0, tzinfo=UTC)
OWNER = "@bob@hachyderm.io"
ASKER = "@alice@example.social"
HELPER = "@ana@hachyderm.io"


class FakeKnown:
    """What a store would know: followed threads, the asker per inquiry, known inquiries."""

    def __init__(self, refs: tuple[str, ...] = (REF, OTHER)) -> None:
        self.refs = set(refs)
        self.threads: dict[str, Thread] = {}
        self.askings: dict[str, Asking] = {}

    def thread_of(self, post_id: str) -> Thread | None:
        return self.threads.get(post_id)

    def asking(self, ref: str) -> Asking | None:
        return self.askings.get(ref)

    def is_inquiry(self, ref: str) -> bool:
        return ref in self.refs


_serial = iter(range(1, 10**6))


def post(
    author: str,
    text: str,
    *,
    minutes: float = 0,
    reply_to: str | None = None,
    root: str | None = None,
    tags: tuple[str, ...] = (),
    network: str = "mastodon",
) -> Post:
    n = next(_serial)
    return make_post(
        network=network,
        id=f"10{n}",
        link=f"https://hachyderm.io/@x/10{n}",
        author=author,
        author_name=author.split("@")[1].title(),
        created_at=T0 + timedelta(minutes=minutes),
        text=text,
        tags=tags,
        reply_to=reply_to,
        root=root,
    )


def question(minutes: float = 0) -> Post:
    return post(
        ASKER,
        f"@bob@hachyderm.io Question for my network while @bob is away (#{tag_for(REF)}): "
        "the deploy fails",
        minutes=minutes,
        tags=(tag_for(REF).lower(),),
    )


def run(posts: list[Post], known: FakeKnown | None = None, **kwargs: object) -> list[Match]:
    return match_posts(posts, known or FakeKnown(), own=(OWNER,), **kwargs)  # type: ignore[arg-type]


def test_the_first_post_with_the_tag_is_the_question_and_its_author_the_asker() -> None:
    """The post carrying an inquiry's tag starts a followed thread; its author is the asker on
    that network; the question itself is no signal."""
    q = question()
    [m] = run([q])
    assert (m.ref, m.root, m.role, m.new_thread, m.asker) == (REF, q.id, "question", True, ASKER)
    assert m.signal is None


def test_a_reply_in_the_thread_from_someone_else_is_an_answer_from_the_network() -> None:
    """Anyone but the asker answering in the thread resolves it "by network", with the
    helper's handle, the post's link, its time and the sentence as evidence."""
    q = question()
    answer = post(HELPER, "@alice Restart the runner with --clean, that fixes it.", minutes=90,
                  reply_to=q.id, root=q.id)  # fmt: skip
    _, m = run([q, answer])
    assert m.role == "helper" and m.root == q.id
    s = m.signal
    assert s is not None
    assert (s.kind, s.by, s.rule, s.helper, s.author) == (
        "resolved", "network", "network_answered", HELPER, HELPER,
    )  # fmt: skip
    assert s.link == answer.link and s.at == T0 + timedelta(minutes=90)
    assert s.network == "mastodon" and s.ref == REF
    assert s.evidence == "Restart the runner with --clean, that fixes it."


def test_the_asker_saying_thanks_after_an_answer_credits_the_helper() -> None:
    """ "Thanks, that solved it" from the asker, after someone answered, is resolved by the
    network, and the helper is the one who answered."""
    q = question()
    answer = post(HELPER, "Set CI=1 in the job.", minutes=5, reply_to=q.id, root=q.id)
    thanks = post(ASKER, "@ana thanks, that solved it!", minutes=9, reply_to=answer.id)
    *_, m = run([thanks, answer, q])  # any order in: matched oldest first
    assert m.role == "asker"
    assert m.signal is not None
    assert (m.signal.kind, m.signal.by, m.signal.rule) == (
        "resolved", "network", "sender_says_resolved",
    )  # fmt: skip
    assert m.signal.helper == HELPER  # "@ana" as written, expanded to the one helper


def test_the_asker_saying_still_stuck_keeps_it_open() -> None:
    """ "Still stuck" from the asker is an open signal (not flagged: nothing urgent)."""
    q = question()
    answer = post(HELPER, "Try turning it off and on.", minutes=5, reply_to=q.id, root=q.id)
    stuck = post(ASKER, "@ana still stuck, same error", minutes=30, reply_to=answer.id, root=q.id)
    m = run([q, answer, stuck])[-1]
    assert m.signal is not None
    assert (m.signal.kind, m.signal.rule, m.signal.flagged) == ("open", "sender_still_open", False)


def test_the_asker_who_fixed_it_alone_resolved_it_themselves() -> None:
    """With nobody answering in the thread, "figured it out" is resolved by the sender."""
    q = question()
    done = post(ASKER, "Never mind, I figured it out myself.", minutes=20, reply_to=q.id)
    m = run([q, done])[-1]
    assert m.signal is not None and (m.signal.kind, m.signal.by) == ("resolved", "sender")


@pytest.mark.parametrize(
    "text",
    ["I'll look into it later", "me too!", "Which version are you on?", "Hi Alice,", "+1"],
)
def test_holding_replies_and_questions_back_are_no_answer(text: str) -> None:
    """A third party who only says they will look, agrees, greets or asks back has answered
    nothing: the post is in the thread (recorded) but gives no signal."""
    q = question()
    m = run([q, post(HELPER, text, minutes=3, reply_to=q.id, root=q.id)])[-1]
    assert m.role == "helper" and m.signal is None


def test_the_owners_own_posts_are_recorded_and_never_a_signal() -> None:
    """The owner's reply in the thread is kept (replies to it stay in the thread) and says
    nothing; a reply to it is matched through it."""
    q = question()
    mine = post(OWNER, "Restart it, that fixes it.", minutes=2, reply_to=q.id)
    under = post(HELPER, "Or clear the cache, that works too.", minutes=4, reply_to=mine.id)
    _, own, helper = run([q, mine, under])
    assert own.role == "owner" and own.signal is None
    assert helper.role == "helper" and helper.root == q.id and helper.signal is not None


def test_the_owner_posting_the_tag_starts_nothing() -> None:
    """Only someone else's post can be the question."""
    assert run([post(OWNER, f"Reminder #{tag_for(REF)}")]) == []


def test_posts_without_a_known_inquiry_are_ignored() -> None:
    """A mention without a tag, a tag of an unknown inquiry, or a reply outside any followed
    thread belongs to no inquiry."""
    assert run([post(ASKER, "@bob hello there")]) == []
    assert run([post(ASKER, "#OOO9Z9Z9Z what about this?")]) == []
    assert run([post(HELPER, "Restart it.", reply_to="999", root="998")]) == []


def test_a_reference_in_the_text_works_like_the_tag() -> None:
    """ "OOO-7K3Q9M" typed in the text (or "ooo 7k3q9m") links the post like the hashtag."""
    [m] = run([post(ASKER, "Any idea? ooo 7k3q9m")])
    assert m.ref == REF and m.role == "question"


def test_only_the_first_few_references_of_a_post_count() -> None:
    """A post listing many references reaches only the first three, as an email does."""
    guesses = " ".join(f"OOO-{n:06d}" for n in range(REFS_CONSIDERED))
    assert run([post(ASKER, f"{guesses} #{tag_for(REF)}")]) == []
    assert run([post(ASKER, f"{guesses[:20]} #{tag_for(REF)}")])[0].ref == REF


def test_a_known_thread_wins_over_another_reference_in_the_reply() -> None:
    """A reply in the thread of one inquiry that mentions another reference still belongs to
    the thread it is in."""
    q = question()
    m = run([q, post(HELPER, f"Same as {OTHER}: restart it.", minutes=1, reply_to=q.id)])[-1]
    assert m.ref == REF


def test_threads_and_askers_known_from_earlier_polls_are_used() -> None:
    """A reply whose root the store follows belongs to that inquiry; the asker recorded then
    is still the asker (their post is classified as the sender's)."""
    known = FakeKnown()
    known.threads["500"] = Thread("500", REF)
    known.askings[REF] = Asking(ASKER, (HELPER,))
    [m] = run([post(ASKER, "Thank you, it works now!", reply_to="501", root="500")], known)
    assert m.role == "asker" and m.signal is not None
    assert (m.signal.by, m.signal.helper) == ("network", HELPER)


def test_in_a_room_notice_thread_everyone_is_a_helper() -> None:
    """When ooo asked (a room notice) there is no asker: a teammate's answer resolves it."""
    known = FakeKnown()
    known.threads["$notice"] = Thread("$notice", REF)
    known.askings[REF] = Asking(None)
    answer = post("@carol:example.org", "You need the admin role for that.", root="$notice",
                  reply_to="$notice", network="matrix")  # fmt: skip
    [m] = run([answer], known)
    assert m.signal is not None and m.signal.helper == "@carol:example.org"
    assert m.signal.network == "matrix"


def test_another_tagged_post_by_someone_else_is_an_answer_and_a_new_thread() -> None:
    """After the question, a separate post with the tag by someone else (a quote, a new
    post) answers it, and its replies are followed too."""
    q = question()
    other = post(HELPER, f"#{tag_for(REF)} you need to restart the runner.", minutes=4)
    _, m = run([q, other])
    assert m.role == "helper" and m.new_thread and m.root == other.id
    assert m.signal is not None and m.asker == ASKER


def test_posts_before_the_window_and_repeats_are_ignored() -> None:
    """Posts older than ``since`` never count; a post read twice counts once."""
    q = question()
    answer = post(HELPER, "Restart it, that fixes it.", minutes=5, reply_to=q.id, root=q.id)
    assert len(run([q, answer, answer, q])) == 2
    assert run([q], since=T0 + timedelta(minutes=1)) == []


SENDER_RESOLVED = [
    "thanks, that solved it", "Danke, erledigt!", "merci, c'est réglé",
    "gracias, ya está resuelto", "bedankt, opgelost", "grazie, risolto", "obrigado, resolvido",
    "tack, löst", "tak, løst", "dzięki, rozwiązane", "díky, vyřešeno",
]  # fmt: skip
SENDER_OPEN = [
    "still not resolved", "noch offen", "toujours pas résolu", "todavía no está resuelto",
    "nog steeds niet opgelost", "ancora bloccato, non risolto", "ainda não está resolvido",
    "fortfarande inte löst", "stadig ikke løst", "nadal nie rozwiązane", "stále nevyřešeno",
]  # fmt: skip
ANSWERS = [
    "Restart the runner with --clean.", "Setz die Variable CI=1, dann geht es.",
    "Il faut redémarrer le service.", "Tienes que reiniciar el servidor.",
    "Je moet de cache legen.", "Prova a riavviare il server.", "Tente reiniciar o servidor.",
    "Starta om servern.", "Genstart serveren.", "Uruchom ponownie serwer.",
    "Restartujte server.",
]  # fmt: skip


@pytest.mark.parametrize(("said", "kind"), [(s, "resolved") for s in SENDER_RESOLVED]
                         + [(s, "open") for s in SENDER_OPEN])  # fmt: skip
def test_the_askers_words_in_every_shipped_language(said: str, kind: str) -> None:
    """The asker's post is read with the email rules, in English, German, French, Spanish,
    Dutch, Italian, Portuguese, Swedish, Danish/Norwegian, Polish and Czech."""
    q = question()
    m = run([q, post(ASKER, f"@bob {said}", minutes=10, reply_to=q.id, root=q.id)])[-1]
    assert m.signal is not None and m.signal.kind == kind, said


@pytest.mark.parametrize("said", ANSWERS)
def test_a_helpers_answer_in_every_shipped_language(said: str) -> None:
    """A helper's plain answer counts whatever its language."""
    q = question()
    m = run([q, post(HELPER, f"@alice {said}", minutes=10, reply_to=q.id, root=q.id)])[-1]
    assert m.signal is not None and m.signal.rule == "network_answered", said


def test_leading_mentions_are_not_read_as_naming_a_helper() -> None:
    """ "@bob@hachyderm.io thanks, that solved it" names nobody: the mention is only the
    reply's address line."""
    assert what_it_says("@bob@hachyderm.io @ana thanks, that solved it") == (
        "thanks, that solved it"
    )
    assert what_it_says("thanks @ana") == "thanks @ana"


def test_make_post_cleans_what_a_network_controls() -> None:
    """Names and ids lose line breaks and control characters, a link that is not plain
    http(s) is dropped, tags are lower case without "#", a naive time is UTC."""
    p = make_post(
        network="mastodon",
        id="1\r\n2",
        link="javascript:alert(1)",
        author="@eve\nBcc: x@example.com",
        author_name="Eve\u202e\x00",
        created_at=datetime(2026, 12, 22, 10, 0),
        text="line one\r\nline two\x00\u2028three",
        tags=["#OOO7K3Q9M", "Deploy", ""],
    )
    assert p.id == "1 2" and p.link == ""
    assert "\n" not in p.author and p.author_name == "Eve"
    assert p.created_at.tzinfo is not None
    assert p.text == "line one\nline two\nthree"
    assert p.tags == ("ooo7k3q9m", "deploy")


@given(st.text(max_size=300), st.text(max_size=300))
def test_matching_never_raises_and_evidence_is_one_line(text: str, name: str) -> None:
    """Whatever a post says, matching returns, and every signal's evidence is one line."""
    q = question()
    reply = make_post(network="bluesky", id="x", link=None, author=name or "@x",
                      author_name=name, created_at=T0 + timedelta(minutes=1), text=text,
                      reply_to=q.id)  # fmt: skip
    for m in match_posts([q, reply], FakeKnown(), own=(OWNER,)):
        if m.signal is not None:
            assert "\n" not in m.signal.evidence and len(m.signal.evidence) <= 300


# -- the room notice --------------------------------------------------------------------------


def test_the_notice_names_the_asker_the_reference_and_asks_for_answers_in_the_thread() -> None:
    """Who asks (by name), the reference and its tag, and "answer in this thread"; no
    subject unless shared."""
    n = room_notice(ref=REF, asker_name="Alice Asker", owner_name="Bob Example")
    assert n.text.startswith("Alice Asker asked Bob Example, who is away, a question by email.")
    assert REF in n.text and "#OOO7K3Q9M" in n.text and "answer in this thread" in n.text
    assert "\u201c" not in n.text
    shared = room_notice(ref=REF, asker_name="Alice", owner_name="Bob", subject="Deploy fails")
    assert "\u201cDeploy fails\u201d" in shared.text


def test_no_email_address_reaches_a_notice_unless_shared() -> None:
    """An address in the name or subject is taken out; with share_sender the only address is
    in one mailto link, which answers the asker with the reference in the subject."""
    n = room_notice(ref=REF, asker_name="alice@example.org", owner_name="Bob <bob@example.com>",
                    subject="Mail carol@example.net about it")  # fmt: skip
    assert "@" not in n.text and "@" not in n.html
    assert n.text.startswith("Someone asked Bob,")
    shared = room_notice(ref=REF, asker_name="Alice", owner_name="Bob", subject="Deploy",
                         sender="alice@example.org")  # fmt: skip
    link = "mailto:alice@example.org?subject=" + "Re%3A%20Deploy%20%5BOOO-7K3Q9M%5D"
    assert link in shared.text and f'href="{link}"' in shared.html
    assert shared.text.count("@") == 1
    assert unquote(link.split("=", 1)[1]) == "Re: Deploy [OOO-7K3Q9M]"


def test_the_notice_html_is_escaped() -> None:
    """A name or subject with markup is text in the HTML version."""
    n = room_notice(ref=REF, asker_name="<b>Eve</b>", owner_name="Bob",
                    subject='<a href="x">click</a>')  # fmt: skip
    assert "<b>" not in n.html and "&lt;b&gt;Eve&lt;/b&gt;" in n.html
    assert "<a href" not in n.html


def test_a_sender_that_is_not_a_plain_address_gets_no_link() -> None:
    """share_sender with a value that is not a plain address adds nothing."""
    n = room_notice(ref=REF, asker_name="Eve", owner_name="Bob", sender="a@b.c?cc=x@y.z")
    assert "mailto" not in n.text


def test_a_mailto_without_a_subject_says_your_question() -> None:
    """No subject (None or empty): the answer's subject is "Re: your question [<ref>]"."""
    for subject in (None, ""):
        link = mailto("alice@example.org", REF, subject)
        assert link is not None
        assert unquote(link.split("=", 1)[1]) == f"Re: your question [{REF}]"
