"""Kill -9 at any write step of a command: the old output or the new one, never a mixture.

Every case starts from one directory state: the inputs and an earlier output of the same
command (``old``). A first, uninterrupted run of ``COMMAND new --overwrite`` on a copy of
that state records every write step it takes (a file opened for writing, a folder made,
a rename -- the renameat2 swap of the old output and the new one included --, a removal,
one per entry of the clean-up; see :func:`symbreak.storage.safe_output._is_write`): their
number is the range the kill points are drawn from, and its output is the reference. The
same run on another copy is then killed (SIGKILL, ``$SYMBREAK_KILL_AFTER_WRITES=N``) just
before its N-th write step. Afterwards:

* until the killed run has swapped the new output in (read from its own steps), the
  output is the earlier one byte for byte; once it has, the output is the new one,
  complete: every zarr array and every model tensor equal to the reference;
* a plain rerun (``--overwrite``, ``--resume`` where the command has it) succeeds and its
  output equals the reference number for number.

Default suite: convert killed at the step after the first write into the output, half way
to the swap, at the swap itself, at the first clean-up step after it and at the very last
step, com at the first, the swap and the last; and the same check shown to fail on a swap
that is not atomic (about 23 s on a quiet 2-core AMD EPYC). ``slow``: com's other points,
and for convert, com, virtual, decompose, simulate, encode, train and analyze the swap,
the last step and steps drawn by hypothesis from all of them (:data:`EXAMPLES`).

The commands run in forks of one Python process that imported symbreak beforehand (a
"zygote"): each run is a fresh process for the kill, without paying the imports again.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from symbreak.storage.safe_output import KILL_AFTER_ENV, RENAME_EVENT, is_owned

TIMEOUT = 600  # seconds a command may run
RUNNER = textwrap.dedent('''
    import json, os, sys, traceback
    for module in ["symbreak.cli", *sys.argv[1:]]:
        __import__(module)
    from symbreak.cli import main
    from symbreak.storage.safe_output import _is_write

    def break_swap():
        """For the test of the test: a swap in two steps (remove the old, rename the new)."""
        import shutil
        import symbreak.storage.atomic
        import symbreak.storage.safe_output

        def exchange(new, old):
            shutil.rmtree(old)
            os.rename(new, old)
            os.mkdir(new)  # where the caller removes the old output from

        symbreak.storage.safe_output.exchange = symbreak.storage.atomic.exchange = exchange

    def run(job):
        if job["broken"]:
            break_swap()
        os.chdir(job["cwd"])
        os.environ.update(job["env"])
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        steps = os.open(job["steps"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

        def record(event, args):  # added before the kill hook: sees the fatal step too
            if _is_write(event, args):
                line = json.dumps([event, *(str(a) for a in args[:3])]) + "\\n"
                os.write(steps, line.encode())

        sys.addaudithook(record)
        try:
            status = main(job["args"])
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            status = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status or 0)

    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run(job)
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
''')


@dataclass
class Run:
    """One finished (or killed: status -9) run and the write steps it took."""

    status: int
    steps: list[list[str]]
    log: str


class Zygote:
    """A Python process that imported symbreak and forks one child per command."""

    def __init__(self, preload: tuple[str, ...], logs: Path) -> None:
        # one dask thread and one zarr writer: zarr makes each chunk's folders as it
        # writes, and threads racing for the same parent make a varying number of mkdir
        # calls, so the step numbers of the counted run and the killed run would differ
        env = {**os.environ, "SYMBREAK_PROGRESS": "0", "OMP_NUM_THREADS": "1",
               "PYTHONDONTWRITEBYTECODE": "1", "DASK_NUM_WORKERS": "1",
               "ZARR_ASYNC__CONCURRENCY": "1", "ZARR_THREADING__MAX_WORKERS": "1"}
        self.logs, self.runs = logs, 0
        self.process = subprocess.Popen([sys.executable, "-c", RUNNER, *preload], env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)

    def __call__(self, args: list[str], cwd: Path, kill_at: int | None = None,
                 broken: bool = False) -> Run:
        self.runs += 1
        log, steps = self.logs / f"{self.runs}.log", self.logs / f"{self.runs}.steps"
        env = {KILL_AFTER_ENV: str(kill_at) if kill_at else ""}
        job = {"cwd": str(cwd), "env": env, "args": args, "log": str(log),
               "steps": str(steps), "broken": broken}
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        if not select.select([self.process.stdout], [], [], TIMEOUT)[0]:
            self.process.kill()
            pytest.fail(f"symbreak {' '.join(args)} ran for more than {TIMEOUT} s")
        answer = self.process.stdout.readline()
        assert answer, "the zygote process died"
        lines = steps.read_text().splitlines() if steps.exists() else []
        return Run(int(answer), [json.loads(line) for line in lines], log.read_text())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


@dataclass
class Command:
    """How to run one command: ``args(source)`` for input ``old`` or ``new``."""

    args: Callable[[str], list[str]]
    out: str
    rerun: tuple[str, ...] = ("--overwrite",)
    heavy: bool = False  # preload torch
    inputs: Callable[[Path, Zygote], None] | None = None  # more inputs than old/new.npy


def _model(place: Path, run: Zygote) -> None:
    done = run(["train", "old.npy", "--epochs", "1", "--restarts", "0", "--out", "m"], place)
    assert done.status == 0, done.log[-2000:]


ANALYZE = ["--epochs", "1", "--no-report", "--quiet", "--restarts", "0"]
COMMANDS = {
    "convert": Command(lambda s: ["convert", f"{s}.npy", "o.zarr", "--chunks", "2,2,16,16"],
                       "o.zarr", ("--overwrite", "--resume")),
    "com": Command(lambda s: ["com", f"{s}.npy", "--out", "c.zarr"], "c.zarr"),
    "virtual": Command(lambda s: ["virtual", f"{s}.npy", "--semiangle", "20",
                                  "--angular-sampling", "2", "--out", "v.zarr"], "v.zarr"),
    "decompose": Command(lambda s: ["decompose", f"{s}.npy", "--out", "d.zarr"], "d.zarr"),
    "simulate": Command(lambda s: ["simulate", "graphene", "--scan-shape", "3,3",
                                   "--detector-pixels", "16", "--tiling", "4,4",
                                   "--defocus", "0" if s == "old" else "20",
                                   "--out", "s.zarr"], "s.zarr",
                        ("--overwrite", "--resume")),
    "encode": Command(lambda s: ["encode", f"{s}.npy", "--model", "m", "--out", "e.zarr"],
                      "e.zarr", heavy=True, inputs=_model),
    "train": Command(lambda s: ["train", f"{s}.npy", "--epochs", "1", "--out", "t"], "t",
                     heavy=True),
    "analyze": Command(lambda s: ["analyze", f"{s}.npy", *ANALYZE, "--out", "run"], "run",
                       heavy=True),
}
LEFTOVERS = (".checkpoints", ".symbreak.lock")  # analyze: the new run's work inside
CLOCKS = ("history_time",)  # seconds per epoch: differ from run to run


# --------------------------------------------------------------------- the outputs
def tree_hash(path: Path) -> str:
    """Names and bytes of every file under ``path`` (the analysis lock and checkpoints
    of a new run excepted)."""
    digest = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path)
        if rel.parts[0] in LEFTOVERS:
            continue
        digest.update(str(rel).encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def numbers(path: Path) -> dict[str, np.ndarray]:
    """Every zarr array and every safetensors tensor under ``path``, by relative name
    (wall-clock times excepted)."""
    import safetensors.numpy
    import zarr

    found = {}
    for meta in path.rglob("zarr.json"):
        if meta.parent.name not in CLOCKS and \
                json.loads(meta.read_text()).get("node_type") == "array":
            found[str(meta.parent.relative_to(path))] = zarr.open_array(meta.parent,
                                                                        mode="r")[...]
    for model in path.rglob("*.safetensors"):
        for key, value in safetensors.numpy.load_file(model).items():
            found[f"{model.relative_to(path)}:{key}"] = value
    return found


def assert_same_numbers(got: Path, want: dict[str, np.ndarray], what: str) -> None:
    have = numbers(got)
    assert sorted(have) == sorted(want), f"{what}: other arrays than an uninterrupted run"
    for name, value in want.items():
        assert have[name].dtype == value.dtype, f"{what}: {name} has another dtype"
        np.testing.assert_array_equal(have[name], value, err_msg=f"{what}: {name}")


# ------------------------------------------------------------------ the steps
def _path(step: list[str], cwd: Path) -> Path:
    return Path(os.path.normpath(cwd / step[1])) if len(step) > 1 else Path()


def is_swap(step: list[str], out: Path, cwd: Path) -> bool:
    """The rename that puts the new output under the output's name."""
    return (step[0] in ("os.rename", RENAME_EVENT) and len(step) > 2
            and Path(os.path.normpath(cwd / step[2])) == out)


def touches(step: list[str], out: Path, cwd: Path) -> bool:
    """A write into the output or its temporary name (the lock excepted)."""
    path = _path(step, cwd)
    if path.name.endswith(".lock") or out.parent not in path.parents:
        return False
    return out.name in path.relative_to(out.parent).parts[0]


def swapped(run: Run, out: Path, cwd: Path) -> bool:
    """Whether the run did its swap (a killed run did not do its last recorded step)."""
    done = run.steps[:-1] if run.status == -9 else run.steps
    return any(is_swap(step, out, cwd) for step in done)


# --------------------------------------------------------------------- the place
@dataclass
class Prepared:
    """One command's start state, its counted steps and its reference output."""

    name: str
    broken: bool  # with a swap that is not atomic (see RUNNER)
    base: Path
    old: str  # tree hash of the earlier output
    steps: list[list[str]]  # of an uninterrupted --overwrite run from the start state
    counted: Path  # where that run ran
    reference: dict[str, np.ndarray]

    @property
    def command(self) -> Command:
        return COMMANDS[self.name]

    def swap(self) -> int:
        out = self.counted / self.command.out
        found = [i for i, s in enumerate(self.steps, 1) if is_swap(s, out, self.counted)]
        assert found, f"no swap among the {len(self.steps)} write steps of {self.name}"
        return found[-1]

    def touched(self) -> int:
        out = self.counted / self.command.out
        return 1 + next(i for i, s in enumerate(self.steps, 1)
                        if touches(s, out, self.counted))


class Place:
    """Inputs, zygotes and the prepared commands of this module."""

    def __init__(self, root: Path) -> None:
        self.root = root
        rng = np.random.default_rng(5)
        for source in ("old", "new"):
            np.save(root / f"{source}.npy", rng.random((6, 6, 16, 16)).astype("f4"))
        self.zygotes: dict[bool, Zygote] = {}
        self.prepared: dict[str, Prepared] = {}
        self.cases = 0

    def zygote(self, heavy: bool) -> Zygote:
        if heavy not in self.zygotes:
            preload = ("symbreak.dataset", "symbreak.io.stream", "symbreak.classical",
                       "symbreak.convert", "symbreak.engine.kernels", "zarr")
            logs = self.root / f"logs-{heavy}"
            logs.mkdir()
            self.zygotes[heavy] = Zygote(preload + (("torch",) if heavy else ()), logs)
        return self.zygotes[heavy]

    def prepare(self, name: str, broken: bool = False) -> Prepared:
        if (name, broken) not in self.prepared:
            self.prepared[name, broken] = self._prepare(name, broken)
        return self.prepared[name, broken]

    def _prepare(self, name: str, broken: bool) -> Prepared:
        command, run = COMMANDS[name], self.zygote(COMMANDS[name].heavy)
        base = self.root / name / "base"
        if not base.exists():
            base.mkdir(parents=True)
            for source in ("old", "new"):
                os.link(self.root / f"{source}.npy", base / f"{source}.npy")
            if command.inputs:
                command.inputs(base, run)
            done = run(command.args("old"), base)
            assert done.status == 0, done.log[-2000:]
        counting = self.copy(name, f"count-{broken}")
        done = run(command.args("new") + ["--overwrite"], counting, broken=broken)
        assert done.status == 0, done.log[-2000:]
        reference = numbers(counting / command.out)
        assert reference, f"{name} wrote no arrays"
        return Prepared(name, broken, base, tree_hash(base / command.out), done.steps,
                        counting, reference)

    def copy(self, name: str, label: str) -> Path:
        """A copy of the start state of ``name`` (the inputs are hard links)."""
        where = self.root / name / label
        shutil.rmtree(where, ignore_errors=True)
        shutil.copytree(self.root / name / "base", where, copy_function=_link_inputs)
        return where


def _link_inputs(src: str, dst: str) -> None:
    if src.endswith(".npy"):
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    where = Place(tmp_path_factory.mktemp("kill"))
    yield where
    for zygote in where.zygotes.values():
        zygote.close()


# --------------------------------------------------------------------- the check
def check_kill(place: Place, prepared: Prepared, step: int, point: str = "") -> Run:
    """Kill the prepared --overwrite run just before its write step ``step``; check what
    is left and a rerun. Returns the killed run."""
    command, run = prepared.command, place.zygote(prepared.command.heavy)
    place.cases += 1
    case = place.copy(prepared.name, f"case-{place.cases}")
    out = case / command.out
    killed = run(command.args("new") + ["--overwrite"], case, step, prepared.broken)
    assert killed.status in (0, -9), killed.log[-2000:]
    fatal = killed.steps[-1] if killed.status == -9 else "none (it finished)"
    where = (f"{prepared.name} killed at write step {step} of {len(prepared.steps)} "
             f"({fatal})")
    if point == "swap":
        assert killed.status == -9 and is_swap(killed.steps[-1], out, case), where
    if swapped(killed, out, case):
        assert is_owned(out), f"{where}: the new output is not marked as symbreak's"
        assert_same_numbers(out, prepared.reference, where)
    else:
        assert out.is_dir(), f"{where}: the earlier output vanished"
        assert tree_hash(out) == prepared.old, f"{where}: the earlier output was changed"
    again = run(command.args("new") + list(command.rerun), case)
    assert again.status == 0, f"{where}; the rerun failed: {again.log[-2000:]}"
    assert_same_numbers(out, prepared.reference, f"{where}, then rerun")
    shutil.rmtree(case)
    return killed


POINTS = {"touched": Prepared.touched, "half": lambda p: (p.touched() + p.swap()) // 2,
          "swap": Prepared.swap,
          "cleanup": lambda p: p.swap() + 1, "last": lambda p: len(p.steps)}


# every point for convert; com at the points where its output changes hands (the rest
# in the slow suite, with the random draws)
CHOSEN = [pytest.param(name, point, marks=[pytest.mark.slow] if name == "com" and point in
                       ("half", "cleanup") else []) for name in ("convert", "com")
          for point in POINTS]


@pytest.mark.parametrize("name, point", CHOSEN)
def test_kill_at_a_chosen_write_step_leaves_old_or_new(place, name, point):
    prepared = place.prepare(name)
    killed = check_kill(place, prepared, POINTS[point](prepared), point)
    assert killed.status == -9, "the run was not killed: fewer steps than counted"


def test_the_kill_points_catch_a_swap_that_is_not_atomic(place):
    """The check above fails where the old output is removed before the new one is
    renamed (a swap replaced in the forked child only, see RUNNER)."""
    prepared = place.prepare("convert", broken=True)
    with pytest.raises(AssertionError, match="the earlier output vanished"):
        check_kill(place, prepared, prepared.swap(), "swap")
    with pytest.raises(AssertionError, match="the earlier output was changed"):
        check_kill(place, prepared, prepared.swap() - 3, "")


EXAMPLES = {"convert": 5, "com": 5, "virtual": 2, "decompose": 2, "simulate": 1,
            "encode": 1, "train": 2, "analyze": 1}  # draws beside each swap and last step


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_kill_at_a_random_write_step_leaves_old_or_new(place, name):
    """The swap, the last step, and steps drawn from all of them."""
    count = len(place.prepare(name).steps)

    @settings(max_examples=EXAMPLES[name], deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(step=st.integers(1, count))
    def kill(step):
        killed = check_kill(place, prepared, step)
        drawn.append(f"{step}{'*' if killed.status == 0 else ''}")

    prepared, drawn = place.prepare(name), []
    for point in ("swap", "last"):
        check_kill(place, prepared, POINTS[point](prepared), point)
    kill()
    print(f"{name}: {len(prepared.steps)} write steps, swap at {prepared.swap()}, "
          f"killed at {', '.join(drawn)} (*: finished)")
