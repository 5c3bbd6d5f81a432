"""Test levers under /__sandbox__/: clock, stats, faults, settings, seed, service
desk, reset and job tokens. Admin token required; never counted in stats."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from escbot.sandbox import render, slack
from escbot.sandbox.access import find_project, find_user
from escbot.sandbox.api_issues import create_issue_row, reload
from escbot.sandbox.clock import fmt
from escbot.sandbox.core import ApiError, Ctx, invalid, missing, to_bool, to_int
from escbot.sandbox.domain import insert_token, insert_user
from escbot.sandbox.store import DATA_TABLES

if TYPE_CHECKING:
    from escbot.sandbox.server import Faults

NOT_FOUND = ApiError(404, {"error": "404 Not Found"})


def dispatch(ctx: Ctx, method: str, sub: str) -> Any:
    handler = ROUTES.get((method, sub.rstrip("/")))
    if handler is None:
        raise NOT_FOUND
    return handler(ctx)


def _clock_get(ctx: Ctx) -> Any:
    return {"now": fmt(ctx.app.clock.now()), "frozen": ctx.app.clock.frozen}


def _clock_put(ctx: Ctx) -> Any:
    clock = ctx.app.clock
    try:
        if ctx.params.get("real") not in (None, False, "false"):
            clock.real()
        elif ctx.params.get("now") not in (None, ""):
            running = ctx.params.get("running") not in (None, False, "false")
            clock.set(str(ctx.params["now"]), running=running)
        elif ctx.params.get("advance") not in (None, ""):
            clock.advance(str(ctx.params["advance"]))
        else:
            raise ApiError(
                400, {"error": "now, advance, real are missing, exactly one parameter must be "
                               "provided"},
            )  # fmt: skip
    except ValueError as exc:
        raise ApiError(400, {"error": str(exc)}) from None
    except OverflowError:  # beyond what a datetime holds (years 1 to 9999)
        raise ApiError(400, {"error": "date value out of range"}) from None
    return _clock_get(ctx)


def _stats_get(ctx: Ctx) -> Any:
    return ctx.app.stats.snapshot()


def _stats_delete(ctx: Ctx) -> Any:
    ctx.app.stats.reset()
    return ctx.app.stats.snapshot()


def _faults_get(ctx: Ctx) -> Any:
    return ctx.app.faults.snapshot()


def _faults_put(ctx: Ctx, faults: Faults | None = None) -> Any:
    data = {k: v for k, v in ctx.params.items() if k not in ("private_token", "access_token")}
    clean: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, str):  # form or query values arrive as strings
            try:
                v = float(v) if "." in v else int(v)
            except ValueError:
                raise invalid(k) from None
        clean[k] = v
    return (faults or ctx.app.faults).update(clean)


def _settings_get(ctx: Ctx) -> Any:
    return dict(ctx.app.settings)


def _settings_put(ctx: Ctx) -> Any:
    s = ctx.app.settings
    new = dict(s)
    for key, value in ctx.params.items():
        if key in ("private_token", "access_token"):
            continue
        if key == "scoped_labels":
            new[key] = to_bool(value, key)
        elif key == "rate_limit":
            if value in (None, "", "null"):
                new[key] = None
            else:
                n = to_int(value, key)
                if n < 1:
                    raise invalid(key)
                new[key] = n
        else:
            raise ApiError(400, {"error": f"{key} does not have a valid value"})
    if new.get("rate_limit") != s.get("rate_limit"):
        ctx.app.rate.reset()
    s.update(new)
    return dict(s)


def _seed(ctx: Ctx) -> Any:
    from escbot.sandbox.seed import seed

    return seed(ctx, ctx.params)


def _service_desk(ctx: Ctx) -> Any:
    need = [k for k in ("project", "from") if ctx.params.get(k) in (None, "")]
    if need:
        raise missing(*need)
    project = find_project(ctx, str(ctx.params["project"]))
    bot = find_user(ctx.conn, "support-bot")
    if bot is None:
        bot = insert_user(ctx.conn, ctx.now(), "support-bot", "GitLab Support Bot",
                          "support@example.com", bot=True)  # fmt: skip
    bctx = dataclasses.replace(ctx, user=bot)
    subject = ctx.str_("subject") or "(no subject)"
    issue = create_issue_row(
        bctx, project, title=subject[:255], description=ctx.str_("body") or "",
        confidential=True, service_desk_reply_to=ctx.str_("from"),
    )  # fmt: skip
    ctx.status = 201
    return render.issue_json(bctx, reload(ctx, issue["id"]), context_project=project["id"])


def _slack_seed(ctx: Ctx) -> Any:
    return slack.seed(ctx.conn, ctx.params)


def _slack_faults_put(ctx: Ctx) -> Any:
    return _faults_put(ctx, ctx.app.slack_faults)


def _reset(ctx: Ctx) -> Any:
    conn = ctx.conn
    root = find_user(conn, "root")
    root_id = root["id"] if root else -1
    for table in DATA_TABLES:
        if table == "namespaces":
            conn.execute("DELETE FROM namespaces WHERE NOT (kind = 'user' AND owner_id = ?)",
                         (root_id,))  # fmt: skip
        else:
            conn.execute(f"DELETE FROM {table}")
    conn.execute("DELETE FROM users WHERE id != ?", (root_id,))
    conn.execute("DELETE FROM tokens WHERE user_id != ? OR kind != 'pat'", (root_id,))
    ctx.app.stats.reset()
    ctx.app.rate.reset()
    for faults in (ctx.app.faults, ctx.app.slack_faults):
        faults.update(
            {"latency_ms": 0, "rate_5xx": 0, "rate_429": 0, "rate_drop": 0,
             "drop_after_writes": [], "rate_drop_after_write": 0}
        )  # fmt: skip
    for table in slack.TABLES:
        conn.execute(f"DELETE FROM {table}")
    return {"reset": True}


def _job_token(ctx: Ctx) -> Any:
    username = ctx.str_("user")
    if not username:
        raise missing("user")
    user = find_user(ctx.conn, username)
    if user is None:
        raise ApiError(404, {"message": "404 User Not Found"})
    t = insert_token(ctx.conn, ctx.now(), user["id"], "ci-job", ["read_api"], kind="job")
    ctx.status = 201
    return {"token": t["token"], "user_id": user["id"]}


ROUTES = {
    ("GET", "/clock"): _clock_get,
    ("PUT", "/clock"): _clock_put,
    ("GET", "/stats"): _stats_get,
    ("DELETE", "/stats"): _stats_delete,
    ("GET", "/faults"): _faults_get,
    ("PUT", "/faults"): _faults_put,
    ("GET", "/settings"): _settings_get,
    ("PUT", "/settings"): _settings_put,
    ("POST", "/seed"): _seed,
    ("POST", "/service_desk"): _service_desk,
    ("POST", "/reset"): _reset,
    ("POST", "/job_token"): _job_token,
    ("POST", "/slack"): _slack_seed,
    ("GET", "/slack/faults"): lambda ctx: ctx.app.slack_faults.snapshot(),
    ("PUT", "/slack/faults"): _slack_faults_put,
}
