"""The README's Python example runs as shown, and its two commands are the real ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    command = re.search(r"^python3\.11 -m venv \.venv .*pytest$", README, re.MULTILINE)
    assert command is not None
    assert (
        "grep -m1 -E '^python3\\.11 -m venv \\.venv .*pytest'"
        in (PROJECT_ROOT / ".ci" / "run").read_text()
    )


def test_quick_start_has_a_training_command() -> None:
    assert re.search(r"^python3\.11 -m venv \.venv .*kedro run$", README, re.MULTILINE)


@pytest.mark.slow
def test_purchase_predictor_example_runs_as_shown(
    trained_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(trained_project)
    blocks = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
    example = next(block for block in blocks if "PurchasePredictor()" in block)
    namespace: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102 - our README
    assert Path("data/07_model_output/scored.csv").exists()
    scored, rejects = namespace["scored"], namespace["rejects"]
    assert len(scored) + len(rejects) == 200
