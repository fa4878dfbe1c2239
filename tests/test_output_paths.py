"""Outputs follow the user: the naming rule, the catalog resolver, the path checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kedro.config import OmegaConfigLoader

from customer_purchase_prediction.errors import OutputPathError
from customer_purchase_prediction.output_paths import (
    CATALOG_RESOLVERS,
    beside_output,
    check_paths,
    same_file,
    sibling_path,
)
from tests.conftest import PROJECT_ROOT

DEFAULT_REJECTS = "data/07_model_output/rejected_sessions.csv"
DEFAULT_SUMMARY = "data/07_model_output/inference_summary.json"


@pytest.mark.parametrize(
    ("output", "rejected", "summary"),
    [
        ("out/x.parquet", "out/x_rejected.parquet", "out/x_summary.json"),
        ("x.csv", "x_rejected.csv", "x_summary.json"),
        (
            "/abs/p/scores.csv",
            "/abs/p/scores_rejected.csv",
            "/abs/p/scores_summary.json",
        ),
        (
            "s3://bucket/run/x.csv",
            "s3://bucket/run/x_rejected.csv",
            "s3://bucket/run/x_summary.json",
        ),
        ("out/parts/", "out/parts_rejected", "out/parts_summary.json"),
        ("a.b.csv", "a.b_rejected.csv", "a.b_summary.json"),
    ],
)
def test_rejects_and_summary_are_named_beside_the_output(
    output: str, rejected: str, summary: str
) -> None:
    assert sibling_path(output, "rejected") == rejected
    assert sibling_path(output, "summary") == summary


names = st.text(
    st.characters(codec="utf-8", exclude_characters="/\\\x00"), min_size=1, max_size=20
).filter(lambda name: name not in {".", ".."} and name.strip("."))


@settings(max_examples=100, deadline=None)
@given(folder=st.sampled_from(["", "out/", "/srv/a b/", "s3://b/k/"]), name=names)
def test_the_siblings_sit_in_the_same_folder_and_never_are_the_output(
    folder: str, name: str
) -> None:
    output = f"{folder}{name}"
    rejected, summary = (
        sibling_path(output, "rejected"),
        sibling_path(output, "summary"),
    )
    assert len({output, rejected, summary}) == 3
    for sibling in (rejected, summary):
        assert sibling.startswith(folder)
        assert "/" not in sibling.removeprefix(folder)
    assert summary.endswith("_summary.json")
    if folder in {"", "out/"}:  # the rule predict_from_csv always had
        path = Path(output)
        assert rejected == str(path.with_name(f"{path.stem}_rejected{path.suffix}"))


def test_the_resolver_keeps_the_default_without_an_output() -> None:
    assert beside_output("rejected", None, DEFAULT_REJECTS) == DEFAULT_REJECTS
    assert beside_output("summary", "  ", DEFAULT_SUMMARY) == DEFAULT_SUMMARY
    assert beside_output("summary", "o/p.csv", DEFAULT_SUMMARY) == "o/p_summary.json"


def _inference_paths(runtime_params: dict[str, str]) -> tuple[str, str, str]:
    catalog = OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        env="test",
        base_env="base",
        default_run_env="local",
        runtime_params=runtime_params,
        custom_resolvers=CATALOG_RESOLVERS,
    )["catalog"]
    return tuple(  # type: ignore[return-value]
        catalog[name]["filepath"]
        for name in (
            "purchase_predictions",
            "rejected_new_sessions",
            "inference_summary",
        )
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {},
            (
                "data/07_model_output/purchase_predictions.csv",
                DEFAULT_REJECTS,
                DEFAULT_SUMMARY,
            ),
        ),
        (
            {"inference_output_path": "out/x.parquet"},
            ("out/x.parquet", "out/x_rejected.parquet", "out/x_summary.json"),
        ),
        (
            {"inference_output_path": "out/x.csv", "inference_rejects_path": "r.csv"},
            ("out/x.csv", "r.csv", "out/x_summary.json"),
        ),
        (
            {
                "inference_output_path": "out/x.csv",
                "inference_rejects_path": "r.csv",
                "inference_summary_path": "s.json",
            },
            ("out/x.csv", "r.csv", "s.json"),
        ),
        (
            {"inference_summary_path": "s.json"},
            (
                "data/07_model_output/purchase_predictions.csv",
                DEFAULT_REJECTS,
                "s.json",
            ),
        ),
    ],
)
def test_the_catalog_puts_rejects_and_summary_beside_a_given_output(
    given: dict[str, str], expected: tuple[str, str, str]
) -> None:
    assert _inference_paths(given) == expected


def test_one_file_however_it_is_spelt(tmp_path: Path) -> None:
    target = tmp_path / "in.csv"
    target.write_text("x\n")
    (tmp_path / "link.csv").symlink_to(target)
    (tmp_path / "sub").mkdir()
    for spelling in (
        str(target),
        f"{tmp_path}/./in.csv",
        f"{tmp_path}/sub/../in.csv",
        "in.csv",
        "./in.csv",
        str(tmp_path / "link.csv"),
    ):
        assert same_file(spelling, str(target), root=tmp_path), spelling
    assert not same_file("other.csv", str(target), root=tmp_path)
    assert not same_file("s3://b/in.csv", str(target), root=tmp_path)


@settings(max_examples=50, deadline=None)
@given(
    prefix=st.lists(st.sampled_from([".", "sub/..", "sub/./.."]), max_size=3),
    output=st.sampled_from(["out.csv", "in.csv"]),
)
def test_an_output_equal_to_the_input_is_always_refused(
    tmp_path_factory: pytest.TempPathFactory, prefix: list[str], output: str
) -> None:
    root = tmp_path_factory.mktemp("paths")
    (root / "sub").mkdir()
    (root / "in.csv").write_text("x\n")
    spelt = "/".join([*prefix, output])
    if output == "in.csv":
        with pytest.raises(OutputPathError, match=r"^output_path is the input file"):
            check_paths({"csv_path": "in.csv"}, {"output_path": spelt}, root=root)
    else:
        check_paths({"csv_path": "in.csv"}, {"output_path": spelt}, root=root)


def test_two_outputs_in_one_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(
        OutputPathError, match=r"^a and b are one file \(x.csv\); one would overwrite"
    ):
        check_paths({}, {"a": "x.csv", "b": "./x.csv"}, root=tmp_path)


def test_a_folder_or_an_unwritable_place_is_refused_naming_the_key(
    tmp_path: Path,
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.csv").write_text("x\n")
    with pytest.raises(OutputPathError, match=r"^output_path: cannot write .*folder"):
        check_paths({}, {"output_path": "folder"}, root=tmp_path)
    with pytest.raises(
        OutputPathError, match=r"^output_path: cannot write .*cannot create its folder"
    ):
        check_paths({}, {"output_path": "file.csv/x.csv"}, root=tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputPathError, match="is not writable"):
            check_paths({}, {"output_path": "locked/x.csv"}, root=tmp_path)
    finally:
        locked.chmod(0o755)
