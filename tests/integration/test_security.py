"""Static security checks: checkov on the template, bandit on the code."""
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".venv-tools" / "bin"


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{name} not installed: run `make test` (it installs checkov and bandit into .venv-tools)")
    return str(path)


def test_checkov_finds_no_failed_checks():
    # --skip-download: no network here; every skip is justified inline in template.yaml.
    proc = subprocess.run([tool("checkov"), "-f", "template.yaml", "--framework", "cloudformation", "--compact",
                           "--quiet", "--skip-download"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "Failed checks: 0" in proc.stdout


def test_every_checkov_skip_is_justified():
    from infra.stack import load_template
    for name, resource in load_template()["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 20, (name, skip)


def test_bandit_finds_nothing_medium_or_higher():
    # bench/.cache holds third-party installs made by the benchmarks: not our code.
    proc = subprocess.run([tool("bandit"), "-q", "-r", "function", "train", "infra", "bench", "-ll", "-x", "bench/.cache"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
