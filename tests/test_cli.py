"""The project's ``kedro run``: one message for a user's mistake, the right pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from kedro.framework.startup import bootstrap_project
from kedro.pipeline import Node, Pipeline

from customer_purchase_prediction.cli import cli, pipelines_for_outputs, run
from tests.conftest import TRAINING, run_project, write_csv

GOOD_ROW = {
    "customer_id": 1,
    "time_spent": 3.2,
    "pages_viewed": 4,
    "basket_value": 0,
    "device_type": "Mobile",
    "customer_type": "New",
    "purchase": 0,
}


def kedro_run(project: Path, *arguments: str) -> tuple[int, str]:
    """Run the project's ``kedro run`` command in-process."""
    metadata = bootstrap_project(project)
    result = CliRunner().invoke(cli, ["run", *arguments], obj=metadata)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "{file} does not exist"),
        ("", "{file} is not a readable CSV file (the file is empty)"),
        (
            "customer_id,time_spent,purchase\n1,2,0\n",
            "columns 'pages_viewed', 'basket_value', 'device_type', 'customer_type' are "
            "missing from {file}",
        ),
        (
            "customer_id,time_spent,pages_viewed,basket_value,device_type,customer_type,purchase\n",
            "{file} has no data rows",
        ),
        (
            "customer_id,time_spent,pages_viewed,basket_value,device_type,customer_type\n1,2,3,4,Mobile,New\n",
            "column 'purchase' is missing from {file}; training needs the 0/1 purchase label",
        ),
    ],
)
def test_a_bad_sessions_file_stops_with_one_message(
    project_dir: Path, content: str | None, message: str
) -> None:
    file = project_dir / "bad.csv"
    if content is not None:
        file.write_text(content)
    code, output = kedro_run(
        project_dir, "--pipelines=data_processing", f"--params=raw_sessions_path={file}"
    )
    assert code == 1
    assert f"Error: {message.format(file=file)}" in output
    assert "Traceback" not in output


def test_a_bad_parameter_stops_before_any_work_naming_the_key(
    project_dir: Path,
) -> None:
    code, output = kedro_run(project_dir, "--params=modelling.selection_metric=speed")
    assert code == 1
    assert "selection_metric" in output
    assert "input_value='speed'" in output
    assert not Path("data/03_primary/sessions.parquet").exists()


@pytest.mark.slow
def test_the_real_command_line_prints_no_traceback(project_dir: Path) -> None:
    unlabelled = write_csv(
        project_dir / "unlabelled.csv",
        [{k: v for k, v in GOOD_ROW.items() if k != "purchase"}],
    )
    kedro = Path(sys.executable).with_name("kedro")
    finished = subprocess.run(
        [
            str(kedro),
            "run",
            "--pipeline=data_processing",
            f"--params=raw_sessions_path={unlabelled}",
        ],
        cwd=project_dir,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 1
    assert f"Error: column 'purchase' is missing from {unlabelled}" in output
    assert "Traceback" not in output


def _command_line(project: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """Run a command of the installed project in ``project``, as a user would."""
    return subprocess.run(
        list(command),
        cwd=project,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "customer_purchase_prediction", "--help"],
        [str(Path(sys.executable).with_name("customer-purchase-prediction")), "--help"],
    ],
    ids=["python -m", "script"],
)
def test_the_package_entry_points_offer_the_run_options(
    project_dir: Path, command: list[str]
) -> None:
    finished = _command_line(project_dir, *command)
    assert finished.returncode == 0, finished.stderr
    assert "--to-outputs" in finished.stdout
    assert "--pipelines" in finished.stdout


def test_kedro_help_lists_run_once(project_dir: Path) -> None:
    finished = _command_line(
        project_dir, str(Path(sys.executable).with_name("kedro")), "--help"
    )
    assert finished.returncode == 0, finished.stderr
    commands = [
        line.split()[0] for line in finished.stdout.splitlines() if line[:2] == "  "
    ]
    assert commands.count("run") == 1, finished.stdout
    assert {"catalog", "jupyter", "pipeline", "viz"} <= set(commands)


def test_the_module_level_run_tells_a_user_error_in_one_message(
    project_dir: Path,
) -> None:
    missing = project_dir / "missing.csv"
    bootstrap_project(project_dir)
    result = CliRunner().invoke(
        run, ["--pipelines=data_processing", f"--params=raw_sessions_path={missing}"]
    )
    assert result.exit_code == 1
    assert f"Error: {missing} does not exist" in result.output
    assert "Traceback" not in result.output


def _node(inputs: str | None, output: str) -> Node:
    return Node(
        func=lambda *_: None, inputs=inputs, outputs=output, name=f"make_{output}"
    )


REGISTRY = {
    "__default__": Pipeline([_node("raw", "model")]),
    "training": Pipeline([_node("raw", "model")]),
    "scoring": Pipeline([_node("model", "scores"), _node("scores", "summary")]),
}


@pytest.mark.parametrize(
    ("named", "outputs", "chosen"),
    [
        ([], ["model"], []),  # the default run writes it: nothing changes
        ([], ["scores"], ["scoring"]),
        ([], ["summary", "scores"], ["scoring"]),
        ([], ["model", "summary"], ["__default__", "scoring"]),
        (["scoring"], ["scores"], ["scoring"]),
        (["nowhere"], ["scores"], ["nowhere"]),  # Kedro itself names the typo
    ],
)
def test_to_outputs_runs_the_pipeline_that_writes_them(
    named: list[str], outputs: list[str], chosen: list[str]
) -> None:
    assert pipelines_for_outputs(outputs, named, REGISTRY) == chosen


def test_to_outputs_of_another_pipeline_names_the_one_to_use() -> None:
    with pytest.raises(click.ClickException) as error:
        pipelines_for_outputs(["scores"], ["training"], REGISTRY)
    assert error.value.message == (
        "scores is not written by the training pipeline; it is written by the "
        "scoring pipeline: kedro run --pipelines=scoring --to-outputs=scores"
    )


def test_to_outputs_of_an_unknown_dataset_names_the_close_ones() -> None:
    with pytest.raises(click.ClickException) as error:
        pipelines_for_outputs(["scorse"], [], REGISTRY)
    assert error.value.message == (
        "no registered pipeline has a dataset named scorse; did you mean scores?"
    )


def test_the_run_kedro_viz_offers_for_predictions_reaches_the_inference_pipeline(
    project_dir: Path,
) -> None:
    # No model is trained here, so the inference pipeline stops at loading it.
    code, output = kedro_run(project_dir, "--to-outputs=purchase_predictions")
    assert code == 1
    assert "Error: no current model recorded in" in output
    assert "Traceback" not in output


@pytest.mark.slow
def test_the_run_kedro_viz_offers_for_predictions_writes_them(
    project_dir: Path,
) -> None:
    run_project(project_dir, pipeline=TRAINING)
    code, output = kedro_run(
        project_dir, "--env=test", "--to-outputs=purchase_predictions"
    )
    assert code == 0, output
    assert (project_dir / "data/07_model_output/purchase_predictions.csv").exists()
    # A run's outputs are published together, the summary last.
    assert (project_dir / "data/07_model_output/inference_summary.json").exists()


def test_kedro_run_prints_progress_and_findings_not_every_dataset(
    project_dir: Path,
) -> None:
    kedro = str(Path(sys.executable).with_name("kedro"))
    finished = _command_line(project_dir, kedro, "run", "--pipelines=data_processing")
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    assert "Completed 2 out of 2 tasks" in output
    assert " rows in, " in output  # the data contract's own count
    for noise in ("Loading data from", "Saving data to", "Running node:", "Using '"):
        assert noise not in output
