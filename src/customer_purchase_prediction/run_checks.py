"""Run-time parameters and paths checked before any work (a Kedro hook).

``kedro run --params=...`` accepts any key, and Kedro quietly keeps what no
node reads: ``raw_session_path=x.csv`` trained on the embedded data,
``inference_input_paht=...`` scored the default file, and
``--pipelines=inference --params=modelling.confidence.high=0.3`` changed
nothing. ``RunChecks`` stops such a run before a row is read, in one line that
names the key and, for a misspelling, the nearest valid one:

- a top-level key must be a ``${runtime_params:KEY, ...}`` name of the catalog or
  parameters, or a parameter section (``data_processing``, ``modelling``, ...);
  both lists are read from the configuration itself, never written out here;
- a key under a section must be one its typed parameters (``params.py``) know,
  with a value in range, and the run must have a node that reads the section;
- a path parameter must be a non-empty path, and a pipeline that reads or
  writes its dataset must be part of the run;
- an output may not be an input of the run or another output, and each output
  whose path the user can set must be writable (``output_paths.check_paths``),
  so a two-million-row run does not fail at its last step.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines as registered_pipelines
from kedro.pipeline import Pipeline
from kedro.validation import TypeExtractor
from pydantic import BaseModel, ValidationError

from customer_purchase_prediction.errors import RunParameterError
from customer_purchase_prediction.output_paths import check_paths
from customer_purchase_prediction.registry import TRACKING_SECTION, TrackingParams
from customer_purchase_prediction.scale_out import SECTION as DASK_SECTION
from customer_purchase_prediction.scale_out import DaskParams
from customer_purchase_prediction.serving.config import SECTION, ServingParameters

logger = logging.getLogger(__name__)

RUNTIME_PARAMS = re.compile(r"\$\{runtime_params:\s*([^,}\s]+)")
PARAMS_PREFIX = "params:"
CONFIG_SUFFIXES = frozenset({".yml", ".yaml", ".json"})
# Keys of a catalog entry that name a file (or a versioned folder) of it.
PATH_KEYS = frozenset({"filepath", "path", "manifest"})
# Parameter sections no node reads, with their types: ``kedro serve``'s limits.
SERVICE_PARAMETERS: Mapping[str, type] = {SECTION: ServingParameters}
# Parameter sections a hook reads during a run, with their types: the ``dask``
# environment's cluster (scale_out.py).
HOOK_PARAMETERS: Mapping[str, type] = {
    DASK_SECTION: DaskParams,
    TRACKING_SECTION: TrackingParams,  # tracking.py's TrackingHooks
}


@dataclass(frozen=True)
class ProjectConfig:
    """What the configuration files declare, read without resolving them.

    Attributes:
        runtime_names: Every ``${runtime_params:KEY, ...}`` key, in file order.
        dataset_names: For each catalog entry, the runtime keys its path uses.
        parameters: The parameters of the files, merged as the environments are.
    """

    runtime_names: tuple[str, ...] = ()
    dataset_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sections(self) -> tuple[str, ...]:
        """The top-level parameter keys, such as ``modelling``."""
        return tuple(key for key in self.parameters if not str(key).startswith("_"))

    @property
    def top_level_keys(self) -> tuple[str, ...]:
        """Every key ``--params`` may start with."""
        heads = (name.split(".", 1)[0] for name in self.runtime_names)
        return tuple(dict.fromkeys([*heads, *self.sections]))


def read_project_config(loader: Any) -> ProjectConfig:
    """The runtime keys, catalog paths and parameters the config files declare.

    Args:
        loader: The run's ``OmegaConfigLoader`` (its folder, environments and
            file patterns); a configuration outside a local folder gives an
            empty ``ProjectConfig`` (nothing is checked).
    """
    root = Path(str(loader.conf_source))
    if not root.is_dir():
        logger.debug("Run-time parameters not checked: %s is not a folder", root)
        return ProjectConfig()
    environments = [loader.base_env, loader.env or loader.default_run_env]
    names: dict[str, None] = {}
    datasets: dict[str, tuple[str, ...]] = {}
    parameters: dict[str, Any] = {}
    for environment in dict.fromkeys(e for e in environments if e):
        for content in _config_files(root / environment, loader, "catalog"):
            for dataset, entry in content.items():
                used = tuple(_runtime_names(entry))
                names.update(dict.fromkeys(used))
                filepath = entry.get("filepath") if isinstance(entry, dict) else None
                path_names = tuple(_runtime_names(filepath))
                if path_names and not str(dataset).startswith("_"):
                    datasets[str(dataset)] = path_names
        for content in _config_files(root / environment, loader, "parameters"):
            names.update(dict.fromkeys(_runtime_names(content)))
            parameters = _merged(parameters, content)
    return ProjectConfig(tuple(names), datasets, parameters)


def _config_files(folder: Path, loader: Any, key: str) -> Iterator[dict[str, Any]]:
    patterns = loader.config_patterns.get(key, [])
    found = {
        path
        for pattern in patterns
        for path in folder.glob(pattern)
        if path.is_file() and path.suffix in CONFIG_SUFFIXES
    }
    for path in sorted(found):
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(content, dict):
            yield content


def _runtime_names(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield from (match.strip() for match in RUNTIME_PARAMS.findall(value))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _runtime_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _runtime_names(item)


def _merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into ``base`` key by key (the soft merge of settings)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _leaves(value: Any, prefix: str) -> Iterator[str]:
    """The dotted keys of every value in a nested mapping."""
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _leaves(item, f"{prefix}.{key}")
    else:
        yield prefix


def _nearest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def check_runtime_names(
    runtime_params: Mapping[str, Any], config: ProjectConfig
) -> None:
    """Refuse an unknown, dotted or empty top-level run-time parameter.

    Raises:
        RunParameterError: naming the key and the nearest valid one.
    """
    known = config.top_level_keys
    if not known:
        return
    paths = {name for names in config.dataset_names.values() for name in names}
    for key, value in runtime_params.items():
        key = str(key)  # noqa: PLW2901
        if key not in known and "." in key and key.split(".", 1)[0] in known:
            nested = "".join(f"{{'{part}': " for part in key.split(".")) + "..."
            raise RunParameterError(
                f"run-time parameter '{key}' is one key with dots in it, which "
                "Kedro applies to no parameter (only kedro run --params splits "
                f"dots): give it nested, as {nested}{'}' * key.count('.')}}}"
            )
        if key not in known:
            raise RunParameterError(
                f"unknown run-time parameter '{key}'{_nearest(key, known)} Valid "
                f"top-level keys: {', '.join(sorted(known))}"
            )
        if key in paths and (not isinstance(value, str) or not value.strip()):
            raise RunParameterError(
                f"run-time parameter {key} must be a file path; got {value!r}"
            )
        if key in config.sections and not isinstance(value, Mapping):
            example = next(_leaves(config.parameters.get(key), key), key)
            raise RunParameterError(
                f"{key} is a section of parameters, not one value; got {key}="
                f"{value!r}. Set one of its keys, e.g. --params={example}=..."
            )


def parameter_requirements(pipelines: Mapping[str, Pipeline]) -> dict[str, type]:
    """The type of each parameter: the nodes' typed ``params:`` inputs, and
    the sections read outside the pipelines (``SERVICE_PARAMETERS``)."""
    extracted = TypeExtractor(dict(pipelines)).extract_types_from_pipelines()
    return {**extracted, **SERVICE_PARAMETERS, **HOOK_PARAMETERS}


def check_typed_parameters(
    parameters: Mapping[str, Any], requirements: Mapping[str, type]
) -> None:
    """Validate every typed parameter; the first problem in one line, by its key.

    Args:
        parameters: The run's parameters, run-time values merged in.
        requirements: The type each ``params:`` input of the run's nodes has.

    Raises:
        RunParameterError: ``modelling.confidence.high: Input should be less
            than 1 (input_value=1.5)``; an unknown key names the nearest one.
    """
    for key, expected in requirements.items():
        model = _model_class(expected)
        value = _lookup(parameters, key)
        if model is None or value is None or not isinstance(value, Mapping):
            continue
        try:
            model.model_validate(value)
        except ValidationError as exc:
            raise RunParameterError(_one_line(key, model, exc)) from exc


def _model_class(expected: Any) -> type[BaseModel] | None:
    for candidate in (expected, *get_args(expected)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _lookup(parameters: Mapping[str, Any], key: str) -> Any:
    value: Any = parameters
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _one_line(key: str, model: type[BaseModel], exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = [str(part) for part in error["loc"]]
    where = ".".join([key, *location])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        known = _fields_at(model, location[:-1])
        parent = ".".join([key, *location[:-1]])
        close = [f"{parent}.{name}" for name in known]
        return (
            f"{where}: no such parameter{_nearest(where, close)} "
            f"{parent} takes: {', '.join(known)}"
        )
    if message.startswith(f"{key}.") or message.startswith(f"{key} "):
        return message
    return f"{where}: {message} (input_value={error.get('input')!r})"


def _fields_at(model: type[BaseModel], location: list[str]) -> list[str]:
    """The field names of the model nested at ``location`` (free keys skipped)."""
    current: Any = model
    for part in location:
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(part)
            current = None if info is None else info.annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
        current = _model_class(current) or current
    if get_origin(current) is dict:
        current = _model_class(get_args(current)[1])
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def check_read_by_run(
    runtime_params: Mapping[str, Any], config: ProjectConfig, pipeline: Pipeline
) -> None:
    """Refuse a run-time parameter that nothing in this run would read.

    Raises:
        RunParameterError: the section is read by no node of the run, or the
            path belongs to datasets the run neither reads nor writes.
    """
    read = {
        name.removeprefix(PARAMS_PREFIX)
        for node in pipeline.nodes
        for name in node.inputs
        if name.startswith(PARAMS_PREFIX) or name == "parameters"
    }
    datasets = pipeline.datasets()
    for key, value in runtime_params.items():
        if key in config.sections:
            if key in HOOK_PARAMETERS:
                continue
            if "parameters" in read or any(
                name == key or name.startswith(f"{key}.") for name in read
            ):
                continue
            leaf = next(_leaves(value, key))
            raise RunParameterError(
                f"{leaf}: no node of this run reads {key} parameters, so it "
                f"would be ignored; drop it, or run the pipeline that uses {key}"
            )
        using = sorted(d for d, names in config.dataset_names.items() if key in names)
        if using and not datasets.intersection(using):
            raise RunParameterError(
                f"{key} sets the path of {', '.join(using)}, which this run neither "
                "reads nor writes, so it would be ignored; drop it, or give it to "
                "a run of the pipeline that does"
            )


def check_run_paths(
    catalog_config: Mapping[str, Mapping[str, Any]],
    pipeline: Pipeline,
    config: ProjectConfig,
    runtime_params: Mapping[str, Any],
    root: Path,
) -> None:
    """Refuse outputs that overwrite an input or another output, or are unwritable.

    Raises:
        OutputPathError: naming the run-time key (or dataset) and the path.
    """
    user = config.dataset_names

    def label(dataset: str) -> str:
        given = [name for name in user.get(dataset, ()) if name in runtime_params]
        if given and given[0] == user[dataset][0]:
            return given[0]
        if given:
            return f"{dataset} (beside {given[0]})"
        return dataset

    order = {name: position for position, name in enumerate(config.runtime_names)}

    def rank(dataset: str) -> tuple[int, str]:
        """Datasets with user paths first, in the order the configuration names them."""
        names = user.get(dataset)
        return (order.get(names[0], len(order)) if names else len(order), dataset)

    def path_of(dataset: str) -> str | None:
        entry = catalog_config.get(dataset) or {}
        if entry.get("versioned") or not isinstance(entry.get("filepath"), str):
            return None
        return entry["filepath"]

    inputs = {
        label(name): path
        for name in sorted(pipeline.inputs(), key=rank)
        if name in user and (path := path_of(name))
    }
    outputs = {
        label(name): path
        for name in sorted(pipeline.all_outputs(), key=rank)
        if (path := path_of(name))
    }
    writable = {
        label(name): path
        for name in sorted(pipeline.all_outputs(), key=rank)
        if name in user and (path := path_of(name))
    }
    # Only collisions involving a path the user can set are this check's to
    # report; the catalog's own defaults are each a file of their own.
    if not inputs and not writable:
        return
    written = {name for name in pipeline.all_outputs() if name in user}
    protected = {
        f"{name}{'' if key == 'filepath' else f' ({key})'}": value
        for name, entry in catalog_config.items()
        if name not in written
        for key, value in (entry or {}).items()
        if key in PATH_KEYS and isinstance(value, str)
    }
    check_paths(inputs, outputs, writable=writable, protected=protected, root=root)


class RunChecks:
    """Stops a run before any work on a bad run-time parameter or output path."""

    def __init__(self) -> None:
        self._config = ProjectConfig()
        self._loader: Any = None
        self._root = Path.cwd()

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        """Check the run-time keys and every typed parameter, before the catalog."""
        self._loader = context.config_loader
        self._root = Path(context.project_path)
        self._config = read_project_config(self._loader)
        runtime = dict(self._loader.runtime_params or {})
        check_runtime_names(runtime, self._config)
        requirements = parameter_requirements(registered_pipelines)
        try:
            parameters = self._loader["parameters"]
        except MissingConfigException:  # Kedro warns of it itself
            return
        check_typed_parameters(parameters, requirements)

    @hook_impl(tryfirst=True)
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline
    ) -> None:
        """Check that every run-time value is read, and every output writable."""
        runtime = run_params.get("runtime_params") or {}
        check_read_by_run(runtime, self._config, pipeline)
        if self._loader is None:
            return
        catalog_config = self._loader["catalog"]
        check_run_paths(catalog_config, pipeline, self._config, runtime, self._root)
