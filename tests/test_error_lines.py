"""Control characters from a file never reach the terminal through a message.

A value is escaped where a message quotes it (``values.show_value`` and
``values.shorten``), and the ``Error:`` line of ``kedro run`` is escaped once
more as a whole.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from kedro.framework.startup import bootstrap_project

from customer_purchase_prediction.cli import cli, terminal_safe
from customer_purchase_prediction.columns import SESSION_COLUMNS, TRAINING_COLUMNS
from customer_purchase_prediction.contract import validate_sessions
from customer_purchase_prediction.csv_reading import read_csv_bytes
from customer_purchase_prediction.values import printable, shorten, show_value

NASTY = ["\x1b[31m", "\x1b]0;pwned\x07", "\x07", "\r", "\x00", "\u202e", "\x9b"]


@pytest.mark.parametrize("control", NASTY)
def test_a_quoted_value_shows_its_control_characters_escaped(control: str) -> None:
    for shown in (show_value(f"a{control}b"), shorten(f"a{control}b")):
        assert control not in shown
        assert shown.isprintable()
        assert repr(control)[1:-1] in shown


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_every_shown_text_is_printable(text: str) -> None:
    assert show_value(text).isprintable()
    assert shorten(text).isprintable()
    assert printable(text).isprintable()
    if text.isprintable():
        assert printable(text) == text


@settings(max_examples=50, deadline=None)
@given(st.text(st.characters(codec="utf-8"), min_size=1, max_size=10))
def test_reject_reasons_quoting_any_cell_are_printable(cell: str) -> None:
    header = ",".join(SESSION_COLUMNS).encode()
    line = ",".join(["1", cell.replace('"', ""), "3", "4", "Mobile", "New", "x"])
    raw = read_csv_bytes(header + b"\n" + line.encode() + b"\n", source="s.csv")
    rejects = validate_sessions(raw, labelled=False, source="s.csv").rejects
    assert all(reason.isprintable() for reason in rejects["reject_reason"])


def test_the_error_line_keeps_its_lines_and_escapes_the_rest() -> None:
    assert terminal_safe("a\x1b[2Jb\nc\td") == "a\\x1b[2Jb\nc\\td"


def _bad_header_file(folder: Path) -> Path:
    names = [
        *TRAINING_COLUMNS[:2],
        "\x1b[31mred\x1b[0m\x07\u202e",
        *TRAINING_COLUMNS[4:],
    ]
    path = folder / "bad.csv"
    path.write_bytes((",".join(names) + "\n1,2,3,Mobile,New,0\n").encode())
    return path


def test_kedro_run_shows_a_hostile_header_escaped(project_dir: Path) -> None:
    bad = _bad_header_file(project_dir)
    metadata = bootstrap_project(project_dir)
    result = CliRunner().invoke(
        cli,
        ["run", "--pipelines=data_processing", f"--params=raw_sessions_path={bad}"],
        obj=metadata,
    )
    assert result.exit_code == 1
    error = next(line for line in result.output.splitlines() if "Error:" in line)
    assert "found: customer_id, time_spent, \\x1b[31mred\\x1b[0m\\x07\\u202e" in error
    for control in NASTY:
        assert control not in result.output


@pytest.mark.slow
def test_the_real_command_line_sends_no_control_character(project_dir: Path) -> None:
    bad = _bad_header_file(project_dir)
    kedro = Path(sys.executable).with_name("kedro")
    finished = subprocess.run(
        [
            str(kedro),
            "run",
            "--pipelines=data_processing",
            f"--params=raw_sessions_path={bad}",
        ],
        cwd=project_dir,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "300"},
        capture_output=True,
        check=False,
        timeout=300,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 1
    assert b"Error: column" in output
    for control in NASTY:
        assert control.encode() not in output
