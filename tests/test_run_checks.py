"""Run-time parameters and output paths are checked before any work.

A misspelt or ignored ``--params`` key, a value out of range, an output that is
the input, a folder or unwritable: one line naming the key, and nothing runs.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kedro.config import OmegaConfigLoader
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project
from pydantic import BaseModel

from customer_purchase_prediction import params as params_module
from customer_purchase_prediction.errors import OutputPathError, RunParameterError
from customer_purchase_prediction.output_paths import CATALOG_RESOLVERS
from customer_purchase_prediction.pipelines.reporting import params as reporting
from customer_purchase_prediction.run_checks import (
    ProjectConfig,
    check_runtime_names,
    check_typed_parameters,
    parameter_requirements,
    read_project_config,
)
from tests.conftest import PROJECT_ROOT, run_project
from tests.test_cli import kedro_run


def _loader(**runtime: Any) -> OmegaConfigLoader:
    return OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        env="test",
        base_env="base",
        default_run_env="local",
        runtime_params=runtime,
        custom_resolvers=CATALOG_RESOLVERS,
    )


@pytest.fixture(scope="module")
def config() -> ProjectConfig:
    return read_project_config(_loader())


@pytest.fixture(scope="module")
def requirements() -> dict[str, type]:
    """The typed parameters of every registered pipeline."""
    bootstrap_project(PROJECT_ROOT)
    pipelines.set_requested(None)  # every pipeline, whatever a run asked before
    return parameter_requirements(pipelines)


def test_the_valid_keys_come_from_the_configuration(config: ProjectConfig) -> None:
    catalog = (PROJECT_ROOT / "conf/base/catalog.yml").read_text()
    for name in config.runtime_names:
        assert f"${{runtime_params:{name}" in catalog
    assert {
        "raw_sessions_path",
        "inference_input_path",
        "inference_output_path",
    } <= set(config.runtime_names)
    on_disk = {
        key
        for path in (PROJECT_ROOT / "conf/base").glob("parameters*.yml")
        for key in __import__("yaml").safe_load(path.read_text())
    }
    assert set(config.sections) == on_disk
    assert config.dataset_names["rejected_new_sessions"] == (
        "inference_rejects_path",
        "inference_output_path",
    )


@pytest.mark.parametrize(
    ("key", "nearest"),
    [
        ("raw_session_path", "raw_sessions_path"),
        ("inference_input_paht", "inference_input_path"),
        ("inference_outptu_path", "inference_output_path"),
        ("modeling", "modelling"),
        ("Reporting", "reporting"),
    ],
)
def test_a_misspelt_key_names_the_nearest_valid_one(
    config: ProjectConfig, key: str, nearest: str
) -> None:
    with pytest.raises(
        RunParameterError,
        match=rf"^unknown run-time parameter '{key}'; did you mean {nearest}\?",
    ):
        check_runtime_names({key: "x"}, config)


@settings(max_examples=100, deadline=None)
@given(key=st.text(string.ascii_letters + string.digits + "_-", min_size=1))
def test_every_unknown_key_is_refused_and_every_known_one_passes(
    config: ProjectConfig, key: str
) -> None:
    known = config.top_level_keys
    value: Any = {} if key in config.sections else "some/file.csv"
    if key in known:
        check_runtime_names({key: value}, config)
    else:
        with pytest.raises(RunParameterError, match=f"'{key}'") as caught:
            check_runtime_names({key: value}, config)
        assert "\n" not in str(caught.value)


def test_a_dotted_key_kedro_would_ignore_is_refused(config: ProjectConfig) -> None:
    with pytest.raises(
        RunParameterError,
        match=r"'modelling.selection_metric' is one key with dots.*give it nested, "
        r"as \{'modelling': \{'selection_metric': \.\.\.\}\}",
    ):
        check_runtime_names({"modelling.selection_metric": "precision"}, config)


@pytest.mark.parametrize("value", [None, "", "  ", {"a": 1}, 3])
def test_a_path_parameter_must_be_a_path(config: ProjectConfig, value: Any) -> None:
    with pytest.raises(RunParameterError, match="inference_output_path must be a file"):
        check_runtime_names({"inference_output_path": value}, config)


def test_a_whole_section_cannot_be_one_value(config: ProjectConfig) -> None:
    with pytest.raises(RunParameterError, match=r"modelling is a section .*--params="):
        check_runtime_names({"modelling": 3}, config)


@pytest.mark.parametrize(
    ("runtime", "message"),
    [
        (
            {"modelling": {"confidence": {"high": 1.5}}},
            r"^modelling.confidence.high: Input should be less than 1 "
            r"\(input_value=1.5\)$",
        ),
        (
            {"modelling": {"confidnce": {"high": 0.3}}},
            r"^modelling.confidnce: no such parameter; did you mean "
            r"modelling.confidence\? modelling takes: split, ",
        ),
        (
            {"modelling": {"split": {"tarin": 0.6}}},
            r"^modelling.split.tarin: no such parameter; did you mean "
            r"modelling.split.train\?",
        ),
        (
            {"modelling": {"seed": -1}},
            r"^modelling.seed: Input should be greater than or equal to 0",
        ),
        (
            {"modelling": {"split": {"seed": 2**32}}},
            r"^modelling.split.seed: Input should be less than or equal to 4294967295",
        ),
        (
            {"modelling": {"cv_folds": 1}},
            r"^modelling.cv_folds: Input should be greater than or equal to 2",
        ),
        (
            {"modelling": {"min_training_rows": 0}},
            r"^modelling.min_training_rows: Input should be greater than or equal to 1",
        ),
        (
            {"modelling": {"split": {"train": 0.8}}},
            r"^modelling.split fractions must sum to 1; got train=0.8",
        ),
        (
            {"modelling": {"candidates": {"xgboost": {"defaults": {"max_dept": 3}}}}},
            r"^modelling.candidates.xgboost.defaults.max_dept: .* has no parameter",
        ),
        (
            {"business": {"contact_cost": -5}},
            r"^business.contact_cost: Input should be greater than",
        ),
        (
            {"data_processing": {"outlier_iqr_multipler": 2}},
            r"^data_processing.outlier_iqr_multipler: no such parameter; did you mean "
            r"data_processing.outlier_iqr_multiplier\?",
        ),
        (
            {"feature_engineering": {"cap_quantile": 2}},
            r"^feature_engineering.cap_quantile: Input should be less than or equal",
        ),
    ],
)
def test_a_bad_key_or_value_under_a_section_is_one_line_naming_it(
    requirements: dict[str, type], runtime: dict[str, Any], message: str
) -> None:
    parameters = _loader(**runtime)["parameters"]
    with pytest.raises(RunParameterError, match=message) as caught:
        check_typed_parameters(parameters, requirements)
    assert "\n" not in str(caught.value)


def _field_names(module: Any) -> list[str]:
    names: list[str] = []
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, BaseModel):
            names.extend(value.model_fields)
    return sorted(set(names))


@settings(max_examples=60, deadline=None)
@given(
    section=st.sampled_from(["modelling", "data_processing", "feature_engineering"]),
    path=st.lists(
        st.sampled_from([*_field_names(params_module), "confidnce", "hihg", "zz"]),
        min_size=1,
        max_size=3,
    ),
    value=st.sampled_from([0.5, 3, -1, 1.5, "x", True]),
)
def test_no_unknown_or_bad_nested_key_passes_silently(
    requirements: dict[str, type], section: str, path: list[str], value: Any
) -> None:
    """Either one line naming the key, or the value is really where it was put."""
    nested: Any = value
    for part in reversed(path):
        nested = {part: nested}
    parameters = _loader(**{section: nested})["parameters"]
    try:
        check_typed_parameters(parameters, requirements)
    except RunParameterError as error:
        assert "\n" not in str(error)
        assert str(error).startswith(section)
        return
    validated = requirements[section].model_validate(parameters[section])
    landed: Any = validated.model_dump()
    for part in path:
        assert isinstance(landed, dict)
        assert part in landed
        landed = landed[part]
    assert landed == value


def test_the_configured_parameters_pass(requirements: dict[str, type]) -> None:
    check_typed_parameters(_loader()["parameters"], requirements)


def test_every_section_is_typed_and_every_model_refuses_unknown_keys(
    config: ProjectConfig, requirements: dict[str, type]
) -> None:
    assert set(config.sections) <= set(requirements)
    models = [
        value
        for module in (params_module, reporting)
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value is not BaseModel
    ]
    assert len(models) >= 10
    for model in models:
        assert model.model_config.get("extra") == "forbid", model.__name__


# ---------------------------------------------------------------- KedroSession


def _raised(error: BaseException, kind: type[BaseException]) -> BaseException:
    current: BaseException | None = error
    while current is not None and not isinstance(current, kind):
        current = current.__cause__ or current.__context__
    assert isinstance(current, kind), repr(error)
    return current


@pytest.mark.parametrize(
    ("pipeline", "runtime", "message"),
    [
        (
            "data_processing",
            {"raw_session_path": "x.csv"},
            "unknown run-time parameter 'raw_session_path'; did you mean "
            "raw_sessions_path?",
        ),
        (
            "inference",
            {"inference_input_paht": "x.csv"},
            "did you mean inference_input_path?",
        ),
        (
            "data_processing",
            {"modelling.selection_metric": "precision"},
            "'modelling.selection_metric' is one key with dots",
        ),
        (
            None,
            {"modelling": {"confidence": {"high": 1.5}}},
            "modelling.confidence.high: Input should be less than 1",
        ),
        (
            "inference",
            {"modelling": {"confidence": {"high": 0.3}}},
            "modelling.confidence.high: no node of this run reads modelling "
            "parameters, so it would be ignored",
        ),
        (
            "data_processing",
            {"inference_output_path": "out/x.csv"},
            "inference_output_path sets the path of contact_list, drift_page, "
            "drift_report, inference_summary, purchase_predictions, "
            "rejected_new_sessions, which this run neither reads nor writes",
        ),
    ],
)
def test_a_session_run_stops_before_any_work(
    project_dir: Path, pipeline: str | None, runtime: dict[str, Any], message: str
) -> None:
    with pytest.raises(Exception) as caught:
        run_project(project_dir, pipeline=pipeline, params=runtime)
    error = _raised(caught.value, RunParameterError)
    assert message in str(error)
    assert not (project_dir / "data" / "02_intermediate").exists()
    assert not (project_dir / "data" / "07_model_output").exists()


@pytest.mark.parametrize(
    ("runtime", "message"),
    [
        (
            {"inference_output_path": "data/01_raw/new_sessions.csv"},
            "inference_output_path is the input file itself (new_sessions: "
            "data/01_raw/new_sessions.csv)",
        ),
        (
            {"inference_output_path": "./data/01_raw/../01_raw/new_sessions.csv"},
            "inference_output_path is the input file itself",
        ),
        (
            {"inference_input_path": "data/07_model_output/purchase_predictions.csv"},
            "purchase_predictions is the input file itself (inference_input_path: ",
        ),
        (
            {"inference_output_path": "o.csv", "inference_rejects_path": "o.csv"},
            "inference_output_path and inference_rejects_path are one file (o.csv)",
        ),
        (
            {"inference_output_path": "o.csv", "inference_summary_path": "o.csv"},
            "inference_output_path and inference_summary_path are one file",
        ),
        (
            {"inference_output_path": "data"},
            "inference_output_path: cannot write {root}/data: it is a folder",
        ),
        (
            {"inference_output_path": "data/01_raw/new_sessions.csv/x.csv"},
            "inference_output_path: cannot write {root}/data/01_raw/new_sessions.csv/"
            "x.csv: cannot create its folder",
        ),
        (
            {"inference_output_path": "out/x.csv", "inference_summary_path": "data"},
            "inference_summary_path: cannot write {root}/data: it is a folder",
        ),
    ],
)
def test_outputs_are_checked_before_the_model_or_a_row_is_read(
    project_dir: Path, runtime: dict[str, Any], message: str
) -> None:
    # No model is trained in project_dir: a run that got as far as loading
    # it would fail with ModelNotFoundError instead.
    before = (project_dir / "data/01_raw/new_sessions.csv").read_bytes()
    with pytest.raises(Exception) as caught:
        run_project(project_dir, pipeline="inference", params=runtime)
    error = _raised(caught.value, OutputPathError)
    assert message.format(root=project_dir.resolve()) in str(error)
    assert (project_dir / "data/01_raw/new_sessions.csv").read_bytes() == before
    assert not (project_dir / "data" / "07_model_output").exists()


def test_an_output_may_not_overwrite_another_file_of_the_project(
    project_dir: Path,
) -> None:
    catalog = _loader()["catalog"]
    cases = {
        catalog["raw_sessions"]["filepath"]: "raw_sessions",
        f"{catalog['purchase_model']['filepath']}/2099-01-01T00.00.00.000Z/x.csv": (
            "purchase_model"
        ),
    }
    if "manifest" in catalog["purchase_model"]:
        cases[catalog["purchase_model"]["manifest"]] = "purchase_model (manifest)"
    for output, owner in cases.items():
        with pytest.raises(Exception) as caught:
            run_project(
                project_dir,
                pipeline="inference",
                params={"inference_output_path": output},
            )
        message = str(_raised(caught.value, OutputPathError))
        assert message.startswith(f"inference_output_path ({output}) would overwrite")
        assert f", the file of {owner}: give inference_output_path another" in message
    assert not (project_dir / "data" / "07_model_output").exists()


def test_training_input_may_not_be_a_training_output(project_dir: Path) -> None:
    raw = project_dir / "data/03_primary/sessions.parquet"
    raw.parent.mkdir(parents=True)
    pd.read_csv(project_dir / "data/01_raw/customer_sessions.csv").to_parquet(raw)
    with pytest.raises(Exception) as caught:
        run_project(
            project_dir,
            pipeline="data_processing",
            params={"raw_sessions_path": "data/03_primary/sessions.parquet"},
        )
    assert "sessions is the input file itself (raw_sessions_path: " in str(
        _raised(caught.value, OutputPathError)
    )


# ---------------------------------------------------------------- command line


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--params=raw_session_path=x.csv"],
            "Error: unknown run-time parameter 'raw_session_path'; did you mean "
            "raw_sessions_path?",
        ),
        (
            ["--pipelines=inference", "--params=inference_input_paht=x.csv"],
            "Error: unknown run-time parameter 'inference_input_paht'; did you mean "
            "inference_input_path?",
        ),
        (
            ["--params=modelling.confidence.high=1.5"],
            "Error: modelling.confidence.high: Input should be less than 1 "
            "(input_value=1.5)",
        ),
        (
            ["--params=modelling.confidnce.high=0.3"],
            "Error: modelling.confidnce: no such parameter; did you mean "
            "modelling.confidence?",
        ),
        (
            ["--pipelines=inference", "--params=modelling.confidence.high=0.3"],
            "Error: modelling.confidence.high: no node of this run reads modelling",
        ),
        (
            [
                "--pipelines=inference",
                "--params=inference_output_path=data/01_raw/new_sessions.csv",
            ],
            "Error: inference_output_path is the input file itself",
        ),
        (
            ["--pipelines=inference", "--params=inference_output_path=data"],
            "Error: inference_output_path: cannot write",
        ),
    ],
)
def test_the_command_line_prints_one_error_line(
    project_dir: Path, arguments: list[str], message: str
) -> None:
    code, output = kedro_run(project_dir, "--env=test", *arguments)
    assert code == 1
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    assert errors[0].startswith(message), errors[0]
    assert "Traceback" not in output
    assert not (project_dir / "data" / "02_intermediate").exists()
