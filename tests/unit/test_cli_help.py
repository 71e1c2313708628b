"""Every command-line flag explains itself in --help (the project's rule for its tools)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL_FOLDERS = ("train", "bench", "infra", "function")


def arguments_without_help() -> list[str]:
    missing = []
    for folder in TOOL_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "add_argument"
                        and not any(k.arg == "help" and not (isinstance(k.value, ast.Constant) and not k.value.value)
                                    for k in node.keywords)):
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return missing


def test_every_flag_of_every_tool_has_help_text():
    assert arguments_without_help() == []


def test_the_check_finds_a_flag_without_help(tmp_path, monkeypatch):
    tool = tmp_path / "bench" / "tool.py"
    tool.parent.mkdir()
    tool.write_text("import argparse\np = argparse.ArgumentParser()\np.add_argument('--n', help='')\n"
                    "p.add_argument('--m', help='what m is')\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert arguments_without_help() == ["bench/tool.py:3"]
