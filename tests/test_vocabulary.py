"""The process vocabulary lives in policies.yml: an organisation renames a level and keeps its
own templates beside its policy, and escbot follows without a change to its code."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from escbot.cli import cli
from escbot.policies import PolicyError, load_policy, parse_policy
from tests.helpers import ROOT, World, policy_text


def renamed_copy(folder: Path) -> Path:
    """policies.yml with sev2 renamed p2 everywhere, and its template as templates/p2.md."""
    text = (ROOT / "policies.yml").read_text().replace("sev2", "p2")
    text = text.replace("templates: null", "templates: my-templates")
    (folder / "my-templates").mkdir()
    template = (ROOT / "templates" / "sev2.md").read_text().replace("sev2", "p2")
    (folder / "my-templates" / "p2.md").write_text(template)
    path = folder / "policies.yml"
    path.write_text(text)
    return path


def test_policies_check_accepts_the_rename(tmp_path: Path) -> None:
    path = renamed_copy(tmp_path)
    result = CliRunner().invoke(cli, ["policies", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "  p2: path_to_green every 1 week" in result.output


def test_p2_escalation_end_to_end(tmp_path: Path, sandbox) -> None:  # type: ignore[no-untyped-def]
    path = renamed_copy(tmp_path)
    world = World(sandbox)
    iid = world.open(
        "2026-10-26 09:00", "--policies", str(path), "--trigger-detail", "17 days behind",
        level="p2", category="timeline", title="Dallas rollout slipping",
    )  # fmt: skip
    issue = world.issue(iid)
    assert "escalation::p2" in issue.labels
    assert "<!-- escbot:escalation level=p2 -->" in issue.description
    world.edit(iid, "2026-10-26 10:00", due_date="2026-11-01")
    run = world.run("check", "--group", "acme", "--apply", "--policies", str(path),
                    when="2026-11-16 10:00")  # fmt: skip
    assert run.exit_code in (0, 1), run.output
    proposals = [
        n.body for n in world.notes(iid, "escbot") if "escbot:promote" in n.body
    ]  # promotion can fire for the renamed level
    assert len(proposals) == 1
    assert "this P2 meets the policy's threshold for a Sev1 escalation" in proposals[0]
    assert "needs-decision" in world.issue(iid).labels


def test_a_level_without_a_template_is_a_policy_error(tmp_path: Path) -> None:
    text = (ROOT / "policies.yml").read_text().replace("sev2", "p2")
    path = tmp_path / "policies.yml"
    path.write_text(text)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert re.fullmatch(
        rf"{re.escape(str(path))}:\d+: process\.levels\.p2\.template: expected a template file "
        r"in .+templates, got \"p2\.md\"",
        str(err.value),
    ), str(err.value)


def test_a_process_label_must_be_declared() -> None:
    text = policy_text(("decision: needs-decision", "decision: need-decision"))
    with pytest.raises(PolicyError) as err:
        parse_policy(text)
    assert str(err.value).endswith(
        "process.labels.decision: expected a label declared in labels.extra, got "
        '"need-decision" (did you mean "needs-decision"?)'
    )


def test_a_process_value_must_exist() -> None:
    text = policy_text(("opening: {rag: red,", "opening: {rag: crimson,"))
    with pytest.raises(PolicyError) as err:
        parse_policy(text)
    assert 'process.opening.rag: expected a rag value (red, yellow, green), got "crimson"' in str(
        err.value
    )


def test_templates_folder_must_exist(tmp_path: Path) -> None:
    shutil.copy(ROOT / "policies.yml", tmp_path / "policies.yml")
    path = tmp_path / "policies.yml"
    path.write_text(path.read_text().replace("templates: null", "templates: nowhere"))
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert "process.templates: expected a folder of templates" in str(err.value)
