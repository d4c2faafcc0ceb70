"""Staged patterns replace only symbreak's own earlier staging, never a user's folder
of the same name (a checkpoint folder the user chose may hold anything)."""

from __future__ import annotations

import numpy as np
import pytest

from symbreak.engine.staging import stage_patterns
from symbreak.errors import SettingsError
from symbreak.storage.ownership import is_owned


def test_a_users_folder_of_that_name_is_refused_and_kept(tmp_path):
    mine = tmp_path / "patterns.zarr"
    mine.mkdir()
    (mine / "thesis.tex").write_text("mine")
    with pytest.raises(SettingsError, match="symbreak did not write it"):
        stage_patterns(np.ones((2, 3, 4, 4), np.float32), mine)
    assert (mine / "thesis.tex").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patterns.zarr"]


def test_its_own_staging_is_replaced_and_a_killed_ones_leftover_removed(tmp_path):
    path = tmp_path / "patterns.zarr"
    first = stage_patterns(np.ones((2, 3, 4, 4), np.float32), path)
    assert is_owned(path) and float(first[:].sum()) == 96
    leftover = tmp_path / ".patterns.zarr.tmp"
    leftover.mkdir()  # what a kill right after making the holder leaves
    again = stage_patterns(np.full((2, 3, 4, 4), 2, np.float32), path)
    assert float(again[:].sum()) == 192
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patterns.zarr"]
