"""The settings explained: what each one is, what it is now and where that came from.

    Settings.model_fields ──markdown()──► docs/settings.md (`loopwatch config --markdown`)
    Settings() + its sources ──effective()──► `loopwatch config`: value (secrets masked), source

The table is generated, never written by hand, and ``tests/test_settings_doc.py`` compares the
committed file with it, so a new field without a description or a changed default shows up as
a failing test, not as a wrong document.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import DotEnvSettingsSource, EnvSettingsSource

from loopwatch.settings import ENV_FILE_VARIABLE, ENV_PREFIX, Settings, env_file

MASK = "********"
UNSET = "(unset)"
NONE = "(none)"

_HEADER = """\
# Settings

Every `LOOPWATCH_*` setting, read from the environment or from a `.env` file in the working
directory (`LOOPWATCH_ENV_FILE` names another). The environment wins over the file; the file
over the default. `loopwatch config` prints the values in effect and where each came from,
secrets masked. Lists are comma-separated (`a,b`) or JSON lists of strings (`["a", "b"]`); an
empty item (`a,,b`) is refused.

This file is generated from `loopwatch/settings.py`: run `loopwatch config --markdown >
docs/settings.md` after changing a setting (a test fails until the two agree).

| Variable | Default | Description |
|---|---|---|
"""


@dataclass(frozen=True, slots=True)
class Effective:
    """One setting as it is in effect: its variable, its value for display, its source."""

    variable: str
    value: str
    source: str


def variable(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


def markdown() -> str:
    """The table of every setting: variable, default, description (``docs/settings.md``)."""
    rows = [
        f"| `{variable(name)}` | {_cell(default_text(field))} | {_cell(field.description or '')} |"
        for name, field in Settings.model_fields.items()
    ]
    return _HEADER + "\n".join(rows) + "\n"


def default_text(field: FieldInfo) -> str:
    """The default as the table shows it (a computed default says how it is computed)."""
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("default_text"), str):
        return str(extra["default_text"])
    if field.default is PydanticUndefined:
        factory: Any = field.default_factory
        value = factory() if factory is not None else None
    else:
        value = field.default
    return UNSET if value is None else shown(value)


def effective() -> tuple[Path | None, list[Effective]]:
    """The ``.env`` file read (None without one) and every setting in effect with its source:
    ``environment``, ``.env file`` or ``default``. Raises what ``Settings()`` raises."""
    settings = Settings()
    path = env_file()
    from_env = EnvSettingsSource(Settings)()
    from_file = DotEnvSettingsSource(Settings, env_file=path)() if path is not None else {}
    rows = []
    for name in Settings.model_fields:
        if name in from_env:
            source = "environment"
        elif name in from_file:
            source = ".env file"
        else:
            source = "default"
        rows.append(Effective(variable(name), shown(getattr(settings, name)), source))
    return path, rows


def render(path: Path | None, rows: list[Effective]) -> str:
    """``effective()`` for people: one aligned line per setting, under the file read."""
    if path is None:
        head = "settings file: none (no ./.env, and LOOPWATCH_ENV_FILE is not set)"
    else:
        named = f" (named by {ENV_FILE_VARIABLE})" if _named_file() else ""
        head = f"settings file: {path.resolve()}{named}"
    width = max(len(r.variable) for r in rows)
    value_width = min(48, max(len(r.value) for r in rows))
    lines = [head, ""]
    lines += [f"{r.variable:<{width}}  {r.value:<{value_width}}  {r.source}" for r in rows]
    return "\n".join(lines) + "\n"


def shown(value: object) -> str:
    """A value for display: secrets masked (SecretStr, and URLs' passwords), lists joined."""
    if value is None:
        return UNSET
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, list | tuple):
        return ",".join(shown(item) for item in value) if value else NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return mask_url(value)
    return str(value)


def mask_url(text: str) -> str:
    """``https://user:secret@host/x`` → ``https://user:********@host/x``; other text as is."""
    if "@" not in text or "://" not in text:
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))


def expected_value(field: FieldInfo | None) -> str:
    """What a valid value of ``field`` looks like, for an error line: "an integer >= 1"."""
    if field is None:
        return "a valid value"
    kind = _kind(field.annotation)
    bounds = [
        f"{symbol} {getattr(rule, attr)}"
        for rule in field.metadata
        for attr, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
        if getattr(rule, attr, None) is not None
    ]
    text = kind + (" " + " and ".join(bounds) if bounds else "")
    default = default_text(field)
    return text if default == UNSET else f"{text} (default {default})"


def _kind(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _kind(args[0])
    if origin is list:
        return "a comma-separated list (or a JSON list of strings)"
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "an integer"
    if annotation is float:
        return "a number"
    return "text"


def _named_file() -> bool:
    import os

    return bool(os.environ.get(ENV_FILE_VARIABLE))


def _cell(text: str) -> str:
    # CommonMark backslash escapes: a | would end the cell, a <data_dir> would be taken for HTML.
    for char in "\\|<>":
        text = text.replace(char, "\\" + char)
    return text.replace("\n", " ")
