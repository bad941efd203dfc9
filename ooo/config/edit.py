"""The config file as the owner handles it: ``ooo config show``, ``init``, ``edit`` and ``set``.

- ``show`` prints the effective config (every default filled in) as TOML, secrets redacted.
- ``init`` writes a commented starter config from ``config.example.toml`` with the answers to
  the few questions that matter (name, addresses, dates, servers, login); the example's
  network, delegate, audience and route entries stay in it as comments to enable.
- ``edit`` works like ``crontab -e`` / ``visudo``: ``$VISUAL``/``$EDITOR`` on a copy, validated
  on save; an invalid copy is reopened with the problems on top as comment lines; the real file
  is replaced atomically, and only by a valid config.
- ``set KEY VALUE`` changes one key (``away.end``, ``network[0].label``) in place: every
  comment and the layout of the rest of the file stay as they are; the file is replaced
  atomically, and only when the result is a valid config.

TOML is read and written with tomlkit, which keeps comments and layout; never by hand.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import tomlkit
from pydantic import BaseModel
from tomlkit.container import Container, OutOfOrderTableProxy
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, Comment, InlineTable, Item, Table, Whitespace

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


# -- TOML values -----------------------------------------------------------------------------


def parse_value(text: str) -> Item | None:
    """``text`` as one TOML value (``true``, ``42``, ``2027-01-12``, ``["a", "b"]``,
    ``"quoted"``), or None when it is not one."""
    try:
        doc = tomlkit.parse(f"v = {text}")
    except (TOMLKitError, ValueError):
        return None
    if list(doc) != ["v"]:
        return None  # "1\n[owner]...": more than one value
    return toml_item(doc.item("v").unwrap())


def toml_item(value: Any) -> Item:
    """A Python value as a TOML item, the way the config file spells it: durations as "7d",
    paths as strings, mappings inside a value as inline tables, and date-times as ISO 8601
    with their offset (+00:00, never Z), which every TOML reader takes."""
    if isinstance(value, timedelta):
        return tomlkit.item(format_duration(value))
    if isinstance(value, Path):
        return tomlkit.item(str(value))
    if isinstance(value, datetime | date | time):
        spelled = tomlkit.parse(f"v = {value.isoformat()}").item("v")
        assert isinstance(spelled, Item)
        return spelled
    if isinstance(value, Mapping):
        table = tomlkit.inline_table()
        for k, v in value.items():
            if v is not None:
                table.append(k, toml_item(v))
        return table
    if isinstance(value, list | tuple | set | frozenset):
        array = tomlkit.array()
        array.extend(toml_item(v) for v in value)
        return array
    item: Item = tomlkit.item(value)
    return item


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


# -- show ------------------------------------------------------------------------------------


def show(cfg: Config) -> str:
    """The effective config as TOML, with secrets redacted."""
    data = cfg.model_dump(mode="python", by_alias=True, exclude={"path"})
    doc = tomlkit.document()
    doc.add(
        tomlkit.comment(f"effective config of {cfg.path} (defaults filled in, secrets redacted)")
    )
    _add_tables(doc, _redact(data))
    return doc.as_string().strip() + "\n"


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if is_secret_key(k) and v is not None else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _add_tables(into: Container | Table, table: Mapping[str, Any]) -> None:
    """The values of ``table`` first, then its tables and arrays of tables."""
    for name, value in table.items():
        if value is None or _is_table(value) or _is_table_array(value):
            continue
        into.add(name, toml_item(value))
    for name, value in table.items():
        if _is_table(value):
            sub = tomlkit.table()
            _add_tables(sub, value)
            into.add(name, sub)
        elif _is_table_array(value):
            entries = tomlkit.aot()
            for item in value:
                entry = tomlkit.table()
                _add_tables(entry, item)
                entries.append(entry)
            into.add(name, entries)


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
    """The example config with the answers filled in and its tables after [smtp] (network,
    delegate, audiences, routes...) commented out: examples to enable, not settings."""
    doc = tomlkit.parse(example)
    for name, _prompt, table, key in QUESTIONS:
        _fill(doc, table, key, _answer(name, answers.get(name) or ""))
    _fill(doc, "smtp", "username", answers.get("username") or "")
    keys = list(doc)
    whole = doc.as_string()
    for key in keys[keys.index("smtp") + 1 :]:
        doc.remove(key)
    kept = doc.as_string()  # the text up to the end of [smtp]: removing the last tables
    header = (
        "# Written by `ooo config init`. Check it with `ooo check`; change it with "
        "`ooo config edit`.\n"
        "# The network, delegate, audience and route entries below are examples: remove the\n"
        "# leading '# ' of a block to use it.\n"
    )
    return header + kept + _commented(whole[len(kept) :])


def _answer(name: str, value: str) -> object:
    if name == "addresses":
        return [a.strip() for a in value.split(",") if a.strip()]
    if name in ("start", "end"):
        return _toml_date(name, value)
    return value


def _toml_date(name: str, value: str) -> date:
    text = value.strip().replace(" ", "T")
    try:
        return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
    except ValueError as exc:
        raise UserError(
            f"--{name} {value!r}: expected a date (2026-12-20) or a date and time "
            "(2026-12-20T09:00)"
        ) from exc


def _fill(doc: tomlkit.TOMLDocument, table: str, key: str, value: object) -> None:
    """Set ``key`` in the example's ``[table]``, keeping the comments around it."""
    section = doc.get(table)
    if not isinstance(section, Table) or key not in section:
        raise UserError(f"config.example.toml has no {table}.{key} to fill in")
    section[key] = toml_item(value)


def _commented(text: str) -> str:
    """Every line of ``text`` that is not already a comment or blank, as a comment."""
    return "".join(
        "# " + line if line.strip() and not line.lstrip().startswith("#") else line
        for line in text.splitlines(keepends=True)
    )


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
    original = _read(path)
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


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UserError(
            f"no config file at {path}", advice="create one with `ooo config init`"
        ) from exc


def stat_mode(path: Path) -> int:
    import stat

    return stat.S_IMODE(path.stat().st_mode)


# -- set -------------------------------------------------------------------------------------

#: One step of a key: a name with optional indexes, ``network[0]``.
_STEP = re.compile(r"([A-Za-z0-9_-]+)((?:\[\d+\])*)")

KeyPath = list[str | int]
"""``network[0].label`` as ``["network", 0, "label"]``."""

#: What tomlkit hands out for a table: the document, a [table] or [[entry]], { inline }, or a
#: table defined in more than one place.
TableLike = (Container, Table, InlineTable, OutOfOrderTableProxy)


def key_path(key: str) -> KeyPath:
    path: KeyPath = []
    for part in key.split("."):
        m = _STEP.fullmatch(part)
        if m is None:
            raise UserError(
                f"{key!r} is not a config key",
                advice="write it as in the file, with dots between tables: away.end, "
                "reply.external.cc_delegate, network[0].label",
            )
        path.append(m.group(1))
        path += [int(i) for i in re.findall(r"\d+", m.group(2))]
    return path


def key_name(path: KeyPath) -> str:
    """The inverse of :func:`key_path`."""
    name = ""
    for step in path:
        name += f"[{step}]" if isinstance(step, int) else (f".{step}" if name else step)
    return name


def _unwrap(annotation: Any) -> Any:
    """``X | None`` → ``X``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def check_key(path: KeyPath) -> None:
    """A UserError naming the key unless the config has such a key: a typo is caught before
    the file is read, with the nearest real key as a hint."""
    kind: Any = Config
    for i, step in enumerate(path):
        here, name = key_name(path[:i]), key_name(path[: i + 1])
        kind = _unwrap(kind)
        if isinstance(step, int):
            if get_origin(kind) is not list:
                raise UserError(f"{here} is not a list, so there is no {name}")
            kind = get_args(kind)[0]
        elif get_origin(kind) is list:
            raise UserError(
                f"{here} is a list: name one entry, e.g. {here}[0].{step}",
                advice=f"{here}[0] is the first [[{here}]] table in the file",
            )
        elif not (isinstance(kind, type) and issubclass(kind, BaseModel)):
            raise UserError(f"{here} is a value, not a table, so there is no {name}")
        else:
            fields = {f.alias or n: f for n, f in kind.model_fields.items() if not f.exclude}
            if step not in fields:
                close = difflib.get_close_matches(step, fields, n=1)
                where = f"[{here}]" if here else "the top level"
                raise UserError(
                    f"{name} is not a config key",
                    advice=f"did you mean {key_name([*path[:i], close[0]])}?"
                    if close
                    else f"the keys of {where} are: {', '.join(fields)}",
                )
            kind = fields[step].annotation


def set_value(path: Path, key: str, value: str) -> tuple[bool, str]:
    """Set ``key`` to ``value`` (TOML where it parses as one value, else a string) in the
    config file at ``path``, keeping every comment and the layout of the rest of the file.
    The file is replaced atomically, mode kept, and only when the result is a valid config.
    Returns whether the file changed, and the assignment as written."""
    steps = key_path(key)
    check_key(steps)
    original = _read(path)
    try:
        doc = tomlkit.parse(original)
    except TOMLKitError as exc:
        loads(original, path)  # the loader's own message, with the line, if it agrees
        raise UserError(
            f"cannot read {path} to change it: {exc}", advice="fix it with `ooo config edit`"
        ) from exc
    item = parse_value(value)
    item = tomlkit.string(value) if item is None else item
    _assign(doc, steps, item)
    text = doc.as_string()
    assignment = f"{key_name(steps)} = {item.as_string()}"
    if text == original:
        return False, assignment
    try:
        loads(text, path)
    except ConfigError as exc:
        try:
            loads(original, path)
            what = f"with {assignment}, {path} would be invalid"
        except ConfigError:
            what = f"{path} is invalid, with or without {assignment}"
        problems = exc.problems or [exc.message]
        about_value = any(f"{key_name(steps)}:" in problem for problem in problems)
        raise UserError(
            f"not saved: {what}; it is unchanged",
            problems=problems,
            advice="VALUE is read as TOML where it is one value (true, 42, 2027-01-12, "
            '["a@x", "b@y"], "text"), and as text otherwise'
            if about_value
            else "to change several keys at once, use `ooo config edit`",
        ) from None
    write_atomic(path, text, stat_mode(path))
    return True, assignment


def _assign(doc: tomlkit.TOMLDocument, steps: KeyPath, item: Item) -> None:
    """Put ``item`` at ``steps`` in ``doc``, creating the tables on the way."""
    here: Any = doc
    for i, step in enumerate(steps[:-1]):
        if isinstance(step, int):
            here = _entry(here, step, steps[: i + 1])
        elif step not in here:
            if isinstance(steps[i + 1], int):
                raise UserError(
                    f"{key_name(steps[: i + 2])} does not exist: the file has no "
                    f"[[{key_name(steps[: i + 1])}]]",
                    advice="add entries with `ooo config edit`",
                )
            _put(here, step, tomlkit.table())
            here = here[step]
        else:
            here = here[step]
        if not isinstance(here, TableLike) and not isinstance(steps[i + 1], int):
            raise UserError(f"{key_name(steps[: i + 1])} is not a table in the file")
    last = steps[-1]
    current = _entry(here, last, steps) if isinstance(last, int) else here.get(last)
    if isinstance(current, AoT | Table):
        name = key_name(steps)
        raise UserError(
            f"{name} is a table: set its keys one at a time",
            advice=f"`ooo config set {name}.KEY VALUE`, or `ooo config edit`",
        )
    if isinstance(item, InlineTable) and isinstance(here, Container) and current is None:
        table = tomlkit.table()  # a new top-level table is written as [name], not name = {...}
        table.update(item.unwrap())
        item = table
    if isinstance(last, int):
        here[last] = item
    else:
        _put(here, last, item)


def _entry(here: Any, index: int, steps: KeyPath) -> Any:
    """Entry ``index`` of the array (of tables) ``here``."""
    count = len(here) if isinstance(here, AoT | Array) else 0
    if index >= count:
        entries = "entry" if count == 1 else "entries"
        raise UserError(
            f"{key_name(steps)} does not exist: the file has {count} "
            f"{key_name(steps[:-1])} {entries}",
            advice="add entries with `ooo config edit`",
        )
    return here[index]


# Where a new key or table goes: after the last thing in its table, but before the blank line
# and comment block that introduce the next table (which TOML counts as part of this one).


def _put(here: Any, key: str, item: Item) -> None:
    if not isinstance(here, Container | Table) or key in here:
        here[key] = item
        return
    is_table = isinstance(item, Table)
    preamble = _detach_preamble(_last_table(here) if is_table else here)
    here[key] = item
    owner = here[key] if is_table else here
    for trivia in preamble:
        owner.add(trivia)


def _body(table: Container | Table) -> list[tuple[Any, Item]]:
    return table.body if isinstance(table, Container) else table.value.body


def _last_table(table: Container | Table) -> Container | Table:
    """The table whose text comes last in ``table``: its last sub-table, or the last entry of
    its last array of tables, and so on down."""
    while True:
        body = _body(table)
        last = body[-1][1] if body else None
        if isinstance(last, Table):
            table = last
        elif isinstance(last, AoT) and last.body:
            table = last.body[-1]
        else:
            return table


def _detach_preamble(table: Container | Table) -> list[Comment | Whitespace]:
    """Remove and return what ends ``table`` after its content: from the first blank line
    after its last key on, the comment paragraphs that introduce whatever comes next in the
    file (comment lines right under the last key stay: they are about it)."""
    body = _body(table)
    last = max((i for i, (k, _) in enumerate(body) if k is not None), default=-1)
    start = next(
        (i for i in range(last + 1, len(body)) if isinstance(body[i][1], Whitespace)), None
    )
    if start is None or not all(
        k is None and isinstance(item, Comment | Whitespace) for k, item in body[start:]
    ):
        return []
    preamble = [item for _, item in body[start:] if isinstance(item, Comment | Whitespace)]
    del body[start:]
    return preamble
