"""Crash-safe writes: the previous content survives a write that fails midway."""

from __future__ import annotations

import os
import stat

import pytest

from customer_purchase_prediction.atomic import (
    atomic_open,
    stray_temporaries,
    write_text,
)
from customer_purchase_prediction.errors import OutputPathError


def test_write_replaces_the_file(tmp_path):
    target = tmp_path / "out" / "summary.json"
    write_text(target, "old")
    write_text(target, "new")
    assert target.read_text() == "new"
    assert stray_temporaries(target.parent) == []


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "predictions.csv"
    write_text(target, "previous, complete")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as file:
        file.write("half of the new ")
        raise RuntimeError("killed midway")
    assert target.read_text() == "previous, complete"
    assert stray_temporaries(tmp_path) == []


def test_written_files_get_the_usual_permissions(tmp_path):
    target = tmp_path / "report.md"
    write_text(target, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_a_folder_is_refused_by_name(tmp_path):
    with pytest.raises(OutputPathError, match="it is a folder"):
        write_text(tmp_path, "x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_folder_is_refused_by_name(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputPathError, match="not writable"):
            write_text(locked / "out.csv", "x")
    finally:
        locked.chmod(0o700)
