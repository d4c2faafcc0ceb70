"""``symbreak train DATA --out MODEL_DIR``: train a rotationally invariant VAE on
preprocessed patterns.

Fit symbreak.RotationalVAE to preprocessed diffraction patterns (a 4D-STEM file or a
.npy stack (n, ky, kx)) and save it as model.safetensors + config.json. See docs/vae.md.

Under ``torchrun --nproc_per_node N -m symbreak train ...`` (or ``torchrun --no-python
symbreak train ...``) the N processes train one model with DistributedDataParallel and only
rank 0 writes the checkpoints and the model.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..vae.parameters import VAEParameters
    from ._cluster import add_memory_option
    from ._fit_quality import add_strict_option
    from .common import add_input_options, add_output_options, add_progress_option
    from .options import add_settings_options

    add_input_options(parser, help="data file (any format symbreak.load reads, or .npy)")
    add_output_options(parser, help="model folder to write", what="an existing --out")
    add_settings_options(parser, VAEParameters, title="rrVAE")
    add_preprocess_options(parser)
    parser.add_argument("--checkpoint-dir", default=None,
                        help="checkpoint folder, kept after the run; a checkpoint already "
                        "there is continued with --resume and never replaced (default: "
                        "MODEL_DIR.checkpoints beside --out, removed once the model is saved)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run (or a finished one with the same "
                        "--checkpoint-dir, e.g. for more --epochs)")
    add_memory_option(parser)
    add_progress_option(parser)
    add_strict_option(parser)


def add_preprocess_options(parser: argparse.ArgumentParser) -> None:
    """The preprocessing options (as ``analyze``'s) and ``--no-preprocess``."""
    from ..preprocess.settings import PreprocessSettings
    from .options import add_settings_options

    add_settings_options(parser, PreprocessSettings, title="preprocessing (of a 4D-STEM file "
                         "not yet preprocessed; as symbreak analyze and preprocess do)")
    parser.add_argument("--no-preprocess", dest="preprocess", action="store_false",
                        help="train on the patterns as they are (they are already prepared)")


def prepared_patterns(data: Any, args: argparse.Namespace,
                      settings: dict | None = None) -> tuple[Any, dict | None]:
    """``data`` preprocessed as ``analyze`` does, unless it is a stack of patterns, was
    preprocessed already (its provenance says so) or ``--no-preprocess`` was given.
    Returns (patterns, the settings used now or None when nothing was done now);
    ``settings`` (a model's) replace the command-line options."""
    from ..dataset import Dataset4D
    from ..preprocess.patterns import preprocess, preprocessing_of
    from ..preprocess.settings import PreprocessSettings
    from .options import given

    if not isinstance(data, Dataset4D) or not args.preprocess:
        return data, None
    if preprocessing_of(data) is not None:
        return data, None
    options = dict(settings) if settings else given(args, PreprocessSettings)
    prepared = preprocess(data, progress=getattr(args, "progress", None), **options)
    return prepared, preprocessing_of(prepared)


def applied_preprocessing(data: Any) -> dict | None:
    """The preprocessing settings of ``data`` (a Dataset4D's provenance), else None."""
    from ..dataset import Dataset4D
    from ..preprocess.patterns import preprocessing_of

    return preprocessing_of(data) if isinstance(data, Dataset4D) else None


def describe(preprocessing: dict) -> str:
    """The preprocessing settings in a few words."""
    words = [f"crop {preprocessing['crop'] or 'auto'} px", f"bin {preprocessing['bin']}"]
    if preprocessing.get("resize"):
        words.append(f"resize {preprocessing['resize']} px")
    if preprocessing.get("subtract_mean"):
        words.append("mean pattern subtracted")
    if preprocessing.get("denoise"):
        words.append(f"PCA-denoised ({preprocessing['denoise_keep']} components)")
    if preprocessing.get("normalize"):
        words.append("normalised to [0, 1]")
    return ", ".join(words)


def load_patterns(spec: Any) -> Any:
    """Patterns of the input described by ``spec`` (an InputSpec); a 3-D .npy stack is
    read directly."""
    import numpy as np

    from symbreak.errors import DataError, SettingsError

    source = Path(spec.path)
    if not source.exists():
        raise SettingsError(f"data file {source} does not exist")
    if source.suffix == ".npy" and spec.scan_shape is None:
        array = np.load(source, mmap_mode="r", allow_pickle=False)
        if array.ndim == 3:
            return array
    try:
        from symbreak.io import load
        return load(spec)
    except (AttributeError, ImportError) as exc:  # I/O layer missing in a partial install
        raise DataError(f"cannot read {source}: {exc}") from exc


def check_checkpoints(folder: Path) -> None:
    """Refuse a default checkpoint folder ``MODEL_DIR.checkpoints`` that exists and that
    symbreak did not make: train writes its checkpoints there and removes the folder
    after the run, so nothing of the user's may be in it."""
    from symbreak.errors import SettingsError
    from symbreak.storage.safe_output import display, is_leftover

    if folder.is_symlink() or (folder.exists() and not is_leftover(folder)):
        raise SettingsError(
            f"{display(folder)} exists and symbreak did not make it (no valid "
            ".symbreak-output marker); train keeps its checkpoints there and removes the "
            "folder after the run: move it away, or give --checkpoint-dir")


def check_given_checkpoints(folder: Path, resume: bool) -> None:
    """Refuse to start a new run over the checkpoints in a ``--checkpoint-dir`` the user
    named: without ``--resume`` training would replace them."""
    from symbreak.errors import SettingsError
    from symbreak.storage.safe_output import display
    from symbreak.vae import CHECKPOINT

    found = [folder / CHECKPOINT, *sorted(folder.glob(f"attempt-*/{CHECKPOINT}"))]
    found = [path for path in found if path.exists() or path.is_symlink()]
    if found and not resume:
        raise SettingsError(
            f"{display(found[0])} holds a training run's checkpoint, which a new run would "
            "replace: continue it with --resume, or give another --checkpoint-dir (delete "
            "the file yourself to start again there)")


def make_checkpoints(folder: Path) -> bool:
    """Make the default checkpoint folder with symbreak's marker (checked by
    :func:`check_checkpoints` first); True when it was made now."""
    from symbreak.storage.safe_output import is_owned, make_marked_folder

    check_checkpoints(folder)
    if is_owned(folder):
        return False
    if folder.exists():  # made by a run killed before its marker was complete
        shutil.rmtree(folder)
    make_marked_folder(folder, "train checkpoints")
    return True


def run(args: argparse.Namespace) -> int:
    import torch.distributed as dist

    from symbreak.engine import budget_scope

    from symbreak.vae.parallel import is_main_process

    from .common import guarded_output

    try:
        with budget_scope(args.memory_budget), \
                guarded_output(args, "train", lock=is_main_process()):
            return _train(args)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def _train(args: argparse.Namespace) -> int:
    from symbreak.storage.atomic import check_output
    from symbreak.storage.ownership import holds_only_proof
    from symbreak.storage.safe_output import is_owned
    from symbreak.vae import RotationalVAE
    from symbreak.vae.parallel import is_main_process
    from symbreak.vae.parameters import VAEParameters

    from ._fit_quality import report_fit
    from .common import input_spec
    from .options import given

    parameters = given(args, VAEParameters)
    spec = input_spec(args)
    out = check_output(args.out, args.overwrite)
    checkpoints = args.checkpoint_dir or str(out.with_name(out.name + ".checkpoints"))
    if args.checkpoint_dir is None and is_main_process():
        check_checkpoints(Path(checkpoints))
    elif args.checkpoint_dir is not None:
        check_given_checkpoints(Path(checkpoints), args.resume)
    data, preprocessing = prepared_patterns(load_patterns(spec), args)
    if preprocessing is not None:
        print(f"patterns preprocessed as symbreak analyze does ({describe(preprocessing)}); "
              "--no-preprocess trains on the data as they are")
    model = RotationalVAE(**parameters, checkpoint_dir=checkpoints, progress=args.progress)
    made = args.checkpoint_dir is None and is_main_process() and \
        make_checkpoints(Path(checkpoints))
    try:
        model.fit(data, resume=args.resume)
    except BaseException:
        if made and holds_only_proof(Path(checkpoints)):
            shutil.rmtree(checkpoints, ignore_errors=True)
        raise
    if not is_main_process():
        return 0
    model.save(out, extra={"data": str(Path(args.data).resolve()),
                           "preprocessing": applied_preprocessing(data)},
               overwrite=args.overwrite)
    if args.checkpoint_dir is None and is_owned(Path(checkpoints)):
        shutil.rmtree(checkpoints, ignore_errors=True)  # the run is complete: not needed
    last = model.history_[-1]
    print(f"trained {model.n_epochs_} epochs in {last['time']:.1f} s (stopped: "
          f"{model.stop_reason_}): validation loss {model.best_validation_loss_:.4g} (best); "
          f"model saved to {out}")
    return report_fit(model, args.strict)
