"""The shape of the code: no import cycles, pure rules, one handler per action kind."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path
from typing import get_args

import pytest

from escbot.executor import HANDLERS
from escbot.markers import marker
from escbot.model import ChatThread, Companion, Context, Escalation, LabelEvent
from escbot.plan import ActionKind
from escbot.policies import REQUIREMENT_KINDS
from escbot.requirements import KINDS
from escbot.rules import RULES, Rule, evaluate
from tests.helpers import BOT, SEV1_DESCRIPTION, escalation, note, ny, policy

# Every rule on: the Slack thread too.
ALL_ON = policy(chat=("  slack: false", "  slack: true"))

PACKAGE = Path(__file__).resolve().parent.parent / "escbot"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:` (type hints never run)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo += node.orelse
            continue
        out.append(node)
        todo += list(ast.iter_child_nodes(node))
    return out


def imports_of(path: Path) -> set[str]:
    """escbot modules a file imports (at the top or inside a function: both can cycle)."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("escbot"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("escbot")}
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def graph() -> dict[str, set[str]]:
    return {name: imports_of(path) & set(MODULES) for name, path in MODULES.items()}


def test_no_import_cycle_among_escbot_modules() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1 visiting, 2 done
    cycles: list[list[str]] = []

    def visit(name: str, stack: list[str]) -> None:
        state[name] = 1
        for dep in sorted(edges[name]):
            # A package imports its own submodules by name; the submodule importing the package
            # back is the usual Python layout, not a cycle of ours.
            if dep.startswith(name + "."):
                continue
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_rules_do_no_io() -> None:
    """Rule modules never reach the executor, the gateway, the reader or python-gitlab."""
    forbidden = ("escbot.executor", "escbot.gitlab_io", "escbot.snapshot", "escbot.check")
    edges = graph()

    def reach(name: str, seen: set[str]) -> set[str]:
        for dep in edges.get(name, set()):
            if dep not in seen:
                seen.add(dep)
                reach(dep, seen)
        return seen

    for name in edges:
        if name.startswith("escbot.rules"):
            bad = sorted(m for m in reach(name, set()) if m.startswith(forbidden))
            assert bad == [], f"{name} reaches {bad}"
            text = MODULES[name].read_text()
            assert "import gitlab" not in text and "import requests" not in text


def test_every_action_kind_has_exactly_one_handler() -> None:
    assert set(HANDLERS) == set(get_args(ActionKind))
    for rule in RULES:
        assert rule.kinds <= set(HANDLERS), rule.name


def test_requirement_kinds_registry_matches_the_schema() -> None:
    assert tuple(KINDS) == REQUIREMENT_KINDS


# Snapshots that make each rule plan what it can: a late Sev1, a closed one without sign-off,
# a completed one, a late Sev2 with a blocker, a warranty one outside its window, an e-mail.
SEV2 = tuple(
    "escalation::sev2" if lab == "escalation::sev1" else lab for lab in escalation().labels
)


def _snapshots() -> list[Escalation]:
    created = ny("2026-11-02 09:00")
    done = SEV1_DESCRIPTION.replace("- [ ]", "- [x]")
    raid = Companion(1, 40, "opened", created, created, "", "acme/collab#40")
    events = (LabelEvent(created, "escalation::sev1", "add", "pat"),)
    return [
        escalation(created_at=created, label_events=events),
        escalation(
            created_at=created,
            state="closed",
            closed_at=created + timedelta(days=3),
            label_events=events,
        ),
        escalation(
            created_at=created,
            description=done,
            labels=(*escalation().labels[:-1], "phase::resolution"),
            raid=raid,
            label_events=events,
        ),
        escalation(
            created_at=created,
            labels=tuple(
                "escalation::sev2" if lab == "escalation::sev1" else lab
                for lab in escalation().labels
            ),
            description="## Blockers\n- [ ] vendor part, opened 2026-11-02\n",
            due_date=created.date(),
            label_events=events,
        ),
        escalation(
            created_at=created,
            labels=("escalation", "escalation::sev1", "type::warranty", "severity::high"),
            description="Project completed: 2026-09-01\n",
            label_events=events,
        ),
        escalation(
            created_at=created,
            author="support-bot",
            assignees=(),
            labels=(),
            title="Technician no-show",
            description="The technician did not show up today.",
            service_desk_reply_to="ops@acme.example",
            label_events=events,
        ),
        escalation(
            created_at=created,
            labels=(*SEV2, "needs-decision"),
            description="## Leadership decision\n- [ ] Escalate to Sev 1\n- [x] Remain in monitoring\n",
        ),
        # Its Slack thread: a comment to mirror, and close-out to unpin.
        escalation(
            created_at=created,
            description=done + "\n<!-- escbot:chat-thread channel=C0LEAD ts=1762000000.000100 -->",
            labels=(*escalation().labels[:-1], "phase::resolution"),
            retro=raid,
            notes=(note(str(marker("remind", rule="x")), created + timedelta(days=1), BOT),),
            thread=ChatThread("C0LEAD", "1762000000.000100", True, (), frozenset()),
        ),
        escalation(
            created_at=created,
            author="support-bot",
            assignees=(),
            labels=(),
            title="Question",
            description="Please call me back.",
            service_desk_reply_to="ops@acme.example",
            label_events=events,
        ),
    ]


def test_rules_plan_only_the_kinds_they_declare() -> None:
    escs = _snapshots()
    ctx = Context(policy=ALL_ON, now=ny("2026-11-24 10:00"), bot=BOT)
    seen: set[str] = set()
    for esc in escs:
        for rule in RULES:
            kinds = {a.kind for a in rule.evaluate(esc, ctx).actions}
            assert kinds <= rule.kinds, rule.name
            seen |= kinds
    assert seen == set(get_args(ActionKind)), "a snapshot per kind keeps this test honest"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_each_rule_is_pure_over_a_snapshot(rule: Rule) -> None:
    """Same snapshot, same verdict: no hidden clock or state."""
    escs = _snapshots()
    ctx = Context(policy=ALL_ON, now=ny("2026-11-24 10:00"), bot=BOT)
    for esc in escs:
        assert rule.evaluate(esc, ctx) == rule.evaluate(esc, ctx)
    assert evaluate(escs[0], ctx).findings


def test_markers_are_plain_data() -> None:
    assert marker("remind", rule="x", due="y", rung=0).render() == (
        "<!-- escbot:remind rule=x due=y rung=0 -->"
    )
