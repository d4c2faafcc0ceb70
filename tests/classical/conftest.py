"""Make the synthetic-data helpers beside these tests importable (importlib mode)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
