"""The function's own modules, imported by training so both apply the same code to pixels.

``function/`` is the Lambda package's root (its modules import as ``emotion.*``), not a package of
this repository; training puts it on the path once, here.
"""
import sys
from pathlib import Path

FUNCTION_DIR = Path(__file__).resolve().parents[1] / "function"
if str(FUNCTION_DIR) not in sys.path:
    sys.path.insert(0, str(FUNCTION_DIR))

from emotion import preprocessing, views  # noqa: E402

__all__ = ["FUNCTION_DIR", "preprocessing", "views"]
