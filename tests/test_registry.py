"""The registry: references, the gate, ``champion`` as the current model."""

from __future__ import annotations

import copy
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.errors import ModelNotFoundError
from customer_purchase_prediction.manifest import ArtifactEntry, ManifestFile
from customer_purchase_prediction.pipelines.registry.nodes import (
    compare_with_champion,
)
from customer_purchase_prediction.registry import (
    CHALLENGER,
    CHAMPION,
    KEDRO_VERSION_TAG,
    MODEL_NAME,
    SHA256_TAG,
    ModelReference,
    ModelRegistry,
    RegistryCurrentModel,
    RegistryParams,
    absolute_uri,
    gate_decision,
)

GATE = RegistryParams()
OLD, NEW = "2026-01-01T00.00.00.000Z", "2026-02-01T00.00.00.000Z"


# ------------------------------------------------------------------ the gate
def test_the_first_model_is_champion() -> None:
    decision = gate_decision("f1", 0.5, None, None, GATE)
    assert (decision["alias"], decision["reason"]) == (
        CHAMPION,
        "there is no champion yet",
    )
    assert decision["delta"] is None


def test_a_model_as_good_as_the_champion_is_promoted() -> None:
    decision = gate_decision("f1", 0.7, 0.7, "3", GATE)
    assert decision["alias"] == CHAMPION
    assert decision["delta"] == 0.0
    assert decision["reason"] == "at least as good as champion 3"


def test_a_worse_model_is_challenger_and_the_gap_is_told() -> None:
    decision = gate_decision("roc_auc", 0.70, 0.75, "3", GATE)
    assert decision["alias"] == CHALLENGER
    assert decision["delta"] == pytest.approx(-0.05)
    assert decision["reason"] == "worse than champion 3"
    assert (decision["new_score"], decision["champion_score"]) == (0.70, 0.75)


def test_always_and_never_override_the_gate() -> None:
    always = RegistryParams(promote="always")
    never = RegistryParams(promote="never")
    assert gate_decision("f1", 0.1, 0.9, "3", always)["alias"] == CHAMPION
    assert gate_decision("f1", 0.9, 0.1, "3", never)["alias"] == CHALLENGER
    assert gate_decision("f1", 0.9, None, None, never)["alias"] == CHALLENGER


def test_a_champion_without_a_score_never_blocks() -> None:
    assert gate_decision("roc_auc", 0.6, math.nan, "3", GATE)["alias"] == CHAMPION


def test_registry_params_refuse_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="promote"):
        RegistryParams(promote="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="extra"):
        RegistryParams.model_validate({"promte": "always"})


scores = st.floats(0, 1, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(new=scores, champion=scores)
def test_the_gate_promotes_exactly_the_models_at_least_as_good(
    new: float, champion: float
) -> None:
    decision = gate_decision("f1", new, champion, "1", GATE)
    assert (decision["alias"] == CHAMPION) == (new >= champion)
    assert decision["delta"] == pytest.approx(new - champion)


# ------------------------------------------------------------------ the node
def _with_threshold(model: Any, threshold: float) -> Any:
    other = copy.copy(model)
    other.threshold = threshold
    other.version = "older"
    return other


def test_the_node_scores_both_models_on_the_same_rows(
    trained_model: Any, small_sessions: Any
) -> None:
    business = BusinessParams()
    rows = small_sessions.iloc[:200]
    first = compare_with_champion(trained_model, None, rows, GATE, business)
    assert first["alias"] == CHAMPION and first["champion_score"] is None

    same = compare_with_champion(trained_model, trained_model, rows, GATE, business)
    assert same["alias"] == CHAMPION and same["delta"] == 0.0

    # Flagging nobody gives F1 0: a champion like that is beaten, a new model
    # like that is kept out.
    useless = _with_threshold(trained_model, 1.01)
    beaten = compare_with_champion(trained_model, useless, rows, GATE, business)
    assert beaten["alias"] == CHAMPION and beaten["champion_score"] == 0.0
    assert beaten["champion_version"] == "older"
    kept = compare_with_champion(useless, trained_model, rows, GATE, business)
    assert kept["alias"] == CHALLENGER
    assert kept["delta"] == pytest.approx(-first["new_score"])


# ------------------------------------------------------------------ references
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", ModelReference(registry_version="3")),
        ("champion", ModelReference(alias="champion")),
        (f"models:/{MODEL_NAME}/12", ModelReference(registry_version="12")),
        (f"models:/{MODEL_NAME}@challenger", ModelReference(alias="challenger")),
        (OLD, ModelReference(kedro_version=OLD)),
    ],
)
def test_a_model_is_named_by_version_alias_uri_or_kedro_version(
    text: str, expected: ModelReference
) -> None:
    assert ModelReference.parse(text) == expected


def test_a_uri_of_another_model_is_refused_naming_ours() -> None:
    with pytest.raises(ModelNotFoundError, match=f"registers '{MODEL_NAME}'"):
        ModelReference.parse("models:/other-model/1")


def test_a_relative_local_store_is_under_the_project(tmp_path: Path) -> None:
    assert absolute_uri("sqlite:///mlflow.db", tmp_path) == (
        f"sqlite:///{tmp_path.as_posix()}/mlflow.db"
    )
    assert absolute_uri("sqlite:////abs/mlflow.db", tmp_path) == (
        "sqlite:////abs/mlflow.db"
    )
    assert absolute_uri("http://127.0.0.1:5000", tmp_path) == "http://127.0.0.1:5000"
    assert absolute_uri("mlruns", tmp_path) == (tmp_path / "mlruns").as_uri()


# ------------------------------------------------------------------ a real store
@pytest.fixture(scope="module")
def registered_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store with two versions of the model (made once: MLflow's
    schema migrations take seconds), copied for each test."""
    folder = tmp_path_factory.mktemp("registry")
    registry = ModelRegistry(f"sqlite:///{folder / 'mlflow.db'}")
    for version in (OLD, NEW):
        source = folder / "models" / version
        source.mkdir(parents=True)
        registry.register(
            source.as_uri(),
            run_id=None,
            tags={KEDRO_VERSION_TAG: version, SHA256_TAG: "ab" * 32},
        )
    return folder / "mlflow.db"


@pytest.fixture
def registry(registered_store: Path, tmp_path: Path) -> ModelRegistry:
    """A registry of its own, with two versions of the model and no alias."""
    shutil.copy(registered_store, tmp_path / "mlflow.db")
    return ModelRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}")


def _manifest(tmp_path: Path) -> ManifestFile:
    manifest = ManifestFile(tmp_path / "model_manifest.json")
    for version in (OLD, NEW):
        manifest.record_version(
            version,
            ArtifactEntry(
                file=f"{version}/m.skops",
                sha256="ab" * 32,
                bytes=1,
                format="skops",
                saved_at="now",
            ),
        )
    return manifest


def test_the_champion_alias_is_the_current_model(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    manifest = _manifest(tmp_path)
    current = RegistryCurrentModel(registry, manifest)
    assert current.current_version() is None  # registered, nothing promoted

    current.make_current(NEW, reason="test")
    assert current.current_version() == NEW
    assert manifest.read().current.version == NEW  # mirrored, with the reason
    assert "registry version 2 is champion" in manifest.read().current.reason

    registry.set_alias(CHALLENGER, "1")
    listed = {m.version: m.aliases for m in registry.versions()}
    assert listed == {"1": (CHALLENGER,), "2": (CHAMPION,)}
    assert registry.summary() == "1 (challenger), 2 (champion)"


def test_a_reference_is_resolved_or_refused_naming_the_versions(
    registry: ModelRegistry,
) -> None:
    registry.set_alias(CHAMPION, "1")
    assert registry.resolve(ModelReference.parse("2")).kedro_version == NEW
    assert registry.resolve(ModelReference.parse("champion")).kedro_version == OLD
    by_uri = registry.resolve(ModelReference.parse(f"models:/{MODEL_NAME}/1"))
    assert by_uri.version == "1"
    assert registry.resolve(ModelReference(kedro_version=NEW)).version == "2"
    with pytest.raises(ModelNotFoundError, match=r"registered versions: 1 \(champ"):
        registry.resolve(ModelReference.parse("7"))
    with pytest.raises(ModelNotFoundError, match="alias 'gold'"):
        registry.resolve(ModelReference.parse("gold"))


# ------------------------------------------------------------------ the card
def _card(decision: dict[str, Any] | None) -> str:
    from customer_purchase_prediction.pipelines.reporting import nodes
    from customer_purchase_prediction.pipelines.reporting.params import (
        ReportingParams,
    )
    from tests.pipelines.reporting.inputs import (
        fitted_model,
        importance_table,
        model_metrics,
        predictions,
    )

    business = BusinessParams()
    impact = nodes.assess_business_impact(predictions(), business)[0]
    return nodes.write_model_card(
        model_metrics(selected="logistic_regression"),
        impact,
        importance_table(),
        fitted_model(),
        ReportingParams(),
        business,
        decision,
    )


def _registry_part(card: str) -> str:
    return card.split("## Registry", 1)[1].split("\n## ", 1)[0]


def test_the_card_says_champion_or_challenger_and_by_how_much() -> None:
    worse = _registry_part(_card(gate_decision("f1", 0.70, 0.75, "3", GATE)))
    assert "becomes the **challenger** of `purchase-model`" in worse
    assert "worse than champion 3" in worse
    assert "its F1 is 0.700 against 0.750 for champion 3: 0.050 lower" in worse
    assert "keep the champion" in worse

    better = _registry_part(_card(gate_decision("f1", 0.80, 0.75, "3", GATE)))
    assert "becomes the **champion**" in better and "0.050 higher" in better
    assert "keep the champion" not in better

    first = _registry_part(_card(gate_decision("f1", 0.8, None, None, GATE)))
    assert "**champion** of `purchase-model`: there is no champion yet" in first

    forced = gate_decision("f1", 0.1, 0.75, "3", RegistryParams(promote="always"))
    assert "registry.promote=always (`registry.promote`)" in _card(forced)

    assert "No registry decision was recorded" in _registry_part(_card(None))
