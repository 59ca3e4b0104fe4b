"""The README's promise, as a user runs it: `copilot demo --ask` builds the embedded demo on a
fresh data folder and answers; `copilot doctor` is all green."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COPILOT = Path(sys.executable).with_name("copilot")


def _run(data_dir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COPILOT_", "SLACK_", "WECOM_", "OPENAI_"))}
    env.update(COPILOT_DATA_DIR=str(data_dir), COPILOT_LLM_PROVIDER="none", COPILOT_LOG_LEVEL="WARNING")
    return subprocess.run(
        [str(COPILOT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=data_dir.parent,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fresh") / "copilot-data"


def test_demo_builds_on_first_run_and_a_rep_gets_a_cited_answer(demo_dir: Path) -> None:
    result = _run(demo_dir, "demo", "--as", "li.wei", "--ask", "九章数据的弱点是什么？", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    reply = json.loads(result.stdout)
    assert reply["answer"] and reply["citations"]
    assert any("九章" in c["title"] for c in reply["citations"])
    # The build is recorded: a second run does no build work and still answers.
    again = _run(demo_dir, "demo", "--as", "jason.reed", "--ask", "How do I handle a price objection?", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["citations"]
    assert "Demo ready" not in again.stderr
    state = json.loads((demo_dir / "demo" / "state.json").read_text())
    assert state == {"kb": True, "calls": True}


def test_doctor_is_all_green_on_the_demo(demo_dir: Path) -> None:
    result = _run(demo_dir, "doctor", "--json", "--users")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["ok"] and {c["status"] for c in report["checks"]} <= {"ok", "warn"}
    assert {u["handle"] for u in report["users"]} >= {"li.wei", "wang.fang", "zhao.lin", "ops.admin"}


def test_unknown_user_and_bad_input_get_clear_errors(demo_dir: Path) -> None:
    result = _run(demo_dir, "ask", "hello", "--as", "nobody@example.com")
    assert result.returncode == 1 and "No active user" in result.stderr
    assert "Traceback" not in result.stderr
