"""Project CLI: Kedro's own ``run`` command, with input errors told in one message.

A wrong file, record or parameter is the user's to fix, not a bug: it is shown
as ``Error: <what is wrong and where>`` instead of a traceback. Every other
failure keeps Kedro's full traceback.

``kedro model list`` shows the recorded model versions, their registry versions
and aliases, and which is current (the ``champion``); ``kedro model promote
VERSION`` makes a version the champion by hand (what inference,
``PurchasePredictor()``, ``kedro serve`` and the reports load).

``--to-outputs`` without ``--pipelines`` runs the registered pipeline that writes
the named datasets: ``kedro run --to-outputs=purchase_predictions`` (the command
kedro viz offers) scores with the inference pipeline, which the default training
run never includes.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.project import pipelines as registered_pipelines
from kedro.pipeline import Pipeline
from kedro.validation.exceptions import DataValidationError, ParameterValidationError

from customer_purchase_prediction.artifact import ModelArtifactDataset
from customer_purchase_prediction.errors import PurchasePredictionError
from customer_purchase_prediction.manifest import describe_versions
from customer_purchase_prediction.predictor import project_model_dataset
from customer_purchase_prediction.registry import MODEL_NAME, RegistryCurrentModel
from customer_purchase_prediction.values import printable

logger = logging.getLogger(__name__)

USER_ERRORS = (PurchasePredictionError, ParameterValidationError, DataValidationError)
DEFAULT = "__default__"


def find_user_error(exc: BaseException) -> BaseException | None:
    """The first error in ``exc``'s chain that describes bad input, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, USER_ERRORS):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def pipelines_for_outputs(
    outputs: Sequence[str], named: Sequence[str], registry: Mapping[str, Pipeline]
) -> list[str]:
    """The pipelines to run so that ``--to-outputs`` finds every dataset it names.

    Args:
        outputs: The datasets given with ``--to-outputs``.
        named: The pipelines given with ``--pipelines``; empty for the default.
        registry: The registered pipelines.

    Returns:
        ``named`` when given (an unknown name is left for Kedro to report);
        otherwise ``[]`` (the default run) if it has every dataset, else, for
        each dataset it lacks, the smallest registered pipeline that writes it,
        after ``__default__`` if the default run has some of the others.

    Raises:
        click.ClickException: A dataset is in none of the given pipelines, or in
            no registered pipeline at all; the message names the way out.
    """
    if any(name not in registry for name in named):
        return list(named)
    selected = sum((registry[name] for name in named or [DEFAULT]), Pipeline([]))
    extra: list[str] = []
    for output in outputs:
        if output in selected.datasets():
            continue
        having = sorted(
            (name for name, pipe in registry.items() if output in pipe.datasets()),
            key=lambda name: (
                output not in registry[name].all_outputs(),
                len(registry[name].nodes),
                name,
            ),
        )
        if not having:
            known = set().union(*(pipe.datasets() for pipe in registry.values()))
            close = difflib.get_close_matches(output, sorted(known), n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise click.ClickException(
                f"no registered pipeline has a dataset named {output}{hint}"
            )
        if named:
            plural = "s" if len(named) > 1 else ""
            raise click.ClickException(
                f"{output} is not written by the {', '.join(named)} pipeline{plural}; "
                f"it is written by the {having[0]} pipeline: kedro run "
                f"--pipelines={having[0]} --to-outputs={output}"
            )
        if having[0] not in extra:
            extra.append(having[0])
    if named or not extra:
        return list(named)
    if any(output in selected.datasets() for output in outputs):
        return [DEFAULT, *extra]
    return extra


def _pipelines_to_run(kwargs: dict[str, Any]) -> list[str]:
    """The ``--pipelines`` the user gave, or those ``--to-outputs`` needs."""
    named = [kwargs["pipeline"]] if kwargs.get("pipeline") else kwargs["pipelines"]
    outputs = kwargs.get("to_outputs") or []
    if not outputs:
        return named
    chosen = pipelines_for_outputs(outputs, named, registered_pipelines)
    if chosen != named:
        logger.info(
            "Running kedro run --pipelines=%s --to-outputs=%s: the default "
            "(training) run does not write every dataset named",
            ",".join(chosen),
            ",".join(outputs),
        )
    return chosen


def _run(**kwargs: Any) -> Any:
    try:
        pipelines_to_run = _pipelines_to_run(kwargs)
        if not kwargs.get("pipeline"):
            kwargs["pipelines"] = pipelines_to_run
        return kedro_run.callback(**kwargs)  # type: ignore[misc]
    except Exception as exc:
        user_error = find_user_error(exc)
        if user_error is None:
            raise
        raise click.ClickException(terminal_safe(str(user_error))) from exc


def terminal_safe(message: str) -> str:
    """``message`` with control characters and escape sequences shown, not sent.

    The values a message quotes are escaped where it is written
    (``values.shorten``); this covers any other text, such as a file name.
    """
    return "\n".join(printable(line) for line in message.split("\n"))


# Named like Kedro's own project command group, so that ``kedro --help`` merges
# the two and lists ``run`` once (this one, which takes precedence).
@click.group(name="kedro")
def cli() -> None:
    """Commands of the Customer Purchase Prediction project."""


# Module level, because ``find_run_command`` (``python -m`` and the
# ``customer-purchase-prediction`` script) looks for ``cli.run``.
run = click.Command(
    name="run",
    callback=_run,
    params=kedro_run.params,
    help=kedro_run.help,
    short_help=kedro_run.short_help,
)
cli.add_command(run)


@cli.group(name="model")
def model_commands() -> None:
    """The model versions: list them (with the registry's aliases), promote one."""


@model_commands.command(name="list")
@click.pass_obj
def list_models(metadata: Any) -> None:
    """Every version a training run recorded, oldest first; * marks the current.

    With a tracking store, each line also names the registry version of
    purchase-model and its aliases (champion, challenger).
    """
    dataset = _model_dataset(metadata)
    rows = list(describe_versions(dataset.manifest))
    if not rows:
        click.echo(f"No model recorded in {dataset.manifest.path}; run 'kedro run'.")
        return
    registered = _registered_by_kedro_version(dataset)
    current = _current_version(dataset)
    for row in rows:
        score = row["test_score"]
        shown = "-" if score is None else f"{score:.4f}"
        entry = registered.get(row["version"])
        where = "  unregistered"
        if entry is not None:
            aliases = f" ({', '.join(entry.aliases)})" if entry.aliases else ""
            where = f"  {MODEL_NAME}/{entry.version}{aliases}"
        click.echo(
            f"{'*' if row['version'] == current else ' '} {row['version']}"
            f"{where if registered else ''}  {row['model_name']}"
            f"  test {row['selection_metric']} {shown}"
            f"  rows {row['training_rows']}  sha256 {row['sha256'][:12]}"
        )


@model_commands.command(name="promote")
@click.argument("version")
@click.option("--reason", default="promoted by hand", help="Recorded with the choice.")
@click.pass_obj
def promote_model(metadata: Any, version: str, reason: str) -> None:
    """Make VERSION the champion: a registry version (3, models:/purchase-model/3),
    an alias (challenger) or a Kedro version; its file is checked intact first."""
    dataset = _model_dataset(metadata)
    try:
        kedro_version = dataset.referenced_version(version)
        dataset.load_verified(kedro_version)  # refuse a damaged or unrecorded one
        dataset.make_current(kedro_version, reason=reason)
    except PurchasePredictionError as exc:
        raise click.ClickException(terminal_safe(str(exc))) from exc
    click.echo(f"Current model is now version {kedro_version}.")


# The name of the command before the registry; the same as promote.
model_commands.add_command(promote_model, name="use")


def _registered_by_kedro_version(dataset: ModelArtifactDataset) -> dict[str, Any]:
    source = dataset.current_source
    if not isinstance(source, RegistryCurrentModel):
        return {}
    try:
        return {m.kedro_version: m for m in source.registry.versions()}
    except PurchasePredictionError as exc:
        raise click.ClickException(terminal_safe(str(exc))) from exc


def _current_version(dataset: ModelArtifactDataset) -> str | None:
    try:
        return dataset.current_version()
    except PurchasePredictionError as exc:
        raise click.ClickException(terminal_safe(str(exc))) from exc


def _model_dataset(metadata: Any) -> ModelArtifactDataset:
    root = getattr(metadata, "project_path", None) or Path.cwd()
    return project_model_dataset(root)


@cli.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64),
    help="Worker processes (each loads the model once).",
)  # fmt: skip
@click.option(
    "--model",
    "model",
    default=None,
    help="A registry version or alias (3, champion, models:/purchase-model/3), "
    "a Kedro version (kedro model list) or a path to an artifact; "
    "default: the champion.",
)
@click.option(
    "--sha256",
    "sha256",
    default=None,
    help="With --model PATH: the SHA-256 the file must have (required for an "
    "artifact no model manifest records).",
)
@click.option(
    "--env", "-e", default=None, help="Configuration environment (default local)."
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Serve a non-loopback address without an API key.",
)
@click.option(
    "--loop",
    type=click.Choice(["uvloop", "asyncio"]),
    default="uvloop",
    show_default=True,
    help="Event loop. uvloop spreads connections over --workers and answers "
    "faster; asyncio lets one worker accept every connection "
    "(docs/performance.md).",
)
@click.pass_obj
def serve_command(  # noqa: PLR0913, PLR0917 - one parameter per option
    metadata: Any,
    host: str,
    port: int,
    workers: int,
    model: str | None,
    sha256: str | None,
    env: str | None,
    insecure: bool,
    loop: str,
) -> None:
    """Serve the model over HTTP (POST /v1/predict; OpenAPI page at /docs).

    An API key (X-API-Key), from PURCHASE_API_KEY or serving.api_key in
    conf/local/credentials.yml, is then required for /v1/*; binding an address
    other than loopback without one is refused unless --insecure.
    """
    # Imported here: FastAPI and uvicorn are only needed by this command.
    from customer_purchase_prediction.serving import server  # noqa: PLC0415

    root = Path(getattr(metadata, "project_path", None) or Path.cwd())
    if sha256 is not None and (model is None or server.is_model_reference(model)):
        raise click.UsageError(
            "--sha256 checks an artifact given by path: use it with --model PATH "
            "(a registered or Kedro version is checked against its manifest)"
        )
    try:
        settings = server.project_settings(
            root, env=env, model=model, model_sha256=sha256
        )
        server.serve(
            settings,
            host=host,
            port=port,
            workers=workers,
            insecure=insecure,
            loop=loop,
        )
    except PurchasePredictionError as exc:
        raise click.ClickException(terminal_safe(str(exc))) from exc
