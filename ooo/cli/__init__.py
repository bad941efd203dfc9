"""The ``ooo`` command line: the parser and the dispatch. Each command group is a module here
that adds its parsers through ``register(subparsers, common)`` and names its handler with
``set_defaults(func=...)``.

Errors the user can fix (:class:`~ooo.errors.UserError`) print without a traceback and exit 2;
anything else is a bug: one line, and ``-v`` for the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ooo import __version__
from ooo.cli import check, config, demo, inquiries, preview, report, run, secret, service, status
from ooo.cli.common import Handler
from ooo.errors import OooError, UserError
from ooo.host import logs

#: The command modules, in the order `ooo --help` lists their commands.
COMMANDS = (run, check, preview, status, report, demo, inquiries, secret, config, service)


def _parser() -> argparse.ArgumentParser:
    # The global options, defined once and accepted before or after the command. In the
    # commands' parsers they default to SUPPRESS: a subparser's default would otherwise
    # overwrite what was given before the command (`ooo -c test.toml run` ran the real config).
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        action="append",
        help="config file (default: $OOO_CONFIG, else the platform config dir); the *.toml "
        "files in accounts/ next to it are more accounts, and so is each further -c FILE",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="debug logs, tracebacks")

    p = argparse.ArgumentParser(
        prog="ooo",
        parents=[common],
        description="A social-aware out-of-office responder. Start with `ooo demo`.",
    )
    p.add_argument("--version", action="version", version=f"ooo {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub, common)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # Suppressed defaults (see _parser): absent unless given, before or after the command.
    args.configs = getattr(args, "config", None) or []
    args.config = args.configs[0] if args.configs else None  # the main file
    args.verbose = getattr(args, "verbose", False)
    logs.setup(args.verbose)
    handler: Handler | None = getattr(args, "func", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except UserError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    except OooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `ooo preview | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if args.verbose:
            raise
        print(
            f"ooo: internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)",
            file=sys.stderr,
        )
        return 70
