"""GitLab Flavored Markdown for the web view, as GitLab renders descriptions and notes.

markdown-it-py parses CommonMark; mdit-py-plugins adds GitLab's extensions (task lists,
footnotes, heading anchors; tables and strikethrough are built in; GitLab's inapplicable
task `[~]` is a small rule here). Raw HTML is allowed
and then sanitized with nh3 to an allowlist like GitLab's, which also drops HTML comments
(escbot's hidden markers). Mermaid blocks stay source code: nothing is fetched.
References (`#12`, `@user`, `~label`) become links when they name something that exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

# GitLab's reference syntax: #12, @user.name, ~label, ~"label with spaces", ~scope::value.
REFERENCE = re.compile(
    r"(?<![\w/&#@~])(?:#(?P<iid>\d+)\b|@(?P<user>[A-Za-z0-9_][A-Za-z0-9_.-]*[A-Za-z0-9_]|\w)"
    r'|~"(?P<qlabel>[^"\n]+)"|~(?P<label>[A-Za-z0-9_][\w.:-]*[A-Za-z0-9_]|\w))'
)

TAGS = nh3.ALLOWED_TAGS | {"input", "section"}
ATTRIBUTES = {
    "*": {"id", "class", "title", "dir", "lang"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "input": {"checked", "disabled"},  # type: checkbox only, below
    "td": {"style", "align", "colspan", "rowspan"},
    "th": {"style", "align", "colspan", "rowspan"},
    "ol": {"start"},
    "details": {"open"},
}


@dataclass
class References:
    """Where `#12`, `@user` and `~label` point; None leaves the text as it is (as GitLab
    leaves a reference to nothing)."""

    issue: Callable[[int], str | None]
    user: Callable[[str], str | None]
    label: Callable[[str], str | None]  # the HTML of a label pill


NO_REFERENCES = References(lambda _: None, lambda _: None, lambda _: None)


def _fence(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    if token.info.strip().lower() == "mermaid":
        return (
            '<figure class="mermaid"><figcaption>Mermaid diagram (source)</figcaption>'
            f'<pre><code class="language-mermaid">{escape(token.content)}</code></pre></figure>\n'
        )
    return self.fence(tokens, idx, options, env)


def _link_references(state: StateCore) -> None:
    refs: References = state.env.get("gitlab_refs", NO_REFERENCES)
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        out: list[Token] = []
        in_link = 0
        for tok in block.children:
            in_link += {"link_open": 1, "link_close": -1}.get(tok.type, 0)
            if tok.type != "text" or in_link:
                out.append(tok)
                continue
            out.extend(_split(tok.content, refs))
        block.children = out


def _inapplicable_tasks(state: StateCore) -> None:
    """GitLab's third task state, `- [~] item`: a disabled box and the item struck out."""
    tokens = state.tokens
    for n, tok in enumerate(tokens):
        first = tok.children[0] if tok.type == "inline" and tok.children else None
        if (
            first is None or first.type != "text" or not first.content.startswith("[~] ")
            or n < 2 or tokens[n - 2].type != "list_item_open"
        ):  # fmt: skip
            continue
        tokens[n - 2].attrSet("class", "task-list-item inapplicable")
        first.content = first.content[4:]
        box = '<input class="task-list-item-checkbox" type="checkbox" disabled="disabled"> <s>'
        tok.children = [Token("html_inline", "", 0, content=box), *(tok.children or []),
                        Token("html_inline", "", 0, content="</s>")]  # fmt: skip
        for parent in reversed(tokens[: n - 2]):
            if parent.type in ("bullet_list_open", "ordered_list_open") and parent.level == (
                tokens[n - 2].level - 1
            ):
                parent.attrSet("class", "contains-task-list")
                break


def _split(text: str, refs: References) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    for m in REFERENCE.finditer(text):
        html = _reference_html(m, refs)
        if html is None:
            continue
        if m.start() > pos:
            tokens.append(_text(text[pos : m.start()]))
        tokens.append(Token("html_inline", "", 0, content=html))
        pos = m.end()
    if pos < len(text):
        tokens.append(_text(text[pos:]))
    return tokens


def _text(content: str) -> Token:
    return Token("text", "", 0, content=content)


def _reference_html(m: re.Match[str], refs: References) -> str | None:
    if m["iid"]:
        url = refs.issue(int(m["iid"]))
        kind = "issue"
    elif m["user"]:
        url = refs.user(m["user"])
        kind = "user"
    else:
        return refs.label(m["qlabel"] or m["label"])
    if url is None:
        return None
    return f'<a href="{escape(url)}" class="gfm gfm-{kind}">{escape(m[0])}</a>'


def _parser() -> MarkdownIt:
    md = (
        MarkdownIt("commonmark", {"html": True})
        .enable(["table", "strikethrough"])
        .use(tasklists_plugin)  # read-only: checkboxes stay disabled
        .use(footnote_plugin)
        .use(anchors_plugin, min_level=1, max_level=6)
    )
    md.add_render_rule("fence", _fence)
    md.core.ruler.push("gitlab_inapplicable_tasks", _inapplicable_tasks)
    md.core.ruler.push("gitlab_references", _link_references)
    return md


_MD = _parser()


def render(text: str | None, refs: References = NO_REFERENCES) -> Markup:
    """Markdown to safe HTML."""
    if not text:
        return Markup("")
    html = _MD.render(text, {"gitlab_refs": refs})
    clean = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        tag_attribute_values={"input": {"type": {"checkbox"}}},
        filter_style_properties={"text-align"},
    )
    return Markup(clean)  # sanitized just above
