"""The config file as the owner handles it: ``ooo config show``, ``init`` and ``edit``.

- ``show`` prints the effective config (every default filled in) as TOML, secrets redacted.
- ``init`` writes a commented starter config from ``config.example.toml`` with the answers to
  the few questions that matter (name, addresses, dates, servers, login); the example's
  network, delegate, audience and route entries stay in it as comments to enable.
- ``edit`` works like ``crontab -e`` / ``visudo``: ``$VISUAL``/``$EDITOR`` on a copy, validated
  on save; an invalid copy is reopened with the problems on top as comment lines; the real file
  is replaced atomically, and only by a valid config.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from ooo.config import Config, loads
from ooo.errors import ConfigError, UserError
from ooo.host.files import write_atomic
from ooo.resources import shipped

REDACTED = "<set>"
#: Keys whose values are secrets, or commands that print one (their arguments may carry a
#: client secret or a vault path): shown as REDACTED when set.
SECRET_WORDS = ("password", "secret", "token", "credential")


def is_secret_key(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_WORDS)


# -- show ------------------------------------------------------------------------------------


def show(cfg: Config) -> str:
    """The effective config as TOML, with secrets redacted."""
    data = cfg.model_dump(mode="python", by_alias=True, exclude={"path"})
    lines = [f"# effective config of {cfg.path} (defaults filled in, secrets redacted)"]
    _emit_table(lines, [], _redact(data))
    return "\n".join(lines).strip() + "\n"


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if is_secret_key(k) and v is not None else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name)


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _emit_table(lines: list[str], path: list[str], table: Mapping[str, Any]) -> None:
    for name, value in table.items():
        if value is None or _is_table(value) or _is_table_array(value):
            continue
        lines.append(f"{_key(name)} = {_toml_value(value)}")
    for name, value in table.items():
        if _is_table(value):
            lines.append("")
            lines.append(f"[{'.'.join(_key(p) for p in [*path, name])}]")
            _emit_table(lines, [*path, name], value)
        elif _is_table_array(value):
            for item in value:
                lines.append("")
                lines.append(f"[[{'.'.join(_key(p) for p in [*path, name])}]]")
                _emit_table(lines, [*path, name], item)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return json.dumps(format_duration(value))
    if isinstance(value, Path):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        inner = ", ".join(
            f"{_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None
        )
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def format_duration(value: timedelta) -> str:
    """``timedelta(days=7)`` → ``"7d"``, 1500 s → ``"25m"``: what the config accepts."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)


# -- init ------------------------------------------------------------------------------------

#: (answer name, prompt, table, key) in the order asked.
QUESTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("name", "Your name, as replies are signed", "owner", "name"),
    ("addresses", "Your email address(es), comma-separated", "owner", "addresses"),
    ("timezone", "Your time zone", "owner", "timezone"),
    ("start", "Away from (YYYY-MM-DD or YYYY-MM-DDTHH:MM, your time)", "away", "start"),
    ("end", "Back on (YYYY-MM-DD or YYYY-MM-DDTHH:MM, your time)", "away", "end"),
    ("imap_host", "IMAP server", "mailbox", "host"),
    ("username", "Login name on the mail server", "mailbox", "username"),
    ("smtp_host", "SMTP server", "smtp", "host"),
)


def example_path() -> Path:
    """config.example.toml: inside an installed package, or at the top of a source checkout."""
    found = shipped("config.example.toml")
    if found is None:
        raise UserError("config.example.toml is missing from this installation")
    return found


def local_timezone() -> str:
    """The IANA name of this machine's zone, or "UTC" when it cannot be told."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if "/" in tz and not tz.startswith("/"):
        return tz
    with contextlib.suppress(OSError):
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    return "UTC"


def init(
    path: Path,
    answers: Mapping[str, str | None],
    *,
    force: bool = False,
    ask: Callable[[str, str | None], str] | None = None,
) -> Config:
    """Write a starter config at ``path`` from the example and ``answers``; ask for the missing
    ones with ``ask(prompt, default)`` (None: they are an error). Validates what it wrote."""
    if path.exists() and not force:
        raise UserError(
            f"{path} already exists; not overwriting it",
            advice="edit it with `ooo config edit`, or pass --force to start over",
        )
    given = dict(answers)
    if not given.get("timezone"):
        given["timezone"] = None
    defaults = {"timezone": local_timezone()}
    missing = [name for name, *_ in QUESTIONS if not given.get(name) and name not in defaults]
    if missing and ask is None:
        raise UserError(
            "config init needs " + ", ".join(_flag(m) for m in missing),
            advice="pass them as options, or run `ooo config init` in a terminal to be asked",
        )
    for name, prompt, *_ in QUESTIONS:
        if not given.get(name):
            if ask is None:
                given[name] = defaults[name]
            else:
                given[name] = ask(prompt, defaults.get(name)) or defaults.get(name)
    text = starter_text(example_path().read_text(encoding="utf-8"), given)
    cfg = loads(text, path)  # raises ConfigError naming the answer that is wrong
    write_atomic(path, text)
    return cfg


def _flag(answer: str) -> str:
    return "--" + {"addresses": "address"}.get(answer, answer).replace("_", "-")


def starter_text(example: str, answers: Mapping[str, str | None]) -> str:
    text = example
    for name, _prompt, table, key in QUESTIONS:
        value = answers.get(name) or ""
        if name == "addresses":
            toml = _toml_value([a.strip() for a in value.split(",") if a.strip()])
        elif name in ("start", "end"):
            toml = _toml_date(name, value)
        else:
            toml = json.dumps(value, ensure_ascii=False)
        text = _set_key(text, table, key, toml)
    text = _set_key(text, "smtp", "username", json.dumps(answers.get("username") or ""))
    header = (
        "# Written by `ooo config init`. Check it with `ooo check`; change it with "
        "`ooo config edit`.\n"
        "# The network, delegate, audience and route entries below are examples: remove the\n"
        "# leading '# ' of a block to use it.\n"
    )
    return header + _comment_out_after(text, "smtp")


def _toml_date(name: str, value: str) -> str:
    text = value.strip().replace(" ", "T")
    try:
        parsed: date = datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
    except ValueError as exc:
        raise UserError(
            f"--{name} {value!r}: expected a date (2026-12-20) or a date and time "
            "(2026-12-20T09:00)"
        ) from exc
    return parsed.isoformat()


def _set_key(text: str, table: str, key: str, toml_value: str) -> str:
    """Replace ``key = ...`` in ``[table]`` (the first, uncommented one)."""
    lines = text.splitlines(keepends=True)
    current = None
    header = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
    assignment = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
    for i, line in enumerate(lines):
        m = header.match(line)
        if m:
            current = m.group(1)
            continue
        if current == table and assignment.match(line):
            lines[i] = f"{key} = {toml_value}\n"
            return "".join(lines)
    raise UserError(f"config.example.toml has no {table}.{key} to fill in")


def _comment_out_after(text: str, table: str) -> str:
    """Comment out every table after ``[table]``: examples to enable, not settings."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    state = "before"
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            if stripped == f"[{table}]":
                state = "in"
            elif state == "in":
                state = "after"
        if state == "after" and stripped and not stripped.startswith("#"):
            line = "# " + line
        out.append(line)
    return "".join(out)


# -- edit ------------------------------------------------------------------------------------

ERROR_MARK = "#! "


def editor_command(environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    for var in ("VISUAL", "EDITOR"):
        if env.get(var):
            return shlex.split(env[var])
    return ["notepad"] if sys.platform == "win32" else ["vi"]


def _error_header(exc: UserError) -> list[str]:
    lines = [
        "ooo: this config is NOT saved yet: it has problems. Fix them and save again, or save",
        "ooo: it unchanged (or quit with an error) to give up. These lines are removed on save.",
        *exc.render().splitlines(),
    ]
    return [ERROR_MARK + line + "\n" for line in lines]


def _strip_header(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith(ERROR_MARK):
        lines.pop(0)
    return "".join(lines)


def _validate_shown(body: str, path: Path) -> tuple[Config | None, str]:
    """Validate ``body``; when invalid, return the text to show: the problems on top, with
    line numbers that count those comment lines, so they match what the editor shows."""
    try:
        return loads(body, path), body
    except ConfigError as exc:
        first = exc
    header = _error_header(first)
    try:
        loads("\n" * len(header) + body, path)
    except ConfigError as shifted:
        header = _error_header(shifted)
    return None, "".join(header) + body


def edit(
    path: Path,
    run_editor: Callable[[Sequence[str]], int] | None = None,
    editor: Sequence[str] | None = None,
) -> bool:
    """Edit the config on a copy; True when the file was replaced, False when unchanged.
    Raises UserError when the user gave up on an invalid edit (the file is untouched)."""
    try:
        original = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UserError(
            f"no config file at {path}", advice="create one with `ooo config init`"
        ) from exc
    command = list(editor or editor_command())
    runner = run_editor or (lambda argv: subprocess.run(argv, check=False).returncode)
    mode = stat_mode(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.edit-", suffix=".toml", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.close(fd)
        shown = original
        while True:
            tmp.write_text(shown, encoding="utf-8")
            status = runner([*command, str(tmp)])
            saved = tmp.read_text(encoding="utf-8")
            if status != 0:
                raise UserError(
                    f"the editor ({command[0]}) exited with status {status}; {path} is unchanged"
                )
            body = _strip_header(saved)
            if body == original:
                return False
            cfg, next_shown = _validate_shown(body, path)
            if cfg is not None:
                write_atomic(path, body, mode)
                return True
            if saved == shown:
                # Saved unchanged while invalid: the user gives up; say what is still wrong.
                try:
                    loads(body, path)
                except ConfigError as exc:
                    raise UserError(
                        f"gave up: the edited config is invalid, so {path} is unchanged",
                        problems=exc.problems or [exc.message],
                    ) from None
            shown = next_shown
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def stat_mode(path: Path) -> int:
    import stat

    return stat.S_IMODE(path.stat().st_mode)
