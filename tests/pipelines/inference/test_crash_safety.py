"""``kill -9`` during a scoring run leaves the previous outputs whole, or the new ones.

Never a partial file, and never a summary that disagrees with the files beside
it: every output carries the run id, and the summary (written last) names the
rows the predictions file holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from customer_purchase_prediction.atomic import stray_temporaries
from customer_purchase_prediction.synthetic import generate_sessions, write_frame
from tests.conftest import run_project

OUT = Path("data/07_model_output")
ROWS = 250_000


def _outputs_agree(folder: Path) -> str | None:
    """The run id the summary and the files share ("unfinished" without a summary)."""
    names = ("purchase_predictions.csv", "rejected_sessions.csv", "contact_list.csv")
    summary_file = folder / "inference_summary.json"
    if not summary_file.exists():
        # Killed between two saves of the last step: no summary claims anything.
        for name in names:
            pd.read_csv(folder / name, dtype=str)  # still each a whole file
        return "unfinished"
    summary = json.loads(summary_file.read_text())
    predictions = pd.read_csv(folder / names[0], dtype=str)
    rejects = pd.read_csv(folder / names[1], dtype=str)
    assert len(predictions) == summary["rows"]["scored"]
    assert len(rejects) == summary["rows"]["rejected"]
    assert set(predictions["run_id"]) <= {summary["run_id"]}
    assert set(rejects["run_id"]) <= {summary["run_id"]}
    contacts = pd.read_csv(folder / names[2], dtype=str)
    assert len(contacts) == summary["contact_list"]["listed"]
    assert set(contacts["run_id"]) <= {summary["run_id"]}
    return str(summary["run_id"])


@pytest.mark.slow
def test_kill_9_mid_run_never_leaves_a_partial_or_disagreeing_output(
    trained_copy: Path,
) -> None:
    project = trained_copy
    big = project / "data/01_raw/big_sessions.csv"
    raw, _ = generate_sessions(ROWS, seed=5)
    write_frame(raw.drop(columns="purchase"), big)
    run_project(project, pipeline="inference")  # the previous, good outputs
    previous = _outputs_agree(project / OUT)
    assert previous is not None

    command = [
        sys.executable,
        "-m",
        "kedro",
        "run",
        "--env=test",
        "--pipelines=inference",
        f"--params=inference_input_path={big}",
    ]
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}

    def run(kill_after: float | None = None) -> float:
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=project,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if kill_after is not None:
            time.sleep(kill_after)
            process.send_signal(signal.SIGKILL)
        _, errors = process.communicate(timeout=300)
        if kill_after is None:
            assert process.returncode == 0, errors.decode()[-2000:]
        return time.monotonic() - started

    whole = run()  # how long a run takes here, start-up included
    assert _outputs_agree(project / OUT) not in (None, previous)
    seen = set()
    # Kills spread over the run's second half, where it reads, scores and writes.
    for share in (0.5, 0.65, 0.8, 0.9, 0.97):
        run(kill_after=whole * share)
        seen.add(_outputs_agree(project / OUT))
    print("run ids after each kill:", seen)  # noqa: T201
    # Each kill left whole files, and a summary only beside the files it describes.
    assert seen
    run()
    latest = _outputs_agree(project / OUT)
    assert latest is not None and latest != previous
    summary = json.loads((project / OUT / "inference_summary.json").read_text())
    assert summary["rows"]["in"] == ROWS
    # Interrupted writes leave at most hidden temporaries, never the outputs' names.
    assert all(path.name.startswith(".") for path in stray_temporaries(project / OUT))
