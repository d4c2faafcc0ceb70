"""How patterns are prepared for PCA and the rrVAE: :class:`PreprocessSettings`, the
``[preprocess]`` section of the analysis settings (also read by ``symbreak train`` and
stored with every model)."""

from __future__ import annotations

import dataclasses

from ..errors import SettingsError
from ..options import check_fields, setting

# The paper crops 256 px patterns to 78 px around a bright-field disk of ~67 px diameter.
CROP_PER_DISK_DIAMETER = 78 / 67.4


@dataclasses.dataclass(frozen=True)
class PreprocessSettings:
    """How patterns are prepared for PCA and the rrVAE (the paper's recipe by default).

    ``crop`` ``None`` derives the window from the bright-field disk (1.16 x its diameter,
    the paper's 78 px for a 67 px disk), capped at the pattern size. ``denoise`` projects
    on ``denoise_components`` PCA components and keeps the first ``denoise_keep`` (the
    paper's experimental recipe: 20 and 13).
    """

    crop: int | None = setting(None, kind=int, minimum=2, unit="px",
                               help="side of the window cut around the mean pattern's "
                               "centre (default: 1.16 x the bright-field disk diameter)")
    bin: int = setting(1, minimum=1, help="bin the detector by this integer factor (after "
                       "cropping)")
    resize: int | None = setting(None, kind=int, minimum=2, unit="px",
                                 help="resample patterns to this side (bicubic; default: off)")
    subtract_mean: bool = setting(True, help="subtract the mean pattern")
    normalize: bool = setting(True, help="min-max normalise the stack to [0, 1]")
    denoise: bool = setting(False, help="PCA denoising before the rrVAE (the paper's "
                            "experimental recipe)")
    denoise_components: int = setting(20, minimum=1,
                                      help="PCA components fitted for denoising")
    denoise_keep: int = setting(13, minimum=1, help="leading components kept when denoising")

    def __post_init__(self) -> None:
        check_fields(self)
        if self.denoise_keep > self.denoise_components:
            raise SettingsError(
                f"denoise_keep ({self.denoise_keep}) cannot exceed denoise_components "
                f"({self.denoise_components})"
            )

    def check_pattern_shape(self, pattern_shape: tuple[int, int]) -> None:
        """Reject a crop or binning that does not fit patterns of ``pattern_shape`` [px]."""
        smallest = min(pattern_shape)
        if self.crop is not None and self.crop > smallest:
            raise SettingsError(
                f"crop {self.crop} px is larger than the patterns {tuple(pattern_shape)} px; "
                f"use crop <= {smallest} or leave it unset to derive it from the disk"
            )
        side = self.crop if self.crop is not None else smallest
        if self.bin > side // 2:
            raise SettingsError(
                f"bin {self.bin} leaves fewer than 2 px of a {side} px pattern; use bin <= {side // 2}"
            )
