"""Inquiry references: ``OOO-`` plus six Crockford base32 characters, never reused, and found
again in a sender's answer however they typed it, but only when it really is one."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from ooo.core.refs import ALPHABET, find_refs, new_ref

CANONICAL = re.compile(r"OOO-[0-9A-HJKMNP-TV-Z]{6}")


def test_alphabet_is_crockford_base32() -> None:
    """32 symbols: digits and capitals without I, L, O and U (read aloud, they are ambiguous)."""
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert set(ALPHABET) == set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") - set("ILOU")


def test_new_ref_is_ooo_and_six_crockford_characters() -> None:
    """Every new reference reads OOO-XXXXXX, with six characters of the alphabet."""
    refs = {new_ref(lambda _ref: False) for _ in range(500)}
    assert all(CANONICAL.fullmatch(ref) for ref in refs), sorted(refs)[:5]
    assert len(refs) > 490  # random, not a counter or a constant


def test_every_symbol_can_appear_in_every_position() -> None:
    """The six characters come from one read of random bytes, each taken modulo 32: over
    5,000 references every symbol turns up in every position (each is expected about 940
    times; a lost symbol would mean fewer references than a billion)."""
    refs = [new_ref(lambda _ref: False)[4:] for _ in range(5000)]
    for position in range(6):
        assert {ref[position] for ref in refs} == set(ALPHABET), position


def test_new_ref_retries_until_the_store_has_not_seen_it() -> None:
    """A reference already in use is drawn again; the first free one is returned, and the
    store was asked about each candidate in turn."""
    chars: Iterator[str] = iter("AAAAAA" + "BBBBBB" + "CCCCCC" + "DDDDDD")
    taken = {"OOO-AAAAAA", "OOO-BBBBBB"}
    asked: list[str] = []

    def exists(ref: str) -> bool:
        asked.append(ref)
        return ref in taken

    assert new_ref(exists, choice=lambda _alphabet: next(chars)) == "OOO-CCCCCC"
    assert asked == ["OOO-AAAAAA", "OOO-BBBBBB", "OOO-CCCCCC"]


def test_new_ref_draws_from_the_alphabet_only() -> None:
    """The injected ``choice`` is handed the Crockford alphabet, six times per reference."""
    seen: list[str] = []

    def choice(alphabet: str) -> str:
        seen.append(alphabet)
        return alphabet[-1]

    assert new_ref(lambda _ref: False, choice=choice) == "OOO-ZZZZZZ"
    assert seen == [ALPHABET] * 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Re: Auto: question [OOO-7K3Q9M]", ["OOO-7K3Q9M"]),
        ("resolved, thanks (ooo-7k3q9m)", ["OOO-7K3Q9M"]),
        ("Ooo-7K3q9M was answered", ["OOO-7K3Q9M"]),
        ("OOO-7K3Q9M and OOO-ABC123.", ["OOO-7K3Q9M", "OOO-ABC123"]),
        ("line one\nref:OOO-000000\n", ["OOO-000000"]),
        ("no reference here", []),
        ("", []),
    ],
)
def test_find_refs_finds_refs_case_insensitively(text: str, expected: list[str]) -> None:
    """References are found in a subject or body however they were typed, and come back in
    the canonical upper-case form, in the order they appear."""
    assert find_refs(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "OOO-12345",  # too short
        "OOO-ABCDEFG",  # too long
        "OOO-ABC1234",
        "OOO-ABCDEU",  # U is not in the alphabet (Crockford keeps it out on purpose)
        "XOOO-ABC123",  # part of a longer word
        "OOOO-ABC123",
        "OOO-ABC123X",
        "OOO_ABC123",
        "OO-ABC123",
        "OOO-ABC 123",
    ],
)
def test_find_refs_ignores_lookalikes(text: str) -> None:
    """Strings that resemble a reference but are not one are not reported."""
    assert find_refs(f"see {text} please") == []


@pytest.mark.parametrize(
    "text",
    [
        "OOO-\u212aABCDE",  # KELVIN SIGN, which case-folds to K
        "OOO-\u017fABCDE",  # LATIN SMALL LETTER LONG S, which case-folds to s
        "OOO-ABC\u212a\u212a\u212a",
    ],
)
def test_find_refs_ignores_non_ascii_lookalikes(text: str) -> None:
    """A reference is plain ASCII: a Unicode letter that merely case-folds to an alphabet
    letter does not make one, and nothing outside the alphabet is ever returned."""
    found = find_refs(f"see {text} please")
    assert all(CANONICAL.fullmatch(ref) for ref in found), [ascii(r) for r in found]
    assert found == []


def test_a_new_ref_is_found_again() -> None:
    """What new_ref hands out, find_refs recognises in a quoted reply."""
    ref = new_ref(lambda _ref: False)
    assert find_refs(f"> Your reference is {ref}. If someone already helped you...") == [ref]
    assert find_refs(f"Re: {ref.lower()} RESOLVED") == [ref]


@pytest.mark.parametrize(
    ("typed", "ref"),
    [
        ("OOO-ABCDEI", "OOO-ABCDE1"),  # Crockford: I and L read as 1, O as 0
        ("OOO-ABCDEL", "OOO-ABCDE1"),
        ("OOO-ABCDEO", "OOO-ABCDE0"),
        ("OOO ABC123", "OOO-ABC123"),
        ("#OOOABC123", "OOO-ABC123"),  # the hashtag in "ask there" links
        ("000-ABC123", "OOO-ABC123"),  # the prefix typed with zeros
    ],
)
def test_find_refs_reads_references_as_people_type_them(typed: str, ref: str) -> None:
    """A reference typed back with look-alike letters, a space or as a hashtag is found."""
    assert find_refs(f"about {typed} again") == [ref]
