"""The Sieve script ooo installs for its handoff (ooo.core.sieve): what it says, that no
hostile sender, subject, template text or script name can change what it does, and the reader
that finds a vacation action in the owner's own script. The real Pigeonhole compiling and
running these scripts is in tests/servers/handoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ooo.core.sieve import (
    HANDLE,
    MAX_ANSWERED,
    SERVER_KEYWORD,
    Handoff,
    ServerReply,
    analyse,
    days_for,
    fit_answered,
    iso,
    quote,
    read_meta,
    render,
    required,
    tokens,
)

NOW = datetime(2027, 1, 2, 10, 0, tzinfo=UTC)
START, END = NOW - timedelta(days=2), NOW + timedelta(days=5)

HOSTILE = [
    'quote " inside',
    'backslash \\ and \\" and trailing \\',
    "${1} ${ooo_dollar} ${ooo_subject} $${x}} ${",
    '";\ndiscard;\nvacation "pwned";\n#',
    "text:\nvacation;\n.\n",
    "/* not a comment */ # nor this",
    "bare\rcarriage\r\nreturns\nand NUL \x00 and BEL \x07",
    "lone surrogate \udcff here",
    "ünïcödé — “quotes” 🙂",
    "}\n} else { discard; }\nif true {",
]


def spec(**kw: object) -> Handoff:
    base: dict[str, object] = {
        "addresses": ("bob@example.com", "b.example@example.com"),
        "reply": ServerReply(internal="Hi colleague", external="Hello, I am away."),
        "window_start": START,
        "window_end": END,
        "lease_until": NOW + timedelta(minutes=15),
        "owner_script": "roundcube",
        "answered": ("alice@example.org",),
        "reason": "running",
        "days": 7,
    }
    base.update(kw)
    return Handoff(**base)  # type: ignore[arg-type]


def strings(script: str) -> list[str]:
    return [t.value for t in tokens(script) if t.kind == "string"]


def commands(script: str) -> list[str]:
    """The identifiers that start a command or a test (what the script *does*)."""
    toks = tokens(script)
    return [
        t.value
        for i, t in enumerate(toks)
        if t.kind == "identifier" and (i == 0 or toks[i - 1].kind == "special")
    ]


def cleaned(text: str) -> str:
    """What quote() keeps of a text: LF line ends, no controls but tab, valid UTF-8."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(c for c in text if c in "\t\n" or not (ord(c) < 32 or ord(c) == 127))
    return text.encode("utf-8", "ignore").decode("utf-8")


# -- what the script says ----------------------------------------------------------------------


def test_the_script_answers_only_after_the_lease_and_inside_the_window() -> None:
    """The vacation branch is guarded by currentdate in UTC: at or past the lease, before the
    end; it marks the message, skips the answered senders, and then the owner's script runs."""
    script = render(spec())
    assert 'require ["date", "envelope", "imap4flags", "include", "relational", "vacation"];' in (
        script
    )
    assert 'currentdate :zone "+0000" :value "ge" "iso8601" "2027-01-02T10:15:00Z"' in script
    assert 'currentdate :zone "+0000" :value "lt" "iso8601" "2027-01-07T10:00:00Z"' in script
    assert 'not envelope :all :is "from" ["alice@example.org"]' in script
    assert f'addflag "{SERVER_KEYWORD}";' in script
    assert f':days 7 :handle "{HANDLE}"' in script
    assert ':addresses ["bob@example.com", "b.example@example.com"]' in script
    assert script.rstrip().endswith('include :personal :optional "roundcube";')
    # The owner's script comes after ours: a "stop" in it cannot skip the vacation branch.
    assert script.index("vacation ") < script.index("include :personal")
    assert ":subject" not in script  # the server's own "Auto: <subject>" is ooo's wording
    assert "variables" not in script


def test_a_lease_before_the_window_is_clamped_to_its_start() -> None:
    """The server never answers before the away window starts, whatever the lease says."""
    script = render(spec(lease_until=START - timedelta(days=1)))
    assert f'"ge" "iso8601" "{iso(START)}"' in script


def test_no_owner_script_and_no_answered_senders() -> None:
    """Without a script of the owner's there is no include; without answered senders no
    (invalid, empty) string list."""
    script = render(spec(owner_script=None, answered=()))
    assert "include" not in commands(script)
    assert "[]" not in script
    assert "not envelope" not in script


def test_internal_senders_get_the_internal_text() -> None:
    """With internal domains, colleagues (the domain and its subdomains) get the internal
    reply and everyone else the external one; an audience without a reply gets none."""
    reply = ServerReply(
        internal="Hi colleague", external="Hello stranger", internal_domains=("example.com",)
    )
    script = render(spec(reply=reply))
    assert 'envelope :domain :is "from" ["example.com"]' in script
    assert 'envelope :domain :matches "from" ["*.example.com"]' in script
    assert (
        script.index('"Hi colleague"') < script.index("} else {") < script.index('"Hello stranger"')
    )
    assert commands(script).count("vacation") == 2
    only_internal = render(spec(reply=ServerReply("Hi colleague", None, ("example.com",))))
    assert commands(only_internal).count("vacation") == 1
    assert "} else {" not in only_internal
    only_external = render(spec(reply=ServerReply(None, "Hello stranger", ("example.com",))))
    assert "if not anyof (envelope :domain" in only_external
    nobody = render(spec(reply=ServerReply(None, None, ("example.com",))))
    assert "vacation" not in commands(nobody)
    assert "include" in commands(nobody)


def test_a_custom_subject_prefix_uses_variables() -> None:
    """ooo's replies say "<prefix> <original subject>"; for a prefix other than the server's
    own "Auto:", the script needs variables and builds the same subject."""
    reply = ServerReply(internal=None, external="Hello", subject_prefix="Abwesend: ")
    script = render(spec(reply=reply))
    assert "variables" in required(reply)
    assert '"variables"' in script.splitlines()[4]
    assert 'set "ooo_dollar" "$";' in script
    assert 'if header :matches "subject" "?*" { set "ooo_subject" "${0}"; }' in script
    assert ':subject "Abwesend: ${ooo_subject}"' in script


def test_days_follow_the_reply_interval() -> None:
    """The server answers one sender at most once per ooo's reply interval (whole days)."""
    assert days_for(timedelta(days=7)) == 7
    assert days_for(timedelta(hours=36)) == 2
    assert days_for(timedelta(minutes=5)) == 1


def test_times_must_be_aware() -> None:
    """A naive time would be compared against the server's UTC clock as if it were UTC."""
    with pytest.raises(ValueError):
        iso(datetime(2027, 1, 1))
    assert iso(datetime(2027, 1, 1, 12, tzinfo=UTC) + timedelta(microseconds=5)) == (
        "2027-01-01T12:00:00Z"
    )


# -- escaping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_quote_round_trips_hostile_text(text: str) -> None:
    """A quoted string reads back, token for token, as exactly the text (cleaned of what Sieve
    cannot carry), as one string: nothing escapes into the script."""
    quoted = quote(text)
    assert [(t.kind, t.value) for t in tokens(quoted)] == [("string", cleaned(text))]
    assert "\r" not in quoted and "\x00" not in quoted


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_quote_is_always_one_string(text: str) -> None:
    """For any text at all, quote() gives one string token holding the cleaned text."""
    assert [(t.kind, t.value) for t in tokens(quote(text))] == [("string", cleaned(text))]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_with_variables_no_dollar_brace_survives(text: str) -> None:
    """With variables, every ${ in a text becomes ${ooo_dollar}{, which the server expands
    to a literal ${ (substitution is not recursive): no other variable can be referenced."""
    body = tokens(quote(text, variables=True))[0].value
    assert body.replace("${ooo_dollar}{", "").count("${") == 0
    assert body.replace("${ooo_dollar}{", "${") == cleaned(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_do_not_change_what_the_script_does(text: str) -> None:
    """Hostile template text, subject prefix, senders, addresses, domains and owner script
    name leave the script's commands exactly as they are with harmless ones."""
    hostile = spec(
        reply=ServerReply(
            internal=text,
            external="x" + text,
            internal_domains=(text,),
            subject_prefix=text or "x",
        ),
        answered=(text, "alice@example.org"),
        addresses=(text,),
        owner_script=text,
        reason=text,
    )
    harmless = spec(
        reply=ServerReply(
            internal="a", external="b", internal_domains=("example.com",), subject_prefix="x"
        ),
        answered=("x@example.org", "alice@example.org"),
        addresses=("bob@example.com",),
        owner_script="mine",
        reason="running",
    )
    assert commands(render(hostile)) == commands(render(harmless))
    assert len(analyse(render(hostile)).vacation_lines) == 2
    # The texts arrive as written (quote() only ever removes what Sieve cannot carry).
    assert cleaned(text).replace("${", "${ooo_dollar}{") in strings(render(hostile))


def test_the_metadata_comment_survives_hostile_names() -> None:
    """The facts in the first comment read back exactly, and a newline in a script name or
    reason cannot end the comment early."""
    name = 'evil"\nvacation "x";\n# ${1}'
    script = render(spec(owner_script=name, reason="why\nnot", answered=("a@x.org", "b@x.org")))
    meta_lines = [line for line in script.splitlines() if line.startswith("# ooo-handoff ")]
    assert len(meta_lines) == 1
    meta = read_meta(script)
    assert meta is not None
    assert meta.owner_script == name
    assert meta.reason == "why\nnot"
    assert meta.lease_until == NOW + timedelta(minutes=15)
    assert meta.window_end == END
    assert meta.answered == 2
    assert read_meta('require "vacation";\n') is None
    assert read_meta("# ooo-handoff {not json\n") is None


def test_the_answered_list_is_capped_newest_first() -> None:
    """Senders are deduplicated case-insensitively, newest first; beyond the cap the oldest
    are left out and counted."""
    kept, left = fit_answered(["B@x.org", "a@x.org", "b@x.org", " ", ""], cap=5)
    assert kept == ("b@x.org", "a@x.org") and left == 0
    many = [f"s{i}@x.org" for i in range(MAX_ANSWERED + 7)]
    kept, left = fit_answered(many)
    assert kept[0] == "s0@x.org" and len(kept) == MAX_ANSWERED and left == 7


# -- reading the owner's script ---------------------------------------------------------------


def test_vacation_is_found_where_it_is_used() -> None:
    """A vacation action is found with its line, in any case and nesting."""
    script = (
        'require ["vacation", "fileinto"];\n'
        'if header :contains "subject" "x" {\n'
        '    fileinto "X";\n'
        "} else {\n"
        '    VACATION :days 3 "I am away";\n'
        "}\n"
    )
    assert analyse(script).vacation_lines == [5]
    assert analyse('vacation "x";').vacation_lines == [1]


def test_vacation_in_comments_and_strings_does_not_count() -> None:
    """Hash and bracket comments, quoted strings and text: blocks may mention vacation."""
    script = (
        'require ["vacation"];  # vacation "no";\n'
        '/* vacation :days 1 "no";\n   still a comment */\n'
        'if header :contains "subject" "vacation" { keep; }\n'
        'set "x" "vacation \\" vacation";\n'
        'reject text:\nvacation "no";\n..vacation\n.\n;\n'
        'fileinto "vacation";\n'
    )
    assert analyse(script).vacation_lines == []
    assert analyse(script + 'vacation "yes";\n').vacation_lines == [12]


def test_includes_are_listed() -> None:
    """Personal includes are listed (ooo reads them too); global ones are the admin's."""
    found = analyse(
        'require "include";\ninclude :personal "filters";\ninclude :global "spam";\n'
        'include :once :optional "more";\n'
    ).includes
    assert [(i.name, i.personal, i.line) for i in found] == [
        ("filters", True, 2),
        ("spam", False, 3),
        ("more", True, 4),
    ]


def test_the_reader_never_fails_on_garbage() -> None:
    """Unterminated strings, comments and text blocks are read leniently."""
    for junk in ['"unterminated', "/* open", "text:", "text:\nno end", "\\\\\\", "{{{", "é"]:
        analyse(junk)
    assert analyse(render(spec())).vacation_lines  # ooo's own script uses vacation
