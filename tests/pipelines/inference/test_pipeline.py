"""The inference pipeline: ranked predictions, rejects, summary, paths and versions."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from customer_purchase_prediction import PurchasePredictor
from customer_purchase_prediction.atomic_datasets import JSONDataset
from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.datasets import TableDataset
from customer_purchase_prediction.drift import MonitoringParams
from customer_purchase_prediction.errors import ModelNotFoundError, RunParameterError
from customer_purchase_prediction.explain import REASON_COLUMNS, InferenceParams
from customer_purchase_prediction.pipelines.inference import create_pipeline
from customer_purchase_prediction.synthetic import generate_sessions
from customer_purchase_prediction.targeting import CONTACT_COLUMNS, TargetingParams
from tests.conftest import run_project


def parameters(
    *, explain: bool = False, **targeting: object
) -> dict[str, MemoryDataset]:
    """The typed parameters the inference nodes read, as the catalog gives them."""
    return {
        "params:inference": MemoryDataset(InferenceParams(explain=explain)),
        "params:business": MemoryDataset(BusinessParams()),
        "params:targeting": MemoryDataset(TargetingParams(**targeting)),
        "params:monitoring": MemoryDataset(MonitoringParams()),
    }


PREDICTIONS = "data/07_model_output/purchase_predictions.csv"
CONTACTS = "data/07_model_output/contact_list.csv"
REJECTS = "data/07_model_output/rejected_sessions.csv"
SUMMARY = "data/07_model_output/inference_summary.json"


def test_runner_slice_scores_ranks_and_summarises(trained_model: object) -> None:
    raw = pd.DataFrame(
        {
            "customer_id": ["1", "2", "3", "4"],
            "time_spent": ["3", "40", "-1", "8"],
            "pages_viewed": ["2", "30", "3", ""],
            "basket_value": ["0", "120", "5", "10"],
            "device_type": ["Mobile", "desktop", "Tablet", "SmartTV"],
            "customer_type": ["New", "Returning", "New", "New"],
        }
    )
    catalog = DataCatalog(
        {
            "new_sessions": MemoryDataset(raw),
            "purchase_model": MemoryDataset(trained_model, copy_mode="assign"),
            "purchase_predictions": MemoryDataset(),
            "run_id": MemoryDataset("2026-12-01T00.00.00.000Z"),
            **parameters(),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    predictions = catalog.load("purchase_predictions")
    summary = catalog.load("inference_summary")
    rejects = catalog.load("rejected_new_sessions")
    # One run id ties the run's outputs together.
    assert summary["run_id"] == "2026-12-01T00.00.00.000Z"
    assert set(predictions["run_id"]) == set(rejects["run_id"]) == {summary["run_id"]}
    assert sorted(predictions["customer_id"]) == [1, 2]
    assert predictions["purchase_probability"].is_monotonic_decreasing
    assert summary["rows"] == {"in": 4, "scored": 2, "rejected": 2}
    assert summary["rejects_by_rule"] == {
        "time_spent:negative": 1,
        "device_type:unknown_label": 1,
    }


class _BrokenModel:
    """A model that fails while scoring, after the sessions were validated."""

    def score(self, sessions: pd.DataFrame) -> pd.DataFrame:
        raise RuntimeError("scoring failed")


def test_a_run_that_fails_after_validation_writes_nothing(
    trained_model: object, tmp_path: Path
) -> None:
    raw, _ = generate_sessions(50, seed=3, labelled=False)
    source = tmp_path / "new.csv"
    raw.to_csv(source, index=False)
    files = {
        "purchase_predictions": tmp_path / "out.csv",
        "rejected_new_sessions": tmp_path / "out_rejected.csv",
        "inference_summary": tmp_path / "out_summary.json",
        "contact_list": tmp_path / "out_contact_list.csv",
    }

    def catalog(model: object, run_id: str) -> DataCatalog:
        outputs = {
            name: TableDataset(filepath=str(path))
            for name, path in files.items()
            if path.suffix == ".csv"
        }
        return DataCatalog(
            {
                "new_sessions": TableDataset(filepath=str(source)),
                "purchase_model": MemoryDataset(model, copy_mode="assign"),
                "inference_summary": JSONDataset(
                    filepath=str(files["inference_summary"])
                ),
                "run_id": MemoryDataset(run_id),
                **parameters(),
                **outputs,
            }
        )

    SequentialRunner().run(create_pipeline(), catalog(trained_model, "first"))
    before = {name: path.read_bytes() for name, path in files.items()}
    with pytest.raises(RuntimeError, match="scoring failed"):
        SequentialRunner().run(create_pipeline(), catalog(_BrokenModel(), "second"))
    # Not even the rejects, which were known before scoring failed.
    assert {name: path.read_bytes() for name, path in files.items()} == before


def run_slice(model: object, sessions: pd.DataFrame, **params: object) -> DataCatalog:
    catalog = DataCatalog(
        {
            "new_sessions": MemoryDataset(sessions),
            "purchase_model": MemoryDataset(model, copy_mode="assign"),
            "run_id": MemoryDataset("the-run"),
            **parameters(**params),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog


def test_the_run_writes_a_limited_contact_list_with_reasons(
    trained_model: object,
) -> None:
    raw, _ = generate_sessions(300, seed=8, labelled=False)
    catalog = run_slice(trained_model, raw, max_contacts=12)
    contacts = catalog.load("contact_list")
    summary = catalog.load("inference_summary")
    assert list(contacts.columns) == [*CONTACT_COLUMNS, "run_id"]
    assert len(contacts) == 12
    assert set(contacts["run_id"]) == {"the-run"}
    assert contacts["reason_1"].notna().all()
    assert contacts["expected_profit"].is_monotonic_decreasing
    # The contact list's probabilities are the predictions', to the bit.
    predictions = catalog.load("purchase_predictions").set_index("customer_id")
    assert (
        contacts["purchase_probability"].to_numpy()
        == predictions.loc[contacts["customer_id"], "purchase_probability"].to_numpy()
    ).all()
    assert summary["contact_list"]["listed"] == 12
    assert summary["contact_list"]["expected_conversions"] == round(
        contacts["purchase_probability"].sum(), 4
    )
    assert summary["contact_list"]["expected_profit"] == round(
        contacts["expected_profit"].sum(), 2
    )
    # Predictions carry no reasons unless asked.
    assert not set(REASON_COLUMNS) & set(predictions.columns)


def test_explain_adds_reasons_to_every_prediction_and_changes_no_probability(
    trained_model: object,
) -> None:
    raw, _ = generate_sessions(200, seed=9, labelled=False)
    plain = run_slice(trained_model, raw).load("purchase_predictions")
    explained = run_slice(trained_model, raw, explain=True)
    predictions = explained.load("purchase_predictions")
    assert list(predictions.columns) == [
        *plain.columns.drop("run_id"),
        *REASON_COLUMNS,
        "run_id",
    ]
    assert predictions[list(REASON_COLUMNS)].notna().all(axis=None)  # three each
    pd.testing.assert_frame_equal(predictions[plain.columns], plain, check_exact=True)
    # The contact list has the same reasons as the predictions of its customers.
    contacts = explained.load("contact_list").set_index("customer_id")
    reasons = predictions.set_index("customer_id").loc[contacts.index]
    pd.testing.assert_frame_equal(
        contacts[list(REASON_COLUMNS)], reasons[list(REASON_COLUMNS)]
    )


@pytest.fixture
def in_project(trained_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(trained_project)
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    return trained_project


@pytest.mark.slow
def test_scores_the_embedded_new_sessions_losing_no_row(in_project: Path) -> None:
    run_project(in_project, pipeline="inference")
    raw = pd.read_csv("data/01_raw/new_sessions.csv", dtype=str)
    predictions = pd.read_csv(PREDICTIONS)
    rejects = pd.read_csv(REJECTS, dtype=str)
    summary = json.loads(Path(SUMMARY).read_text())
    assert list(predictions.columns) == [
        "customer_id",
        "purchase_prediction",
        "purchase_probability",
        "prediction_confidence",
        "run_id",
    ]
    assert set(predictions["run_id"]) == set(rejects["run_id"]) == {summary["run_id"]}
    assert len(predictions) + len(rejects) == len(raw) == summary["rows"]["in"]
    assert summary["rows"]["rejected"] == len(rejects) > 0
    assert rejects["reject_reason"].str.len().gt(0).all()
    assert predictions["purchase_probability"].is_monotonic_decreasing
    assert predictions["purchase_probability"].notna().all()
    # The same rows through PurchasePredictor give the same bits.
    api, _ = PurchasePredictor(project_path=in_project).predict_from_csv(
        "data/01_raw/new_sessions.csv"
    )
    pd.testing.assert_series_equal(
        api["purchase_probability"].reset_index(drop=True),
        predictions["purchase_probability"],
        check_exact=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_paths_come_from_runtime_params_in_either_format(
    in_project: Path, suffix: str
) -> None:
    source = pd.read_csv("data/01_raw/new_sessions.csv", dtype=str)
    given = in_project / f"given{suffix}"
    out = in_project / f"out{suffix}"
    source.to_parquet(given) if suffix == ".parquet" else source.to_csv(
        given, index=False
    )
    run_project(
        in_project,
        pipeline="inference",
        params={"inference_input_path": str(given), "inference_output_path": str(out)},
    )
    scored = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    # Only the output path given: the rejects and the summary go beside it.
    summary = json.loads(out.with_name("out_summary.json").read_text())
    assert summary["source"] == str(given)
    assert len(scored) == summary["rows"]["scored"]
    assert out.with_name(f"out_rejected{suffix}").exists()
    contacts = out.with_name(f"out_contact_list{suffix}")
    listed = (
        pd.read_parquet(contacts) if suffix == ".parquet" else pd.read_csv(contacts)
    )
    assert len(listed) == summary["contact_list"]["listed"]


@pytest.mark.slow
def test_max_contacts_50_writes_a_50_row_contact_list_with_reasons(
    in_project: Path,
) -> None:
    run_project(
        in_project,
        pipeline="inference",
        params={"targeting": {"max_contacts": 50}, "inference": {"explain": True}},
    )
    contacts = pd.read_csv(CONTACTS)
    predictions = pd.read_csv(PREDICTIONS)
    summary = json.loads(Path(SUMMARY).read_text())
    assert len(contacts) == 50 == summary["contact_list"]["listed"]
    assert contacts["reason_1"].notna().all()
    assert set(contacts["run_id"]) == {summary["run_id"]}
    # Three reasons for every prediction; every path gives the same bits.
    assert predictions[list(REASON_COLUMNS)].notna().all(axis=None)
    predictor = PurchasePredictor(project_path=in_project)
    api = predictor.contact_list(
        pd.read_csv("data/01_raw/new_sessions.csv", dtype=str), max_contacts=50
    )
    assert api["customer_id"].tolist() == contacts["customer_id"].tolist()
    assert (api["purchase_probability"] == contacts["purchase_probability"]).all()
    assert api["reason_1"].tolist() == contacts["reason_1"].tolist()


@pytest.mark.slow
def test_contact_list_path_names_the_contact_list(in_project: Path) -> None:
    target = in_project / "campaign" / "week_49.parquet"
    target.parent.mkdir()
    run_project(
        in_project,
        pipeline="inference",
        params={"contact_list_path": str(target), "targeting": {"budget": 50.0}},
    )
    contacts = pd.read_parquet(target)
    summary = json.loads(Path(SUMMARY).read_text())
    assert len(contacts) == summary["contact_list"]["listed"] == 10  # 50 / 5.00
    assert summary["contact_list"]["contact_cost"] == 50.0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("targeting", "key"),
    [
        ({"max_contacts": 0}, "targeting.max_contacts"),
        ({"max_contacts": 2.5}, "targeting.max_contacts"),
        ({"budget": -10}, "targeting.budget"),
    ],
)
def test_bad_targeting_values_stop_the_run_naming_the_key(
    in_project: Path, targeting: dict[str, float], key: str
) -> None:
    with pytest.raises(RunParameterError, match=key):
        run_project(in_project, pipeline="inference", params={"targeting": targeting})


@pytest.mark.slow
def test_load_versions_chooses_the_model(in_project: Path) -> None:
    versions = sorted(
        p.name for p in Path("data/06_models/purchase_model.skops").iterdir()
    )
    assert len(versions) == 2
    oldest = versions[0]
    run_project(
        in_project, pipeline="inference", load_versions={"purchase_model": oldest}
    )
    assert json.loads(Path(SUMMARY).read_text())["model"]["version"] == oldest
    run_project(in_project, pipeline="inference")
    assert json.loads(Path(SUMMARY).read_text())["model"]["version"] == versions[-1]
    assert (
        PurchasePredictor(project_path=in_project, version=oldest).model.version
        == oldest
    )
    assert PurchasePredictor(project_path=in_project).model.version == versions[-1]
    with pytest.raises(
        ModelNotFoundError,
        match="model version 'nope' was not recorded by a training run",
    ):
        PurchasePredictor(project_path=in_project, version="nope")
