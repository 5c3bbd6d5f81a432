"""Rendering: a pure function from (template name, context) to markdown.

Templates live in `templates/` (package data when installed). Autoescape is off because the
output is markdown, so every user-supplied value goes through the one `md` filter, which keeps
it from mentioning people, running quick actions, injecting HTML or breaking a table.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from escbot.errors import EscbotError

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_MENTION = re.compile(r"@(?=[\w.\-])")


def templates_dir() -> Path:
    packaged = resources.files("escbot").joinpath("_data/templates")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "templates"


def md(value: Any) -> str:
    """User text made inert, on one line: no mentions, quick actions, HTML or table breaks."""
    text = " ".join(str(value).split())  # newlines would start a quick action or a table row
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MENTION.sub("@&#8203;", text)  # a zero-width space stops @all and @user
    if text.startswith("/"):
        text = "&#47;" + text[1:]
    return text


def lower_first(title: str) -> str:
    """A title inside a sentence: "Status update" -> "status update", acronyms kept ("RAID")."""
    first = title.split(" ", 1)[0]
    if len(first) > 1 and first.isupper():
        return title
    return title[:1].lower() + title[1:]


def mention(username: str) -> str:
    """An intended mention of a validated GitLab username."""
    name = username.lstrip("@")
    if not re.fullmatch(r"[A-Za-z0-9_.][A-Za-z0-9_.\-]*", name):
        raise EscbotError(f'"{username}" is not a GitLab username')
    return "@" + name


@cache
def environment(dirs: tuple[str, ...] = ()) -> jinja2.Environment:
    """Templates from `dirs` (an organisation's own, searched first), then the shipped ones."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*dirs, str(templates_dir())]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md
    env.filters["mention"] = mention
    return env


def render(name: str, *, dirs: tuple[str, ...] = (), **context: Any) -> str:
    try:
        return environment(dirs).get_template(name).render(**context)
    except jinja2.TemplateNotFound:
        where = " or ".join([*dirs, str(templates_dir())])
        raise EscbotError(f"template {name} not found in {where}") from None
    except jinja2.UndefinedError as exc:
        raise EscbotError(f"templates/{name}: {exc.message}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise EscbotError(f"templates/{exc.name or name}:{exc.lineno}: {exc.message}") from None
