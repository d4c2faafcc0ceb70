"""Rotationally invariant variational autoencoders (rrVAE / rVAE) for 4D-STEM patterns."""

from pathlib import Path

from .api import RotationalVAE
from .parallel import environment_world as world_size
from .stage import stage_patterns
from .train import CHECKPOINT


def has_checkpoint(checkpoint_dir: str | Path) -> bool:
    """True when ``checkpoint_dir`` holds an epoch checkpoint that ``fit(resume=True)``
    continues from."""
    return (Path(checkpoint_dir) / CHECKPOINT).exists()


__all__ = ["RotationalVAE", "has_checkpoint", "stage_patterns", "world_size"]
