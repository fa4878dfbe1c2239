"""Project CLI: Kedro's own ``run`` command, with input errors told in one message.

A wrong file, record or parameter is the user's to fix, not a bug: it is shown
as ``Error: <what is wrong and where>`` instead of a traceback. Every other
failure keeps Kedro's full traceback.
"""

from __future__ import annotations

from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.validation.exceptions import DataValidationError, ParameterValidationError

from customer_purchase_prediction.errors import PurchasePredictionError

USER_ERRORS = (PurchasePredictionError, ParameterValidationError, DataValidationError)


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


def _run(**kwargs: Any) -> Any:
    try:
        return kedro_run.callback(**kwargs)  # type: ignore[misc]
    except Exception as exc:
        user_error = find_user_error(exc)
        if user_error is None:
            raise
        raise click.ClickException(str(user_error)) from exc


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
