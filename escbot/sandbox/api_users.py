"""/version, /user, /users and personal access tokens."""

from __future__ import annotations

from typing import Any

from escbot.sandbox import render
from escbot.sandbox.access import find_user
from escbot.sandbox.core import (
    ApiError,
    Ctx,
    forbidden,
    missing,
    not_found,
    paginate_list,
    paginate_sql,
    route,
)
from escbot.sandbox.domain import delete_project_rows, insert_token, insert_user, json_scopes

VERSION = {"version": "18.10.0-ee", "revision": "5a1c0d2e9f3", "kas": {"enabled": False}}
VALID_SCOPES = (
    "api", "read_api", "read_user", "create_runner", "manage_runner", "k8s_proxy",
    "read_repository", "write_repository", "read_registry", "write_registry", "sudo",
    "admin_mode", "ai_features", "read_service_ping", "self_rotate",
)  # fmt: skip


@route("GET", "/version")
def get_version(ctx: Ctx) -> Any:
    return VERSION


@route("GET", "/metadata")
def get_metadata(ctx: Ctx) -> Any:
    return {**VERSION, "enterprise": True}


@route("GET", "/user")
def get_current_user(ctx: Ctx) -> Any:
    out = render.user_detail(ctx, ctx.user, full=True)
    if not ctx.is_admin:
        out.pop("is_admin", None)  # UserPublic; only UserWithAdmin carries it
    return out


# Documented for GET /users (users.md) but not implemented here.
USER_LIST_UNSUPPORTED = ("extern_uid", "provider", "saml_provider_id", "skip_ldap", "auditors",
                         "with_custom_attributes", "custom_attributes")  # fmt: skip
# Flags that hold for no sandbox user (no external users, 2FA, public e-mails or LDAP).
NEVER_TRUE = ("external", "two_factor", "public_email")


@route("GET", "/users", unsupported=USER_LIST_UNSUPPORTED)
def list_users(ctx: Ctx) -> Any:
    where, args = ["1=1"], []
    username = ctx.str_("username")
    if username is not None:
        where.append("username = ? COLLATE NOCASE")
        args.append(username)
    search = ctx.str_("search")
    if search:
        where.append("(username LIKE ? OR name LIKE ? OR email = ?)")
        args += [f"%{search}%", f"%{search}%", search]
    for flag, state in (("active", "active"), ("blocked", "blocked"), ("banned", "banned")):
        wanted = ctx.bool_(flag)
        if wanted is not None:
            where.append("state = ?" if wanted else "state != ?")
            args.append(state)
    if ctx.bool_("exclude_bots") or ctx.bool_("humans"):
        where.append("bot = 0")
    if ctx.bool_("without_project_bots"):
        where.append("username NOT LIKE 'project\\_%\\_bot\\_%' ESCAPE '\\'")
    if ctx.bool_("admins"):
        where.append("is_admin = 1")
    if ctx.bool_("without_projects"):
        where.append("NOT EXISTS (SELECT 1 FROM members m WHERE m.user_id = users.id "
                     "AND m.source_type = 'project')")  # fmt: skip
    if any(ctx.bool_(flag) or (flag == "public_email" and ctx.str_(flag))
           for flag in NEVER_TRUE):  # fmt: skip
        where.append("0")
    for name, op in (("created_after", ">="), ("created_before", "<=")):
        bound = ctx.datetime_(name)
        if bound is not None:
            where.append(f"created_at {op} ?")
            args.append(bound)
    order = ctx.enum("order_by", ("id", "name", "username", "created_at", "updated_at"), "id")
    sort = ctx.enum("sort", ("asc", "desc"), "desc") or "desc"
    column = "created_at" if order == "updated_at" else order
    rows = paginate_sql(
        ctx, f"SELECT * FROM users WHERE {' AND '.join(where)}", args,
        f"{column} {sort.upper()}, id {sort.upper()}", {"order_by": order, "sort": sort},
    )  # fmt: skip
    if ctx.is_admin:
        return [render.user_detail(ctx, u, full=True) for u in rows]
    return [render.user_basic(ctx, u) for u in rows]


@route("GET", "/users/:user_id")
def get_user(ctx: Ctx) -> Any:
    u = find_user(ctx.conn, ctx.path_params["user_id"])
    if u is None or not ctx.path_params["user_id"].isdigit():
        raise not_found("User")
    full = ctx.is_admin
    out = render.user_detail(ctx, u, full=full)
    if not full:
        out.pop("is_admin", None)
    return out


@route("POST", "/users")
def create_user(ctx: Ctx) -> Any:
    if not ctx.is_admin:
        raise forbidden()
    need = [n for n in ("email", "name", "username") if ctx.str_(n) is None]
    # python-gitlab helpers may omit email; fill a placeholder like the UI would not.
    if need and need != ["email"]:
        raise missing(*need)
    if not (
        ctx.has("password") or ctx.bool_("reset_password") or ctx.bool_("force_random_password")
    ):
        raise ApiError(
            400,
            {
                "error": "password, reset_password, force_random_password are missing, "
                "at least one parameter must be provided"
            },
        )
    username = ctx.str_("username") or ""
    email = ctx.str_("email") or f"{username}@example.com"
    if not username.strip():
        raise ApiError(400, {"message": {"username": ["can't be blank"]}})
    if find_user(ctx.conn, username) is not None and not username.isdigit():
        raise ApiError(409, {"message": "Username has already been taken"})
    if ctx.conn.execute("SELECT 1 FROM users WHERE email = ?", (email,)).fetchone():
        raise ApiError(409, {"message": "Email has already been taken"})
    if ctx.conn.execute(
        "SELECT 1 FROM namespaces WHERE full_path = ? COLLATE NOCASE", (username,)
    ).fetchone():
        raise ApiError(409, {"message": "Username has already been taken"})
    u = insert_user(
        ctx.conn,
        ctx.now(),
        username,
        ctx.str_("name") or username,
        email,
        admin=bool(ctx.bool_("admin")),
        bot=bool(ctx.bool_("bot")),  # sandbox extension: GitLab has no such param
    )
    ctx.status = 201
    return render.user_detail(ctx, u, full=True)


def token_json(t: Any, *, with_token: bool) -> dict[str, Any]:
    out = {
        "id": t["id"],
        "name": t["name"],
        "revoked": bool(t["revoked"]),
        "created_at": t["created_at"],
        "description": None,
        "scopes": json_scopes(t),
        "user_id": t["user_id"],
        "last_used_at": t["last_used_at"],
        "active": not t["revoked"],
        "expires_at": t["expires_at"],
    }
    if with_token:
        out["token"] = t["token"]
    return out


@route("POST", "/users/:user_id/personal_access_tokens")
def create_pat(ctx: Ctx) -> Any:
    if not ctx.is_admin:
        raise forbidden()
    u = find_user(ctx.conn, ctx.path_params["user_id"])
    if u is None or not ctx.path_params["user_id"].isdigit():
        raise not_found("User")
    need = [n for n in ("name", "scopes") if ctx.raw(n) in (None, "", [])]
    if need:
        raise missing(*need)
    scopes = ctx.list_("scopes") or []
    if any(s not in VALID_SCOPES for s in scopes):
        raise ApiError(400, {"error": "scopes does not have a valid value"})
    expires = ctx.date_("expires_at")
    t = insert_token(ctx.conn, ctx.now(), u["id"], ctx.str_("name") or "", scopes,
                     expires_at=expires)  # fmt: skip
    ctx.status = 201
    return token_json(t, with_token=True)


@route("GET", "/personal_access_tokens/self")
def get_self_token(ctx: Ctx) -> Any:
    t = ctx.cache.get("token_row")
    if t is None:
        raise not_found()
    return token_json(t, with_token=False)


# ---------------------------------------------------------------- project access tokens
def _project_token_json(ctx: Ctx, t: Any, *, with_token: bool) -> dict[str, Any]:
    out = token_json(t, with_token=False)
    level = ctx.conn.execute(
        "SELECT access_level FROM members WHERE source_type = 'project' AND user_id = ?",
        (t["user_id"],),
    ).fetchone()
    out["access_level"] = level[0] if level else None
    if with_token:
        out["token"] = t["token"]
    return out


def _project_for_tokens(ctx: Ctx) -> Any:
    from escbot.sandbox.access import MAINTAINER, find_project

    return find_project(ctx, ctx.path_params["id"], level=MAINTAINER)


def _project_tokens(ctx: Ctx, project_id: int) -> list[Any]:
    return ctx.conn.execute(
        "SELECT t.* FROM tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.kind = 'project' AND u.username LIKE ? ESCAPE '\\' ORDER BY t.id",
        (f"project\\_{project_id}\\_bot\\_%",),
    ).fetchall()


@route("POST", "/projects/:id/access_tokens")
def create_project_token(ctx: Ctx) -> Any:
    """A bot user `project_<id>_bot_<hex>` (display name = token name) as a project member."""
    import secrets

    from escbot.sandbox.core import bad_value

    project = _project_for_tokens(ctx)
    need = [n for n in ("name", "scopes") if ctx.raw(n) in (None, "", [])]
    if need:
        raise missing(*need)
    scopes = ctx.list_("scopes") or []
    if any(s not in VALID_SCOPES for s in scopes):
        raise bad_value("scopes")
    level = ctx.int_("access_level", 40)
    if level not in (10, 15, 20, 30, 40, 50):
        raise bad_value("access_level")
    name = ctx.str_("name") or ""
    username = f"project_{project['id']}_bot_{secrets.token_hex(16)}"
    bot = insert_user(ctx.conn, ctx.now(), username, name,
                      f"{username}@noreply.example.com", bot=True)  # fmt: skip
    ctx.conn.execute(
        "INSERT INTO members VALUES ('project', ?, ?, ?, ?, NULL)",
        (project["id"], bot["id"], level, ctx.now()),
    )
    t = insert_token(ctx.conn, ctx.now(), bot["id"], name, scopes, kind="project",
                     expires_at=ctx.date_("expires_at"))  # fmt: skip
    ctx.status = 201
    return _project_token_json(ctx, t, with_token=True)


@route("GET", "/projects/:id/access_tokens")
def list_project_tokens(ctx: Ctx) -> Any:
    from escbot.sandbox.core import paginate_list

    project = _project_for_tokens(ctx)
    rows = [t for t in _project_tokens(ctx, project["id"]) if not t["revoked"]]
    page = paginate_list(ctx, rows, {"id": ctx.path_params["id"]})
    return [_project_token_json(ctx, t, with_token=False) for t in page]


def _find_project_token(ctx: Ctx) -> Any:
    project = _project_for_tokens(ctx)
    tid = ctx.path_params["token_id"]
    for t in _project_tokens(ctx, project["id"]):
        if str(t["id"]) == tid:
            return t
    raise not_found()


@route("GET", "/projects/:id/access_tokens/:token_id")
def get_project_token(ctx: Ctx) -> Any:
    return _project_token_json(ctx, _find_project_token(ctx), with_token=False)


@route("DELETE", "/projects/:id/access_tokens/:token_id")
def revoke_project_token(ctx: Ctx) -> Any:
    t = _find_project_token(ctx)
    ctx.conn.execute("UPDATE tokens SET revoked = 1 WHERE id = ?", (t["id"],))
    ctx.status = 204
    return None


# ---------------------------------------------------------------- lifecycle writes
@route("PUT", "/users/:user_id")
def update_user(ctx: Ctx) -> Any:
    if not ctx.is_admin:
        raise forbidden()
    u = find_user(ctx.conn, ctx.path_params["user_id"])
    if u is None or not ctx.path_params["user_id"].isdigit():
        raise not_found("User")
    updates: dict[str, Any] = {}
    for key in ("name", "email", "username"):
        if ctx.has(key):
            value = ctx.str_(key) or ""
            if not value.strip():
                raise ApiError(400, {"message": {key: ["can't be blank"]}})
            updates[key] = value
    if "username" in updates:
        other = find_user(ctx.conn, updates["username"])
        if other is not None and other["id"] != u["id"]:
            raise ApiError(409, {"message": "Username has already been taken"})
    for flag, col in (("admin", "is_admin"), ("bot", "bot")):
        if ctx.has(flag):
            updates[col] = int(bool(ctx.bool_(flag)))
    if updates:
        sets = ", ".join(f"{k} = ?" for k in updates)
        ctx.conn.execute(f"UPDATE users SET {sets} WHERE id = ?", [*updates.values(), u["id"]])
    row = ctx.conn.execute("SELECT * FROM users WHERE id = ?", (u["id"],)).fetchone()
    return render.user_detail(ctx, row, full=True)


@route("DELETE", "/users/:user_id")
def delete_user(ctx: Ctx) -> Any:
    """What the user wrote moves to the Ghost User (as GitLab does without hard_delete;
    with it GitLab deletes contributions too, which no client's cleanup relies on)."""
    if not ctx.is_admin:
        raise forbidden()
    u = find_user(ctx.conn, ctx.path_params["user_id"])
    if u is None or not ctx.path_params["user_id"].isdigit():
        raise not_found("User")
    if u["id"] == ctx.user["id"]:
        raise forbidden()
    ghost = find_user(ctx.conn, "ghost") or insert_user(
        ctx.conn, ctx.now(), "ghost", "Ghost User", "ghost@example.com"
    )
    for table, col in (("issues", "author_id"), ("notes", "author_id"), ("events", "author_id"),
                       ("label_events", "user_id"), ("state_events", "user_id"),
                       ("milestone_events", "user_id"), ("issues", "closed_by_id")):  # fmt: skip
        ctx.conn.execute(f"UPDATE {table} SET {col} = ? WHERE {col} = ?", (ghost["id"], u["id"]))
    for table, col in (("tokens", "user_id"), ("members", "user_id"),
                       ("issue_assignees", "user_id"), ("users", "id")):  # fmt: skip
        ctx.conn.execute(f"DELETE FROM {table} WHERE {col} = ?", (u["id"],))
    for (pid,) in ctx.conn.execute(
        "SELECT id FROM projects WHERE namespace_id = ?", (u["namespace_id"],)
    ).fetchall():
        delete_project_rows(ctx.conn, pid)
    ctx.conn.execute("DELETE FROM namespaces WHERE id = ?", (u["namespace_id"],))
    ctx.status = 204
    return None


# ---------------------------------------------------------------- block, ban
def _admin_target(ctx: Ctx) -> Any:
    if not ctx.is_admin:
        raise forbidden()
    u = find_user(ctx.conn, ctx.path_params["user_id"])
    if u is None or not ctx.path_params["user_id"].isdigit():
        raise not_found("User")
    if u["id"] == ctx.user["id"]:
        raise forbidden("The API cannot be used to change your own state")
    return u


def _set_state(ctx: Ctx, u: Any, state: str) -> None:
    ctx.conn.execute("UPDATE users SET state = ? WHERE id = ?", (state, u["id"]))
    ctx.status = 201


@route("POST", "/users/:user_id/block")
def block_user(ctx: Ctx) -> Any:
    u = _admin_target(ctx)
    if u["state"] == "blocked":
        ctx.status = 201
        return None  # GitLab answers null for an already blocked user
    _set_state(ctx, u, "blocked")
    return True


@route("POST", "/users/:user_id/unblock")
def unblock_user(ctx: Ctx) -> Any:
    u = _admin_target(ctx)
    if u["state"] == "banned":
        raise forbidden("You cannot unblock a banned user")
    if u["state"] != "blocked":
        ctx.status = 201
        return False  # User#activate on an active user
    _set_state(ctx, u, "active")
    return True


@route("POST", "/users/:user_id/ban")
def ban_user(ctx: Ctx) -> Any:
    u = _admin_target(ctx)
    if u["state"] != "active":
        raise ApiError(403, {"message": "You cannot ban blocked, deactivated, or banned users."})
    _set_state(ctx, u, "banned")
    return True


@route("POST", "/users/:user_id/unban")
def unban_user(ctx: Ctx) -> Any:
    u = _admin_target(ctx)
    if u["state"] != "banned":
        raise ApiError(403, {"message": "You cannot unban active users."})
    _set_state(ctx, u, "active")
    return True


@route("GET", "/user/activities")
def list_user_activities(ctx: Ctx) -> Any:
    """Admin only: users and the day they were last active (here: their last event)."""
    if not ctx.is_admin:
        raise forbidden()
    since = ctx.date_("from") or "0000-01-01"
    rows = ctx.conn.execute(
        "SELECT u.username, MAX(e.created_at) AS last FROM users u JOIN events e "
        "ON e.author_id = u.id GROUP BY u.id HAVING substr(last, 1, 10) >= ? ORDER BY u.id",
        (since,),
    ).fetchall()
    items = [{"username": r["username"], "last_activity_on": r["last"][:10],
              "last_activity_at": r["last"][:10]} for r in rows]  # fmt: skip
    return paginate_list(ctx, items, {"from": since})


# ---------------------------------------------------------------- application settings
# The throttle settings drive the sandbox's own rate limiter (what test suites toggle).
SETTINGS_DEFAULTS: dict[str, Any] = {
    "throttle_authenticated_api_enabled": False,
    "throttle_authenticated_api_requests_per_period": 7200,
    "throttle_authenticated_api_period_in_seconds": 3600,
    "deletion_adjourned_period": 7,
    "default_projects_limit": 100000,
    "default_project_visibility": "private",
    "default_group_visibility": "private",
    "signup_enabled": False,
}


def _settings(ctx: Ctx) -> dict[str, Any]:
    stored = ctx.app.settings.setdefault("application", dict(SETTINGS_DEFAULTS))
    return {"id": 1, **stored}


@route("GET", "/application/settings")
def get_settings(ctx: Ctx) -> Any:
    if not ctx.is_admin:
        raise forbidden()
    return _settings(ctx)


@route("PUT", "/application/settings")
def update_settings(ctx: Ctx) -> Any:
    if not ctx.is_admin:
        raise forbidden()
    stored = ctx.app.settings.setdefault("application", dict(SETTINGS_DEFAULTS))
    for key, default in SETTINGS_DEFAULTS.items():
        if key not in ctx.params:
            continue
        if isinstance(default, bool):
            stored[key] = bool(ctx.bool_(key))
        elif isinstance(default, int):
            stored[key] = ctx.int_(key)
        else:
            stored[key] = ctx.str_(key)
    if stored["throttle_authenticated_api_enabled"]:
        ctx.app.settings["rate_limit"] = stored["throttle_authenticated_api_requests_per_period"]
        ctx.app.rate.WINDOW = float(stored["throttle_authenticated_api_period_in_seconds"])
    else:
        ctx.app.settings["rate_limit"] = None
        ctx.app.rate.WINDOW = type(ctx.app.rate).WINDOW
    ctx.app.rate.reset()
    return _settings(ctx)
