"""What an analysis stage is and what it runs on.

A :class:`Stage` declares, like a LiberTEM UDF declares its buffers, the
:class:`Context` products it ``needs`` and ``produces`` and the results ``variables`` it
returns; :mod:`symbreak.analysis.plan` lists the stages in order and checks that every
need is made by an earlier stage. This module imports no stage, so stage modules import
it and not each other.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import xarray as xr

from ..dataset import Dataset4D
from ..errors import SettingsError
from .settings import AnalyzeSettings
from . import schema as S

if TYPE_CHECKING:  # the rrVAE imports PyTorch; the report reads stage modules without it
    from ..vae import FitDiagnostics, RotationalVAE


@dataclasses.dataclass
class Context:
    """What a stage may read: the input, the resolved settings, where to work, what the
    earlier stages returned, and the products they left for later stages.

    Parameters
    ----------
    data
        The input, as read (raw patterns).
    settings
        The resolved settings (nothing left to the data).
    raw_mean
        Mean of the raw patterns (ky, kx).
    work
        Folder for intermediate files (the streamed patterns).
    checkpoints
        Folder of the rrVAE checkpoints, or None when nothing is kept.
    resume
        Continue the rrVAE from its checkpoints.
    progress
        Show progress (None: when stderr is a terminal).
    outputs
        The ``xarray.Dataset`` each earlier stage returned, in order (kept by the runner;
        :meth:`results` merges them).
    patterns
        Product: the preprocessed float32 patterns (in memory, or read from ``store``).
    store
        Product: the zarr copy of ``patterns`` when they were streamed, else None.
    model
        Product: the fitted rrVAE.
    fit
        Product: the rrVAE fit's diagnostics (with its verdict).
    """

    data: Dataset4D
    settings: AnalyzeSettings
    raw_mean: np.ndarray
    work: Path
    checkpoints: Path | None
    resume: bool = False
    progress: bool | None = None
    outputs: list[xr.Dataset] = dataclasses.field(default_factory=list)
    patterns: Dataset4D | None = dataclasses.field(default=None, metadata={"product": True})
    store: Any | None = dataclasses.field(default=None, metadata={"product": True})
    model: RotationalVAE | None = dataclasses.field(default=None, metadata={"product": True})
    fit: FitDiagnostics | None = dataclasses.field(default=None, metadata={"product": True})

    @property
    def pattern_unit(self) -> str:
        """Unit of the input's intensities (:func:`~.schema.data_units`)."""
        return S.data_units(self.data.dtype, self.data.metadata)

    def results(self) -> xr.Dataset:
        """What the earlier stages returned, merged into one dataset."""
        if not self.outputs:
            return xr.Dataset()
        return xr.merge(self.outputs, combine_attrs="drop_conflicts")


PRODUCTS = tuple(f.name for f in dataclasses.fields(Context) if f.metadata.get("product"))
"""The :class:`Context` fields that stages set for later stages."""


@dataclasses.dataclass(frozen=True)
class Stage:
    """One analysis stage.

    Parameters
    ----------
    name
        Label for progress, timings and peak memory.
    run
        ``run(context) -> xarray.Dataset`` of its ``variables`` (and their coordinates);
        it sets the context products it ``produces``.
    variables
        Names of the schema variables it may return (a name ending in ``*`` is a family,
        e.g. ``history_*``).
    needs
        What must be made before it runs: :data:`PRODUCTS` it reads from the context, and
        results variables of earlier stages it reads from :meth:`Context.results`.
    uses
        What it reads when an earlier stage made it and does without otherwise (a plan
        that makes it only after this stage is refused all the same).
    produces
        The :data:`PRODUCTS` it sets on the context.
    """

    name: str
    run: Callable[[Context], xr.Dataset]
    variables: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [p for p in self.produces if p not in PRODUCTS]
        if unknown:
            raise SettingsError(f"stage {self.name!r} produces {unknown}, which are not "
                                f"context products; products: {', '.join(PRODUCTS)}")

    def makes(self, name: str) -> bool:
        """True when ``name`` is one of its products or results variables."""
        return name in self.produces or self.declares(name)

    def declares(self, name: str) -> bool:
        """True when ``name`` is one of its results variables (or of their families)."""
        return any(name == p or (p.endswith("*") and name.startswith(p[:-1]))
                   for p in self.variables)

    def check(self, out: xr.Dataset) -> xr.Dataset:
        """``out`` if it holds only declared variables; else an error naming the others."""
        undeclared = [n for n in out.data_vars if not self.declares(str(n))]
        if undeclared:
            raise SettingsError(f"stage {self.name!r} returned undeclared results variables "
                                f"{undeclared}; add them to its `variables` and the schema")
        return out

    def apply(self, ctx: Context) -> xr.Dataset:
        """Run on ``ctx``: its checked output; an error when it set a product it does not
        declare in ``produces``."""
        before = {p: getattr(ctx, p) for p in PRODUCTS}
        out = self.check(self.run(ctx))
        changed = [p for p in PRODUCTS if getattr(ctx, p) is not before[p]]
        undeclared = [p for p in changed if p not in self.produces]
        if undeclared:
            raise SettingsError(f"stage {self.name!r} set undeclared products {undeclared}; "
                                "add them to its `produces`")
        return out
