"""Settings shared by the whole suite: quiet progress bars, bounded threads, seeds."""

import os

os.environ.setdefault("SYMBREAK_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
