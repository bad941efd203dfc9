"""The ``ooo`` command line.

Errors the user can fix (:class:`~ooo.errors.UserError`) print without a traceback and exit 2;
anything else is a bug: one line, and ``-v`` for the traceback.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import getpass
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from pathlib import Path

from ooo import __version__
from ooo.errors import OooError, UserError
from ooo.host import logs

log = logging.getLogger("ooo")


def _parser() -> argparse.ArgumentParser:
    # The global options, defined once and accepted before or after the command. In the
    # commands' parsers they default to SUPPRESS: a subparser's default would otherwise
    # overwrite what was given before the command (`ooo -c test.toml run` ran the real config).
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="config file (default: $OOO_CONFIG, else the platform config dir)",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="debug logs, tracebacks")

    p = argparse.ArgumentParser(
        prog="ooo",
        parents=[common],
        description="A social-aware out-of-office responder. Start with `ooo demo`.",
    )
    p.add_argument("--version", action="version", version=f"ooo {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="run the responder in the foreground")
    run.add_argument(
        "--once", action="store_true", help="process everything pending, send what is due, and exit"
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="decide and render, but send nothing and change nothing",
    )

    sub.add_parser("check", parents=[common], help="validate the config and try every connection")

    pv = sub.add_parser(
        "preview",
        parents=[common],
        help="show the exact reply a message would get, or why it gets none",
    )
    pv.add_argument("--from", dest="sender", metavar="ADDR", help="the sender's address")
    pv.add_argument("--to", metavar="ADDR", help="the owner address it was sent to")
    pv.add_argument("--subject", default="Hello", help="the message's subject")
    pv.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'Name: value'",
        help="an extra header (repeatable), e.g. 'Precedence: bulk'",
    )
    pv.add_argument("--eml", metavar="FILE", type=Path, help="a whole message file instead")

    sub.add_parser("status", parents=[common], help="what the responder is doing and has done")
    rep = sub.add_parser("report", parents=[common], help="what happened while you were away")
    rep.add_argument(
        "--format", choices=["text", "markdown", "html", "json", "csv"], default="text"
    )
    rep.add_argument("--output", metavar="FILE", help="write to FILE (atomically) instead")
    rep.add_argument(
        "--at",
        metavar="DATETIME",
        help="the report as of this moment (default: the end of the away window)",
    )
    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="run the pipeline on a made-up week of mail (no server needed)",
    )
    demo.add_argument("--no-reply", action="store_true", help="don't print the sample reply")

    res = sub.add_parser("resolve", parents=[common], help="mark an inquiry resolved by hand")
    res.add_argument("ref", help="the inquiry's reference, e.g. OOO-7K3Q9M")
    res.add_argument(
        "--by",
        required=True,
        choices=["network", "delegate", "sender", "owner"],
        help="who resolved it",
    )
    res.add_argument("--note", default="", help="why, in your words (shown in the report)")
    reo = sub.add_parser("reopen", parents=[common], help="mark an inquiry open again")
    reo.add_argument("ref", help="the inquiry's reference")
    reo.add_argument("--note", default="", help="why (shown in the report)")

    sec = sub.add_parser(
        "secret", parents=[common], help="store or delete a password in the keyring"
    )
    sec.add_argument("action", choices=["set", "delete"])
    sec.add_argument("section", choices=["mailbox", "smtp"])
    _config_parsers(sub, common)
    svc = sub.add_parser(
        "service", parents=[common], help="run ooo in the background (systemd, launchd)"
    )
    svc.add_argument("action", choices=["install", "uninstall", "status"])
    svc.add_argument("--dry-run", action="store_true", help="print the unit file, change nothing")
    return p


def _config_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    cfg = sub.add_parser("config", parents=[common], help="show, create or edit the config file")
    actions = cfg.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    actions.add_parser(
        "show", parents=[common], help="print the effective config, secrets redacted"
    )
    actions.add_parser(
        "edit", parents=[common], help="edit in $EDITOR; saved only when valid (like crontab -e)"
    )
    init = actions.add_parser(
        "init", parents=[common], help="write a starter config (asks, or takes the options)"
    )
    init.add_argument("--name", help="your name, as replies are signed")
    init.add_argument("--address", action="append", default=[], help="your address (repeatable)")
    init.add_argument("--timezone", help="IANA time zone (default: this machine's)")
    init.add_argument("--start", help="away from: 2026-12-20 or 2026-12-20T09:00")
    init.add_argument("--end", help="back on: 2027-01-05 or 2027-01-05T09:00")
    init.add_argument("--imap-host", help="the IMAP server")
    init.add_argument("--smtp-host", help="the SMTP server")
    init.add_argument("--username", help="the login name on the mail server")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # Suppressed defaults (see _parser): absent unless given, before or after the command.
    args.config = getattr(args, "config", None)
    args.verbose = getattr(args, "verbose", False)
    logs.setup(args.verbose)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        handler = globals()[f"cmd_{args.command}"]
        result: int = handler(args)
        return result
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


def _config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from ooo import config

    return config.load(args.config)


def cmd_demo(args: argparse.Namespace) -> int:
    from ooo.demo import run_demo

    logging.getLogger("ooo").setLevel(logging.WARNING if not args.verbose else logging.DEBUG)
    run_demo(show_reply=not args.no_reply)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from ooo.daemon import Daemon
    from ooo.host import logs

    cfg = _config(args)
    logfile = logs.add_file(logs.default_log_dir(cfg.state.dir))
    log.info("ooo %s (pid %d): config %s, log %s", __version__, os.getpid(), cfg.path, logfile)
    return Daemon(cfg, once=args.once, dry_run=args.dry_run).run()


def cmd_check(args: argparse.Namespace) -> int:
    from ooo.app import check_templates, make_mailbox, make_transport, state_dir
    from ooo.templating import Renderer

    failures = 0

    def line(ok: bool, what: str, detail: str) -> None:
        nonlocal failures
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'}  {what:<10} {detail}")

    cfg = _config(args)
    line(True, "config", f"{cfg.path} is valid")
    now = datetime.now(UTC)
    window = f"{cfg.away.start.isoformat()} → {cfg.away.end.isoformat()} ({cfg.owner.timezone})"
    if now >= cfg.away.end:
        line(False, "window", f"{window} is over; set new dates in [away]")
    else:
        line(True, "window", window + (" — armed, not yet started" if now < cfg.away.start else ""))
    try:
        names = check_templates(cfg, Renderer(cfg.templates.dir))
        line(True, "templates", f"{', '.join(names)} render")
    except UserError as exc:
        line(False, "templates", exc.message)
    mailbox = make_mailbox(cfg)
    try:
        mailbox.open()
        line(
            True,
            "mailbox",
            (
                f"exchange {cfg.mailbox.username} at {cfg.mailbox.ews_url}"
                if cfg.mailbox.backend == "exchange"
                else f"{cfg.mailbox.backend} {cfg.mailbox.username}@{cfg.mailbox.host}:"
                f"{cfg.mailbox.effective_port}"
            )
            + f" logged in, folder {cfg.mailbox.folder!r} selected",
        )
        autoreply = getattr(mailbox, "server_autoreply", None)
        if autoreply is not None:
            state = autoreply()
            if state:
                # A warning, not a failure: the owner may mean to switch it off before leaving.
                print(
                    f"warn  {'oof':<10} the server's own automatic replies are {state}: two "
                    "responders would answer every sender twice; turn them off (Outlook: File "
                    "> Automatic Replies)"
                )
    except (OooError, UserError) as exc:
        line(False, "mailbox", str(exc))
    finally:
        mailbox.close()
    transport = make_transport(cfg)
    try:
        line(True, "smtp" if cfg.smtp else "transport", transport.check())
    except OooError as exc:
        line(False, "smtp" if cfg.smtp else "transport", str(exc))
    finally:
        transport.close()
    line(True, "state", str(state_dir(cfg)))
    return 1 if failures else 0


def cmd_preview(args: argparse.Namespace) -> int:
    """Run the message through the real engine (policy, routing, templates) against a
    throw-away copy of the state, and print what would be sent."""
    from ooo.app import open_store
    from ooo.store import Store

    cfg = _config(args)
    if args.eml:
        try:
            raw = args.eml.read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read {args.eml}: {exc}") from exc
    elif args.sender:
        raw = _synthetic(args, cfg.owner.addresses[0])
    else:
        raise UserError("preview needs --from ADDR or --eml FILE")
    now = datetime.now(UTC)
    # A moment inside the window, so the preview shows the reply even before leaving.
    at = now if cfg.away.start <= now < cfg.away.end else cfg.away.start
    store_path = open_store_path(cfg)
    if store_path.exists():
        with open_store(cfg) as real:
            store = real.snapshot()
    else:
        store = Store(":memory:")
    with store:
        return _preview(cfg, raw, at, store)


def _preview(cfg, raw: bytes, at: datetime, store) -> int:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from ooo.app import engine_settings, make_router, read_contacts
    from ooo.engine import Engine, Outcome
    from ooo.mailbox.memory import MemoryMailbox
    from ooo.templating import Renderer
    from ooo.transport.memory import MemoryTransport

    known: frozenset[str] = frozenset()
    if cfg.audiences.external_replies == "known":
        if cfg.audiences.contacts_file:
            known = frozenset(read_contacts(cfg.audiences.contacts_file))
        print(
            'note: external_replies = "known": preview knows the contacts file only; the daemon '
            "also counts everyone in the Sent folder"
        )
    mailbox = MemoryMailbox()
    mailbox.open()
    mailbox.deliver(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), at)
    settings = replace(engine_settings(cfg), mailbox_id="preview")
    outcomes: list[Outcome] = []
    engine = Engine(
        settings,
        mailbox,
        MemoryTransport(),
        store,
        Renderer(cfg.templates.dir),
        lambda: at,
        dry_run=True,
        router=make_router(cfg, lambda: known),
        on_outcome=outcomes.append,
    )
    logging.getLogger("ooo").setLevel(logging.WARNING)
    engine.sync()
    if not outcomes:
        raise UserError("the message could not be read")
    outcome = outcomes[-1]
    print(f"decision: {outcome.decision.reason.value}: {outcome.decision.describe()}")
    if outcome.routing:
        for line in outcome.routing.describe():
            print(line)
    row_id = store.messages()[-1].id
    replies = store.replies()
    mine = [r for r in replies if r.message == row_id]
    if not mine:
        print("no reply would be sent.")
        return 0
    for row in mine:
        what = "reply" if row.kind == "reply" else "forward to the delegate"
        cc = f", cc {','.join(row.cc)}" if row.cc else ""
        envelope = row.envelope_from or "<>"
        print(f"\n=== {what}: to {row.recipient}{cc}; envelope sender {envelope} ===")
        print(_show(email.message_from_bytes(row.raw, policy=email.policy.default)))
    return 0


def open_store_path(cfg) -> Path:  # type: ignore[no-untyped-def]
    from ooo.app import state_db

    return state_db(cfg)


def _synthetic(args: argparse.Namespace, default_to: str) -> bytes:
    lines = [
        f"Return-Path: <{args.sender}>",
        f"From: {args.sender}",
        f"To: {args.to or default_to}",
        f"Subject: {args.subject}",
        "Message-ID: <preview@ooo.invalid>",
    ]
    for header in args.header:
        if ":" not in header:
            raise UserError(f"--header {header!r} must look like 'Name: value'")
        lines.append(header)
    return ("\n".join(lines) + "\n\n(preview)\n").encode()


def _show(msg: Message) -> str:
    """Headers as they go out, then every MIME part decoded (what a reader would see)."""
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    out = [f"{k}: {v}" for k, v in parsed.items()]
    for part in parsed.walk():
        if part.is_multipart():
            continue
        assert isinstance(part, EmailMessage)
        out.append(f"\n--- part {part.get_content_type()} ---")
        out.append(str(part.get_content()).rstrip())
    return "\n".join(out)


def cmd_status(args: argparse.Namespace) -> int:
    from ooo.app import open_store
    from ooo.errors import ConfigError

    try:
        cfg = _config(args)
    except ConfigError as exc:
        return _status_of_invalid_config(args, exc)
    if not open_store_path(cfg).exists():
        print(f"no state yet in {open_store_path(cfg).parent}: ooo has not run with this config")
        return 0
    with open_store(cfg) as store:
        return _print_status(cfg, store)


def _print_status(cfg, store) -> int:  # type: ignore[no-untyped-def]
    from ooo import mailbox as mailboxes
    from ooo.core.policy import DESCRIPTIONS, Reason
    from ooo.host.lock import holder

    tz = cfg.owner.tz
    now = datetime.now(UTC)
    phase = (
        "before the away window (armed)"
        if now < cfg.away.start
        else "inside the away window"
        if now < cfg.away.end
        else "the away window is over"
    )
    print(
        f"window:   {cfg.away.start.astimezone(tz):%Y-%m-%d %H:%M} → "
        f"{cfg.away.end.astimezone(tz):%Y-%m-%d %H:%M} {cfg.owner.timezone} ({phase})"
    )
    status = store.status()
    state = status.get("state")
    if state:
        print(f"daemon:   {state[0]} (as of {state[1].astimezone(tz):%Y-%m-%d %H:%M:%S})")
    pid = holder(open_store_path(cfg).parent)
    print(f"process:  {f'running, pid {pid}' if pid else 'not running'}")
    cursor, epoch = store.cursor(mailboxes.mailbox_id(cfg.mailbox))
    print(f"cursor:   {cursor or '(none yet)'}" + (f" (baseline #{epoch})" if epoch else ""))
    counts = store.counts_by_reason()
    total = sum(counts.values())
    print(f"messages: {total} seen, {counts.get('reply', 0)} answered")
    for reason, n in counts.items():
        if reason != "reply":
            print(f"  {n:>5}  {reason:<26} {DESCRIPTIONS.get(Reason(reason), '')}")
    states = store.counts_by_reply_state()
    print("replies:  " + (", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"))
    for row in store.replies("uncertain"):
        print(f"  uncertain: to {row.recipient} ({row.subject[:50]!r}): {row.last_error}")
    for row in store.replies("failed"):
        print(f"  failed: to {row.recipient}: {row.last_error}")
    valve = status.get("valve")
    if valve:
        print(f"valve:    {valve[0]} (as of {valve[1].astimezone(tz):%Y-%m-%d %H:%M:%S})")
    err = status.get("last_error")
    if err:
        print(f"last error: {err[0]} (at {err[1].astimezone(tz):%Y-%m-%d %H:%M:%S})")
    cerr = status.get("config_error")
    if cerr:
        print(
            f"config error: {cerr[0]} (since {cerr[1].astimezone(tz):%Y-%m-%d %H:%M:%S}; "
            "the daemon runs on the last good config)"
        )
    return 0


def _status_of_invalid_config(args: argparse.Namespace, exc: UserError) -> int:
    """`ooo status` while the config file is broken: say so, then what the daemon is doing
    (it keeps running on its last good config), found through [state] dir read leniently."""
    from ooo.app import STATE_DB
    from ooo.config import resolve_path
    from ooo.host.lock import holder
    from ooo.store import Store

    path = resolve_path(args.config)
    if not path.exists():
        raise exc
    print(exc.render(), file=sys.stderr)
    directory = _lenient_state_dir(path)
    db = directory / STATE_DB
    if not db.exists():
        return 2
    pid = holder(directory)
    print(f"daemon:   {'running as pid ' + str(pid) if pid else 'not running'} (state {directory})")
    with Store(db) as store:
        status = store.status()
    for key in ("state", "config_error"):
        if key in status:
            value, at = status[key]
            print(f"{key.replace('_', ' ')}: {value} (as of {at:%Y-%m-%d %H:%M:%S %Z})")
    return 2


def _lenient_state_dir(path: Path) -> Path:
    """[state] dir from a config that does not validate (or parse), else the default."""
    import re
    import tomllib

    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    found: object = None
    try:
        found = tomllib.loads(text).get("state", {}).get("dir")
    except tomllib.TOMLDecodeError:
        m = re.search(r'^\s*\[state\][^\[]*?^\s*dir\s*=\s*"([^"]*)"', text, re.M | re.S)
        found = m.group(1) if m else None
    if isinstance(found, str) and found:
        return Path(found).expanduser()
    import platformdirs

    return Path(platformdirs.user_state_dir("ooo"))


def cmd_report(args: argparse.Namespace) -> int:
    from ooo.app import build_owner_report, open_store
    from ooo.host.files import write_atomic
    from ooo.report import render

    cfg = _config(args)
    if not open_store_path(cfg).exists():
        print("nothing to report: ooo has not run with this config")
        return 0
    at = None
    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError as exc:
            raise UserError(
                f"--at {args.at!r}: expected a date or date-time like 2027-01-05T09:00"
            ) from exc
        if at.tzinfo is None:
            at = at.replace(tzinfo=cfg.owner.tz)
    output = _output_path(args.output, args.format) if args.output else None
    with open_store(cfg) as store:
        report = build_owner_report(cfg, store, at)
    text = render(report, args.format)
    if output:
        try:
            write_atomic(output, text)
        except OSError as exc:
            raise UserError(f"cannot write the report to {output}: {exc.strerror or exc}") from exc
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _output_path(given: str, fmt: str) -> Path:
    """--output FILE, checked before any work: a directory or a missing directory is a usage
    error that says what to write instead, not a traceback."""
    from ooo.report import SUFFIXES

    path = Path(given).expanduser()
    example = f"report{SUFFIXES[fmt]}"  # type: ignore[index]
    if path.is_dir():
        raise UserError(
            f"--output {given} is a directory",
            advice=f"name a file in it, e.g. --output {path / example}",
        )
    if not path.parent.is_dir():
        raise UserError(
            f"--output {given}: the directory {path.parent} does not exist",
            advice=f"create it first (mkdir -p {path.parent}) or choose another path",
        )
    return path


def _inquiry_store(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from ooo.app import open_store

    cfg = _config(args)
    if not open_store_path(cfg).exists():
        raise UserError("no state yet: ooo has not run with this config")
    store = open_store(cfg)
    row = store.inquiry(args.ref.strip().upper())
    if row is None:
        store.close()
        raise UserError(
            f"no inquiry {args.ref!r}",
            advice="references look like OOO-7K3Q9M; `ooo report` lists them",
        )
    return store, row


def _owner_signal(
    args: argparse.Namespace, kind: str, by: str | None, rule: str, default: str, said: str
) -> int:
    """Record the owner's own decision about an inquiry as a signal, like any other."""
    store, row = _inquiry_store(args)
    with store, store.transaction():
        store.add_signal(
            ref=row.ref,
            at=datetime.now(UTC),
            kind=kind,
            by=by,
            rule=rule,
            evidence=args.note or default,
        )
    print(f"{row.ref} ({row.sender}: {row.subject[:60]!r}) {said}")
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    return _owner_signal(
        args,
        "resolved",
        args.by,
        "owner_resolved",
        f"marked resolved by hand (by {args.by})",
        f"resolved by {args.by}",
    )


def cmd_reopen(args: argparse.Namespace) -> int:
    return _owner_signal(
        args, "reopened", None, "owner_reopened", "reopened by hand", "is open again"
    )


def cmd_secret(args: argparse.Namespace) -> int:
    from ooo.host import secrets

    cfg = _config(args)
    section_cfg = cfg.mailbox if args.section == "mailbox" else cfg.smtp
    if section_cfg is None:
        raise UserError("there is no [smtp] section in the config: nothing to store")
    if section_cfg.auth in ("xoauth2", "oauthbearer", "oauth2"):
        raise UserError(
            f'[{args.section}] signs in with OAuth2 (auth = "{section_cfg.auth}"): nothing '
            f"uses a password there, so there is nothing to store; ooo gets a fresh access "
            f"token from token_command at every login",
            advice=f"check the token helper by running it: {section_cfg.token_command or '...'}"
            " (to sign in again, run its authorize step, e.g. `oama authorize ...`)",
        )
    entry = secrets.entry_for(args.section, section_cfg)
    if args.action == "set":
        if sys.stdin.isatty():
            password = getpass.getpass(f"password for {args.section} ({entry}): ")
        else:
            password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise UserError("no password given; nothing stored")
        secrets.set_password(args.section, entry, password)
        print(f"stored the {args.section} password in the keyring (service 'ooo', entry {entry!r})")
    else:
        found = secrets.delete_password(args.section, entry)
        print(f"deleted {entry!r}" if found else f"no keyring entry {entry!r}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from ooo.config import edit as configedit
    from ooo.config import resolve_path

    path = resolve_path(args.config)
    if args.config_action == "show":
        sys.stdout.write(configedit.show(_config(args)))
        return 0
    if args.config_action == "edit":
        changed = configedit.edit(path)
        print(f"saved {path}" if changed else f"no changes; {path} is unchanged")
        if changed:
            print("a running ooo picks the change up by itself (or send it SIGHUP)")
        return 0
    answers = {
        "name": args.name,
        "addresses": ", ".join(args.address) or None,
        "timezone": args.timezone,
        "start": args.start,
        "end": args.end,
        "imap_host": args.imap_host,
        "smtp_host": args.smtp_host,
        "username": args.username,
    }
    ask = _ask if sys.stdin.isatty() else None
    configedit.init(path, answers, force=args.force, ask=ask)
    print(f"wrote {path}")
    print("next: `ooo secret set mailbox` and `ooo secret set smtp`, then `ooo check`")
    return 0


def _ask(prompt: str, default: str | None) -> str:
    suffix = f" [{default}]" if default else ""
    try:
        return input(f"{prompt}{suffix}: ").strip()
    except EOFError as exc:
        raise UserError("config init: no answer given") from exc


def cmd_service(args: argparse.Namespace) -> int:
    from ooo.config import resolve_path
    from ooo.host import service

    path = resolve_path(args.config).expanduser().resolve()
    if args.action != "uninstall" and not path.exists():
        raise UserError(
            f"no config file at {path}", advice="create one first with `ooo config init`"
        )
    result: int = getattr(service, args.action)(service.Host.current(), path, dry_run=args.dry_run)
    return result
