"""Project and group labels, including the deprecated PUT/DELETE on the collection
that python-gitlab's `label.save()` uses."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from escbot.sandbox import render
from escbot.sandbox.access import (
    DEVELOPER,
    REPORTER,
    ancestors,
    descendant_ids,
    find_group,
    find_project,
)
from escbot.sandbox.core import (
    ApiError,
    Ctx,
    at_least_one,
    missing,
    not_found,
    paginate_list,
    route,
    to_int,
    validation,
)

_HEX = re.compile(r"^#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$")
CSS_COLORS = {
    "black": "#000000", "white": "#ffffff", "red": "#ff0000", "green": "#008000",
    "blue": "#0000ff", "yellow": "#ffff00", "orange": "#ffa500", "purple": "#800080",
    "pink": "#ffc0cb", "gray": "#808080", "grey": "#808080", "brown": "#a52a2a",
    "cyan": "#00ffff", "magenta": "#ff00ff", "lime": "#00ff00", "navy": "#000080",
    "teal": "#008080", "olive": "#808000", "maroon": "#800000", "silver": "#c0c0c0",
    "aqua": "#00ffff", "fuchsia": "#ff00ff", "gold": "#ffd700", "indigo": "#4b0082",
    "violet": "#ee82ee", "crimson": "#dc143c", "coral": "#ff7f50", "salmon": "#fa8072",
    "tomato": "#ff6347", "khaki": "#f0e68c", "orchid": "#da70d6", "plum": "#dda0dd",
    "tan": "#d2b48c", "turquoise": "#40e0d0", "skyblue": "#87ceeb", "steelblue": "#4682b4",
    "royalblue": "#4169e1", "darkred": "#8b0000", "darkgreen": "#006400",
    "darkblue": "#00008b", "darkorange": "#ff8c00", "lightblue": "#add8e6",
    "lightgreen": "#90ee90", "lightgray": "#d3d3d3", "lightgrey": "#d3d3d3",
    "darkgray": "#a9a9a9", "darkgrey": "#a9a9a9", "firebrick": "#b22222",
    "forestgreen": "#228b22", "seagreen": "#2e8b57", "slategray": "#708090",
    "chocolate": "#d2691e", "goldenrod": "#daa520", "beige": "#f5f5dc", "ivory": "#fffff0",
    "lavender": "#e6e6fa", "mintcream": "#f5fffa", "hotpink": "#ff69b4",
    "deeppink": "#ff1493", "dodgerblue": "#1e90ff", "midnightblue": "#191970",
}  # fmt: skip


def _color(value: str | None) -> str:
    v = (value or "").strip()
    if _HEX.match(v):
        if len(v) == 4:  # #abc -> #aabbcc
            v = "#" + "".join(c * 2 for c in v[1:])
        return v
    if v.lower() in CSS_COLORS:
        return CSS_COLORS[v.lower()]
    raise validation("color", "must be a valid color code")


def _check_title(title: str) -> None:
    if not title.strip():
        raise validation("title", "can't be blank")
    if len(title) > 255:
        raise validation("title", "is too long (maximum is 255 characters)")
    if "," in title:
        raise validation("title", "is invalid")


def _priority(ctx: Ctx) -> int | None:
    v = ctx.raw("priority")
    if v in (None, ""):
        return None
    p = to_int(v, "priority")
    if p < 0:
        raise validation("priority", "must be greater than or equal to 0")
    return p


# ---------------------------------------------------------------- owners
class Owner:
    """A project or a group, with the labels visible from it."""

    def __init__(self, ctx: Ctx, kind: str, row: sqlite3.Row) -> None:
        self.ctx, self.kind, self.row = ctx, kind, row
        ns_id = row["namespace_id"] if kind == "project" else row["parent_id"]
        self.ancestor_groups = [n["id"] for n in ancestors(ctx.conn, ns_id) if n["kind"] == "group"]
        ctx.cache["label_context"] = kind

    @property
    def col(self) -> str:
        return "project_id" if self.kind == "project" else "group_id"

    def own(self, sql_extra: str = "", args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self.ctx.conn.execute(
            f"SELECT * FROM labels WHERE {self.col} = ? {sql_extra}", (self.row["id"], *args)
        ).fetchall()

    def available(self) -> list[sqlite3.Row]:
        rows = self.own()
        if self.ancestor_groups:
            marks = ",".join("?" * len(self.ancestor_groups))
            rows += self.ctx.conn.execute(
                f"SELECT * FROM labels WHERE group_id IN ({marks})", self.ancestor_groups
            ).fetchall()
        return rows

    def find(self, ident: str, *, own_only: bool) -> sqlite3.Row:
        """Id first, then (percent-decoded) title; own labels only for writes."""
        pool = self.own() if own_only else self.available()
        if ident.isdigit():
            for lb in pool:
                if lb["id"] == int(ident):
                    return lb
        for lb in pool:
            if lb["title"] == ident:
                return lb
        raise not_found("Label")


def _project_owner(ctx: Ctx, level: int = 0) -> Owner:
    p = find_project(ctx, ctx.path_params["id"], level=level)
    return Owner(ctx, "project", p)


def _group_owner(ctx: Ctx, level: int = 0) -> Owner:
    g = find_group(ctx, ctx.path_params["id"], level=level)
    return Owner(ctx, "group", g)


def _list(ctx: Ctx, owner: Owner) -> Any:
    counts = bool(ctx.bool_("with_counts", False))
    if owner.kind == "project":
        rows = owner.available() if ctx.bool_("include_ancestor_groups", True) else owner.own()
    else:
        rows = owner.own()
        if ctx.bool_("include_ancestor_groups", True):
            rows = owner.available()
        ids: list[int] = []
        if ctx.bool_("include_descendant_groups", False):
            ids = [i for i in descendant_ids(ctx.conn, owner.row["id"]) if i != owner.row["id"]]
            if ids:
                marks = ",".join("?" * len(ids))
                rows += ctx.conn.execute(
                    f"SELECT * FROM labels WHERE group_id IN ({marks})", ids
                ).fetchall()
        if not ctx.bool_("only_group_labels", True):
            # Also the project labels of the group's projects (and, with descendants, theirs).
            marks = ",".join("?" * (len(ids) + 1))
            rows += ctx.conn.execute(
                f"SELECT * FROM labels WHERE project_id IN (SELECT id FROM projects "
                f"WHERE namespace_id IN ({marks}))",
                [owner.row["id"], *ids],
            ).fetchall()
    archived = ctx.bool_("archived")
    if archived is not None:
        rows = [r for r in rows if bool(r["archived"]) == archived]
    search = ctx.str_("search")
    if search:
        s = search.lower()
        rows = [r for r in rows if s in r["title"].lower() or s in (r["description"] or "").lower()]
    rows = sorted(rows, key=lambda r: (r["title"], r["id"]))
    page = paginate_list(
        ctx, rows,
        {"id": ctx.path_params["id"], "include_ancestor_groups": True, "with_counts": False},
    )  # fmt: skip
    return [render.label_json(ctx, r, counts=counts) for r in page]


def _create(ctx: Ctx, owner: Owner) -> Any:
    need = [n for n in ("name", "color") if ctx.raw(n) in (None,)]
    if need:
        raise missing(*need)
    title = ctx.str_("name") or ""
    _check_title(title)
    color = _color(ctx.str_("color"))
    if any(lb["title"] == title for lb in owner.available()):
        raise ApiError(409, {"message": "Label already exists"})
    priority = _priority(ctx) if owner.kind == "project" else None
    lid = ctx.conn.execute(
        f"INSERT INTO labels (title, color, description, priority, {owner.col}, archived, "
        f"created_at) VALUES (?,?,?,?,?,?,?)",
        (title, color, ctx.str_("description"), priority, owner.row["id"],
         int(bool(ctx.bool_("archived", False))), ctx.now()),
    ).lastrowid  # fmt: skip
    ctx.status = 201
    row = ctx.conn.execute("SELECT * FROM labels WHERE id = ?", (lid,)).fetchone()
    return render.label_json(ctx, row)


def _update(ctx: Ctx, owner: Owner, ident: str | None) -> Any:
    if ident is None:
        ident = ctx.str_("label_id") or ctx.str_("name")
        if ident is None:
            raise ApiError(400, {"error": "label_id, name are missing, exactly one parameter "
                                          "must be provided"})  # fmt: skip
    keys = ["new_name", "color", "description", "priority", "archived"]
    if owner.kind == "group":
        keys.remove("priority")
    if not any(k in ctx.params for k in keys):
        raise at_least_one(keys)
    label = owner.find(ident, own_only=True)
    updates: dict[str, Any] = {}
    if ctx.has("new_name"):
        new = ctx.str_("new_name") or ""
        _check_title(new)
        if new != label["title"] and any(lb["title"] == new for lb in owner.available()):
            raise validation("title", "has already been taken")
        updates["title"] = new
    if ctx.has("color"):
        updates["color"] = _color(ctx.str_("color"))
    if ctx.has("description"):
        updates["description"] = ctx.str_("description")
    if ctx.has("priority") and owner.kind == "project":
        updates["priority"] = _priority(ctx)
    if ctx.has("archived"):
        updates["archived"] = int(bool(ctx.bool_("archived")))
    if updates:
        sets = ", ".join(f"{k} = ?" for k in updates)
        ctx.conn.execute(f"UPDATE labels SET {sets} WHERE id = ?", [*updates.values(), label["id"]])
        if "title" in updates:
            ctx.conn.execute(
                "UPDATE issue_labels SET label_title = ? WHERE label_id = ?",
                (updates["title"], label["id"]),
            )
    row = ctx.conn.execute("SELECT * FROM labels WHERE id = ?", (label["id"],)).fetchone()
    return render.label_json(ctx, row)


def _delete(ctx: Ctx, owner: Owner, ident: str | None) -> Any:
    if ident is None:
        ident = ctx.str_("label_id") or ctx.str_("name")
        if ident is None:
            raise ApiError(400, {"error": "label_id, name are missing, exactly one parameter "
                                          "must be provided"})  # fmt: skip
    label = owner.find(ident, own_only=True)
    ctx.conn.execute("DELETE FROM issue_labels WHERE label_id = ?", (label["id"],))
    ctx.conn.execute("DELETE FROM labels WHERE id = ?", (label["id"],))
    ctx.status = 204
    return None


# Project routes.
@route("GET", "/projects/:id/labels")
def list_project_labels(ctx: Ctx) -> Any:
    return _list(ctx, _project_owner(ctx))


@route("POST", "/projects/:id/labels")
def create_project_label(ctx: Ctx) -> Any:
    return _create(ctx, _project_owner(ctx, REPORTER))


@route("GET", "/projects/:id/labels/:label_id")
def get_project_label(ctx: Ctx) -> Any:
    owner = _project_owner(ctx)
    return render.label_json(
        ctx, owner.find(ctx.path_params["label_id"], own_only=False),
        counts=bool(ctx.bool_("with_counts", False)),
    )  # fmt: skip


@route("PUT", "/projects/:id/labels/:label_id")
def update_project_label(ctx: Ctx) -> Any:
    return _update(ctx, _project_owner(ctx, DEVELOPER), ctx.path_params["label_id"])


@route("PUT", "/projects/:id/labels")
def update_project_label_legacy(ctx: Ctx) -> Any:
    return _update(ctx, _project_owner(ctx, DEVELOPER), None)


@route("DELETE", "/projects/:id/labels/:label_id")
def delete_project_label(ctx: Ctx) -> Any:
    return _delete(ctx, _project_owner(ctx, DEVELOPER), ctx.path_params["label_id"])


@route("DELETE", "/projects/:id/labels")
def delete_project_label_legacy(ctx: Ctx) -> Any:
    return _delete(ctx, _project_owner(ctx, DEVELOPER), None)


def _subscription(ctx: Ctx, owner: Owner, subscribe: bool) -> Any:
    """POST .../subscribe and .../unsubscribe: 304 when nothing changes."""
    label = owner.find(ctx.path_params["label_id"], own_only=False)
    args = (label["id"], ctx.user["id"])
    if subscribe:
        changed = ctx.conn.execute(
            "INSERT OR IGNORE INTO label_subscriptions VALUES (?, ?)", args
        ).rowcount
    else:
        changed = ctx.conn.execute(
            "DELETE FROM label_subscriptions WHERE label_id = ? AND user_id = ?", args
        ).rowcount
    if not changed:
        raise ApiError(304, None)
    ctx.status = 201
    return render.label_json(ctx, label)


@route("POST", "/projects/:id/labels/:label_id/subscribe")
def subscribe_project_label(ctx: Ctx) -> Any:
    return _subscription(ctx, _project_owner(ctx), True)


@route("POST", "/projects/:id/labels/:label_id/unsubscribe")
def unsubscribe_project_label(ctx: Ctx) -> Any:
    return _subscription(ctx, _project_owner(ctx), False)


@route("POST", "/groups/:id/labels/:label_id/subscribe")
def subscribe_group_label(ctx: Ctx) -> Any:
    return _subscription(ctx, _group_owner(ctx), True)


@route("POST", "/groups/:id/labels/:label_id/unsubscribe")
def unsubscribe_group_label(ctx: Ctx) -> Any:
    return _subscription(ctx, _group_owner(ctx), False)


# Group routes.
@route("GET", "/groups/:id/labels")
def list_group_labels(ctx: Ctx) -> Any:
    return _list(ctx, _group_owner(ctx))


@route("POST", "/groups/:id/labels")
def create_group_label(ctx: Ctx) -> Any:
    return _create(ctx, _group_owner(ctx, REPORTER))


@route("GET", "/groups/:id/labels/:label_id")
def get_group_label(ctx: Ctx) -> Any:
    owner = _group_owner(ctx)
    return render.label_json(ctx, owner.find(ctx.path_params["label_id"], own_only=False))


@route("PUT", "/groups/:id/labels/:label_id")
def update_group_label(ctx: Ctx) -> Any:
    return _update(ctx, _group_owner(ctx, REPORTER), ctx.path_params["label_id"])


@route("PUT", "/groups/:id/labels")
def update_group_label_legacy(ctx: Ctx) -> Any:
    return _update(ctx, _group_owner(ctx, REPORTER), None)


@route("DELETE", "/groups/:id/labels/:label_id")
def delete_group_label(ctx: Ctx) -> Any:
    return _delete(ctx, _group_owner(ctx, REPORTER), ctx.path_params["label_id"])


@route("DELETE", "/groups/:id/labels")
def delete_group_label_legacy(ctx: Ctx) -> Any:
    return _delete(ctx, _group_owner(ctx, REPORTER), None)
