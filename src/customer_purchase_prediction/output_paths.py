"""Where a scoring run's outputs go, and the checks on them before any work.

The naming rule is written once, here: the rejects and the summary of a
predictions file ``<dir>/<name>.<ext>`` go beside it, as
``<dir>/<name>_rejected.<ext>`` and ``<dir>/<name>_summary.json``. The catalog
applies it through the ``beside_output`` resolver (registered in
``settings.py``), so ``--params=inference_output_path=out/x.parquet`` alone
moves all three; ``PurchasePredictor.predict_from_csv`` applies it directly.

``check_paths`` refuses, before a single row is read, an output that is the
input itself, two outputs that are one file, and an output that is a folder or
cannot be written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from kedro.io.core import get_protocol_and_path

from customer_purchase_prediction.atomic import check_writable
from customer_purchase_prediction.errors import OutputPathError

Sibling = Literal["rejected", "summary", "drift", "drift_page", "contact_list"]
SIBLINGS: tuple[Sibling, ...] = (
    "rejected",
    "summary",
    "drift",
    "drift_page",
    "contact_list",
)
SUMMARY_EXTENSION = ".json"
# Each sibling's name suffix and extension (None: the output's own extension).
SIBLING_FILES: dict[str, tuple[str, str | None]] = {
    "rejected": ("rejected", None),
    "summary": ("summary", SUMMARY_EXTENSION),
    "drift": ("drift", ".json"),  # the drift report (drift.py)
    "drift_page": ("drift", ".html"),  # and its HTML page
    "contact_list": ("contact_list", None),  # the contact list (targeting.py)
}
RESOLVER = "beside_output"


def sibling_path(output: str | os.PathLike[str], kind: Sibling) -> str:
    """``<dir>/<name>_rejected.<ext>``, ``<dir>/<name>_summary.json``,
    ``<name>_drift.json`` or ``<name>_drift.html`` of ``output``.

    Works on the text of the path, so a remote (``s3://...``) or relative path
    keeps its form; a trailing separator (a partitioned folder) is ignored.
    """
    if kind not in SIBLINGS:
        raise ValueError(f"kind must be one of {', '.join(SIBLINGS)}; got {kind!r}")
    text = os.fspath(output)
    separators = "/" + (os.sep if os.sep != "/" else "") + (os.altsep or "")
    text = text.rstrip(separators) or text
    cut = max(text.rfind(separator) for separator in separators) + 1
    folder, name = text[:cut], PurePosixPath(text[cut:])
    suffix, extension = SIBLING_FILES[kind]
    return f"{folder}{name.stem}_{suffix}{extension or name.suffix}"


def beside_output(kind: Sibling, output: Any, default: str) -> str:
    """The catalog resolver: ``default`` without an output path, else its sibling.

    ``${beside_output:rejected, ${runtime_params:inference_output_path, null},
    data/07_model_output/rejected_sessions.csv}``
    """
    if output is None or (isinstance(output, str) and not output.strip()):
        return default
    return sibling_path(str(output), kind)


CATALOG_RESOLVERS = {RESOLVER: beside_output}


def same_file(first: str, second: str, *, root: Path | None = None) -> bool:
    """Whether two paths name one file: resolved, and with links followed."""
    first_protocol, first_path = get_protocol_and_path(first)
    second_protocol, second_path = get_protocol_and_path(second)
    if first_protocol != second_protocol:
        return False
    if first_protocol != "file":
        return first_path.rstrip("/") == second_path.rstrip("/")
    one, other = _local(first_path, root), _local(second_path, root)
    if one == other:
        return True
    try:
        return one.exists() and other.exists() and os.path.samefile(one, other)
    except OSError:
        return False


def check_paths(
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
    *,
    writable: Mapping[str, str] | None = None,
    protected: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> None:
    """Refuse outputs that overwrite an input or each other, or cannot be written.

    Args:
        inputs: What each input is called (a parameter, an argument), and its path.
        outputs: The same for the outputs.
        writable: The outputs to check can be written (default: all of
            ``outputs``); the folders they need are created.
        protected: Other files (or folders) of the project, by name, that the
            ``writable`` outputs may not overwrite or write into.
        root: What relative paths are relative to (default: the working folder).

    Raises:
        OutputPathError: naming the key, the path and the way out.
    """
    for output, output_path in outputs.items():
        for source, input_path in inputs.items():
            if same_file(output_path, input_path, root=root):
                raise OutputPathError(
                    f"{output} is the input file itself ({source}: {input_path}); "
                    "writing it would overwrite the sessions being read: give "
                    f"{output} another path"
                )
    names = list(outputs)
    for position, output in enumerate(names):
        for other in names[position + 1 :]:
            if same_file(outputs[output], outputs[other], root=root):
                raise OutputPathError(
                    f"{output} and {other} are one file ({outputs[output]}); one "
                    "would overwrite the other: give them different paths"
                )
    checked = outputs if writable is None else writable
    for output, path in checked.items():
        for name, other in (protected or {}).items():
            if same_file(path, other, root=root) or _inside(path, other, root):
                raise OutputPathError(
                    f"{output} ({path}) would overwrite {other}, the file of {name}: "
                    f"give {output} another path"
                )
    for output, path in checked.items():
        protocol, local = get_protocol_and_path(path)
        if protocol != "file":
            continue
        try:
            check_writable(_local(local, root))
        except OutputPathError as exc:
            raise OutputPathError(f"{output}: {exc}") from exc


def _inside(path: str, folder: str, root: Path | None) -> bool:
    """Whether local ``path`` lies under ``folder`` (a versioned dataset's).

    A ``folder`` that is a file is left to ``check_writable`` to report.
    """
    protocol, local = get_protocol_and_path(path)
    folder_protocol, folder_local = get_protocol_and_path(folder)
    if protocol != "file" or folder_protocol != "file":
        return False
    container = _local(folder_local, root)
    return not container.is_file() and container in _local(local, root).parents


def _local(path: str, root: Path | None) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.is_absolute():
        resolved = (root or Path.cwd()) / resolved
    return resolved.resolve()
