"""Support code for the tests: builders (helpers), the private Dovecot + Postfix (mailstack),
the daemon as a process (responder), stand-in servers (ews_server) and hostile corpora."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository's top folder."""
CORPUS = Path(__file__).resolve().parent / "corpus"
"""Hostile messages, one per file (see corpus/README.md)."""
