"""``ooo demo``: the whole pipeline on a made-up week of mail, no server and no config."""

from __future__ import annotations

import argparse
import logging

from ooo.cli.common import SubParsers, add_command


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    demo = add_command(
        sub,
        common,
        "demo",
        cmd_demo,
        help="run the pipeline on a made-up week of mail (no server needed)",
    )
    demo.add_argument("--no-reply", action="store_true", help="don't print the sample reply")


def cmd_demo(args: argparse.Namespace) -> int:
    from ooo.demo import run_demo

    logging.getLogger("ooo").setLevel(logging.WARNING if not args.verbose else logging.DEBUG)
    run_demo(show_reply=not args.no_reply)
    return 0
