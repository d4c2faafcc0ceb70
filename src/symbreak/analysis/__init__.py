"""``symbreak.analyze`` as planned stages.

- :mod:`~symbreak.analysis.schema`: every results variable (name, dims, units).
- :mod:`~symbreak.analysis.plan`: settings + data description -> resolved plan (pure).
- :mod:`~symbreak.analysis.stages`: the stages; each declares what it makes.
- :mod:`~symbreak.analysis.inputs`: open, fingerprint and read the input.
- :mod:`~symbreak.analysis.run`: the output folder, its lock and the final write.
- :mod:`~symbreak.analysis.provenance`: timings, peak memory, versions, attributes.
"""

from .api import analyze
from .stages import Context, Stage, register, unregister

__all__ = ["analyze", "Context", "Stage", "register", "unregister"]
