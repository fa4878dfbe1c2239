"""``kedro viz`` shows every pipeline and previews the reports and the tables.

Starts ``kedro viz run`` on a free loopback port in a throw-away project copy
after a training run, asks its REST API what it shows, and always stops it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from customer_purchase_prediction.synthetic import generate_sessions, write_frame
from tests.conftest import run_project

HOST = "127.0.0.1"
STARTUP_SECONDS = 90
TRAINING_PIPELINES = {
    "data_processing",
    "feature_engineering",
    "modelling",
    "reporting",
}
# Reporting datasets and the preview kedro viz must offer for each.
PREVIEWS = {
    "model_metrics": "JSONPreview",
    "business_impact": "JSONPreview",
    "model_comparison": "TablePreview",
    "business_deciles": "TablePreview",
    "feature_importance": "TablePreview",
    "confusion_matrix_plot": "ImagePreview",
    "roc_pr_curves_plot": "ImagePreview",
    "threshold_curves_plot": "ImagePreview",
    "calibration_plot": "ImagePreview",
    "gain_lift_plot": "ImagePreview",
    "feature_importance_plot": "ImagePreview",
    "roc_pr_curves_interactive": "PlotlyPreview",
    "threshold_curves_interactive": "PlotlyPreview",
    "gain_lift_interactive": "PlotlyPreview",
}
REPORTS_WITHOUT_PREVIEW = {"model_card", "model_comparison_md", "business_impact_md"}
# CSV-or-Parquet tables (TableDataset) and the rows each preview shows: its
# preview_args in catalog.yml, else the default.
TABLE_PREVIEW_ROWS = {"raw_sessions": 5, "new_sessions": 5, "purchase_predictions": 10}


def _free_port() -> int:
    """A free loopback port below 49152 (kedro viz refuses the ephemeral range)."""
    start = 41_000 + os.getpid() % 5_000  # parallel test runs start apart
    for port in range(start, start + 2_000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free port on {HOST} from {start} to {start + 1_999}")


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback only
        return json.load(response)


def _wait_for_api(url: str, server: subprocess.Popen[bytes], log: Path) -> Any:
    """Poll ``url`` until it answers, the server exits, or time runs out."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"kedro viz exited with {server.returncode}:\n{_tail(log)}")
        try:
            return _get_json(url)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    pytest.fail(f"kedro viz did not answer within {STARTUP_SECONDS} s:\n{_tail(log)}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the server's process group: politely, then for good."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=15)


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@pytest.mark.slow
def test_kedro_viz_shows_the_pipelines_and_previews_the_reports(
    project_dir: Path, tmp_path: Path
) -> None:
    raw, _ = generate_sessions(600, seed=5)
    write_frame(raw, project_dir / "data/01_raw/customer_sessions.csv")
    run_project(project_dir)  # so that the reports exist to be previewed
    run_project(project_dir, pipeline="inference")  # and the predictions
    port, log = _free_port(), tmp_path / "viz.log"
    command = [
        sys.executable,
        "-m",
        "kedro",
        "viz",
        "run",
        "--no-browser",
        "--host",
        HOST,
        "--port",
        str(port),
        "--env",
        "test",
    ]
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    with log.open("wb") as output:
        server = subprocess.Popen(
            command,
            cwd=project_dir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
    try:
        main = _wait_for_api(f"http://{HOST}:{port}/api/main", server, log)
        expected = set(TRAINING_PIPELINES)
        if importlib.util.find_spec("customer_purchase_prediction.pipelines.inference"):
            expected.add("inference")
        assert expected <= {pipeline["id"] for pipeline in main["pipelines"]}
        datasets = {n["name"]: n for n in main["nodes"] if n["type"] == "data"}
        missing = (set(PREVIEWS) | REPORTS_WITHOUT_PREVIEW) - set(datasets)
        assert missing == set()
        for name in set(PREVIEWS) | REPORTS_WITHOUT_PREVIEW:
            assert datasets[name]["layer"] == "reporting", name
            assert "reporting" in datasets[name]["pipelines"], name
        for name, preview_type in PREVIEWS.items():
            found = _get_json(f"http://{HOST}:{port}/api/nodes/{datasets[name]['id']}")
            assert found.get("preview_type") == preview_type, name
            assert found.get("preview"), name
        inference = _get_json(f"http://{HOST}:{port}/api/pipelines/inference")
        datasets |= {n["name"]: n for n in inference["nodes"] if n["type"] == "data"}
        for name, rows in TABLE_PREVIEW_ROWS.items():
            found = _get_json(f"http://{HOST}:{port}/api/nodes/{datasets[name]['id']}")
            assert found.get("preview_type") == "TablePreview", name
            assert len(found["preview"]["data"]) == rows, name
            assert "customer_id" in found["preview"]["columns"], name
        predictions = datasets["purchase_predictions"]["id"]
        found = _get_json(f"http://{HOST}:{port}/api/nodes/{predictions}")
        # the command tests/test_cli.py shows to run the inference pipeline
        assert found["run_command"] == "kedro run --to-outputs=purchase_predictions"
    finally:
        _stop(server)
