"""The memory budget: sizes, scopes, the per-call budget of user-facing functions."""

import os
import threading

import pytest

from symbreak.engine import ENV_VAR, budget_bytes, budget_scope, parse_size, takes_budget
from symbreak.errors import SettingsError


@pytest.mark.parametrize("text, expected", [
    ("4GB", 4 * 2**30), ("512 MiB", 512 * 2**20), ("64kB", 64 * 2**10), (2048, 2048),
    ("1.5K", 1536),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["lots", "4XB", -1, "0"])
def test_parse_size_refuses(bad):
    with pytest.raises(SettingsError):
        parse_size(bad)


def test_scope_nests_and_exports_the_environment(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with budget_scope("2MB") as outer:
        assert outer == budget_bytes() == 2 * 2**20
        assert os.environ[ENV_VAR] == f"{outer}B" and parse_size(os.environ[ENV_VAR]) == outer
        with budget_scope("1MB"):
            assert budget_bytes() == 2**20
        with budget_scope(None) as same:
            assert same == budget_bytes() == outer
    assert ENV_VAR not in os.environ


def test_a_budget_of_one_byte_is_a_byte_not_all_memory(monkeypatch):
    """A bare 1 is a fraction (all available memory); a budget in force, or "1B", is bytes."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert parse_size("1B") == parse_size("1 b") == 1
    assert parse_size(1) == parse_size("1") > 2**20
    with budget_scope("1B"):
        assert budget_bytes() == 1
        assert parse_size(os.environ[ENV_VAR]) == 1  # what worker processes read


def test_environment_is_read_when_no_scope(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "3MB")
    assert budget_bytes() == 3 * 2**20


def test_takes_budget_sets_the_budget_for_the_call_only(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "3MB")

    @takes_budget
    def stage(x, *, memory_budget=None):
        return budget_bytes()

    @takes_budget
    def positional(x, memory_budget=None):
        return budget_bytes()

    assert stage(0, memory_budget="1MB") == positional(0, "1MB") == 2**20
    assert stage(0) == 3 * 2**20  # None: the budget in force
    with budget_scope("2MB"):
        assert stage(0) == 2 * 2**20
    assert os.environ[ENV_VAR] == "3MB" and budget_bytes() == 3 * 2**20


def test_takes_budget_does_not_leak_into_other_threads(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "3MB")
    seen = []
    inside, done = threading.Event(), threading.Event()

    @takes_budget
    def stage(*, memory_budget=None):
        inside.set()
        done.wait(5)
        return budget_bytes()

    worker = threading.Thread(target=lambda: seen.append(stage(memory_budget="1MB")))
    worker.start()
    inside.wait(5)
    seen.append(budget_bytes())  # this thread, while the other is inside its call
    done.set()
    worker.join()
    assert seen == [3 * 2**20, 2**20]


def test_use_cluster_is_public_at_the_top():
    import symbreak
    from symbreak import engine

    assert symbreak.use_cluster is engine.use_cluster
