"""``predict_from_csv`` writes what the pipeline writes, where the user said, safely.

Predictions at ``output_path``, the rejects and the pipeline's own summary beside
it; outputs checked before the file is read (not the input, not a folder,
writable), so a bad path fails at once instead of after scoring.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from customer_purchase_prediction import PurchasePredictor
from customer_purchase_prediction.atomic import stray_temporaries
from customer_purchase_prediction.columns import ID_COLUMN
from customer_purchase_prediction.errors import OutputPathError
from customer_purchase_prediction.pipelines.inference.nodes import summarise_inference
from customer_purchase_prediction.synthetic import generate_sessions


@pytest.fixture(scope="module")
def predictor(trained_model: Any) -> PurchasePredictor:
    return PurchasePredictor(trained_model)


@pytest.fixture
def sessions_csv(tmp_path: Path) -> Path:
    raw, _ = generate_sessions(150, 21, labelled=False)
    path = tmp_path / "new.csv"
    raw.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predictions_rejects_and_summary_are_written_beside_each_other(
    predictor: PurchasePredictor, sessions_csv: Path, suffix: str
) -> None:
    out = sessions_csv.with_name(f"scores{suffix}")
    scored, rejects = predictor.predict_from_csv(sessions_csv, out)
    folder = sessions_csv.parent
    assert (folder / f"scores_rejected{suffix}").exists()
    summary = json.loads((folder / "scores_summary.json").read_text())
    read = pd.read_parquet if suffix == ".parquet" else pd.read_csv
    assert len(read(out)) == len(scored)
    assert summary["source"] == str(sessions_csv)
    assert summary["rows"] == {
        "in": 150,
        "scored": len(scored),
        "rejected": len(rejects),
    }
    assert len(scored) + len(rejects) == 150
    # The pipeline's summary node, not a second summary.
    expected = summarise_inference(
        scored, rejects, {"source": str(sessions_csv), "rows_in": 150}, predictor.model
    )
    run_id = summary.pop("run_id")
    contacts = summary.pop("contact_list")
    summary.pop("drift", None)  # the drift report's summary, tested with it
    assert summary == json.loads(json.dumps(expected))
    # The contact list goes beside too, with every customer worth contacting.
    listed = read(folder / f"scores_contact_list{suffix}")
    assert len(listed) == contacts["listed"] > 0
    assert set(listed["run_id"]) == {run_id}
    assert stray_temporaries(folder) == []
    # One run id marks the three files; the next call is another run.
    assert set(read(out)["run_id"]) == {run_id}
    written_rejects = read(folder / f"scores_rejected{suffix}")
    assert set(written_rejects["run_id"]) <= {run_id}
    predictor.predict_from_csv(sessions_csv, out)
    again = json.loads((folder / "scores_summary.json").read_text())["run_id"]
    assert again != run_id
    assert set(read(out)["run_id"]) == {again}


def test_the_summary_has_the_scores_even_without_probabilities(
    predictor: PurchasePredictor, sessions_csv: Path
) -> None:
    out = sessions_csv.with_name("p.csv")
    scored, _ = predictor.predict_from_csv(
        sessions_csv, out, return_probabilities=False
    )
    assert "purchase_probability" not in scored.columns
    assert "purchase_probability" not in pd.read_csv(out).columns
    summary = json.loads(sessions_csv.with_name("p_summary.json").read_text())
    assert summary["probability"]["mean"] is not None


def test_without_an_output_nothing_is_written(
    predictor: PurchasePredictor, sessions_csv: Path
) -> None:
    predictor.predict_from_csv(sessions_csv)
    assert sorted(p.name for p in sessions_csv.parent.iterdir()) == ["new.csv"]


@pytest.mark.parametrize(
    "spelling", ["{input}", "{folder}/./new.csv", "{folder}/sub/../new.csv"]
)
def test_an_output_that_is_the_input_is_refused_before_any_work(
    predictor: PurchasePredictor, sessions_csv: Path, spelling: str
) -> None:
    (sessions_csv.parent / "sub").mkdir()
    before = sessions_csv.read_bytes()
    output = spelling.format(input=sessions_csv, folder=sessions_csv.parent)
    with pytest.raises(
        OutputPathError, match=r"^output_path is the input file itself \(csv_path: "
    ):
        predictor.predict_from_csv(sessions_csv, output)
    assert sessions_csv.read_bytes() == before
    assert sorted(p.name for p in sessions_csv.parent.iterdir()) == ["new.csv", "sub"]


def test_a_sibling_that_is_the_input_is_refused(
    predictor: PurchasePredictor, tmp_path: Path
) -> None:
    source = tmp_path / "a_rejected.csv"
    source.write_text("x\n")
    with pytest.raises(OutputPathError, match=r"^the rejects file is the input file"):
        predictor.predict_from_csv(source, tmp_path / "a.csv")
    source = tmp_path / "b_summary.json"
    source.write_text("{}")
    with pytest.raises(OutputPathError, match=r"^the summary file is the input file"):
        predictor.predict_from_csv(source, tmp_path / "b.json")


def test_a_folder_or_unwritable_output_is_refused_before_the_file_is_read(
    predictor: PurchasePredictor, tmp_path: Path
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    missing = tmp_path / "not_read.csv"  # never opened: the outputs fail first
    with pytest.raises(OutputPathError, match=r"^output_path: cannot write .*a folder"):
        predictor.predict_from_csv(missing, tmp_path / "folder")
    with pytest.raises(OutputPathError, match="cannot create its folder"):
        predictor.predict_from_csv(missing, tmp_path / "file" / "out.csv")
    (tmp_path / "s_summary.json").mkdir()
    with pytest.raises(OutputPathError, match=r"^the summary file: cannot write"):
        predictor.predict_from_csv(missing, tmp_path / "s.csv")


def test_all_rows_rejected_still_writes_the_three_files(
    predictor: PurchasePredictor, tmp_path: Path
) -> None:
    raw, _ = generate_sessions(5, 2, labelled=False)
    source = tmp_path / "bad.csv"
    raw.assign(**{ID_COLUMN: "x"}).to_csv(source, index=False)
    scored, rejects = predictor.predict_from_csv(source, tmp_path / "o.csv")
    assert len(scored) == 0
    assert len(rejects) == 5
    summary = json.loads((tmp_path / "o_summary.json").read_text())
    assert summary["rows"] == {"in": 5, "scored": 0, "rejected": 5}
