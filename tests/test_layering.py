"""The import contracts in pyproject.toml hold on the real tree, and `lint-imports` fails,
naming the module, when a copy of the package breaks one of them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """Run `lint-imports` in `root` (which holds a pyproject.toml and beat_panel/)."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of the package and of pyproject.toml (its contracts) in a temp folder."""
    root = tmp_path / "tree"
    root.mkdir()
    shutil.copytree(REPO / "beat_panel", root / "beat_panel",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root)
    return root


def add_import(root: Path, module: str, statement: str) -> None:
    path = root / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{statement}\n")


def test_the_real_tree_keeps_every_contract():
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_the_copy_is_what_lint_imports_checks(package_copy: Path):
    done = lint_imports(package_copy)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("module", "statement", "contract", "chain"), [
    ("beat_panel.control.status", "import PySide6",
     "Only beat_panel.ui imports Qt", "beat_panel.control.status -> PySide6"),
    ("beat_panel.schedule.store", "from PySide6.QtCore import QObject",
     "Only beat_panel.ui imports Qt", "beat_panel.schedule.store -> PySide6"),
    ("beat_panel.schedule.model", "import psutil",
     "The schedule model and the plugin import neither Qt nor psutil",
     "beat_panel.schedule.model -> psutil"),
    ("beat_panel.plugin", "from beat_panel.control import status",
     "The schedule model and the plugin import neither Qt nor psutil", "beat_panel.plugin"),
    ("beat_panel.process.scan", "from beat_panel.cli import exit_codes",
     "The core imports no face", "beat_panel.process.scan -> beat_panel.cli.exit_codes"),
    ("beat_panel.cli.schedule", "from beat_panel.ui import dialogs",
     "Only the CLI's gui and tray commands reach into beat_panel.ui",
     "beat_panel.cli.schedule -> beat_panel.ui.dialogs"),
])
def test_lint_imports_fails_naming_the_module_that_breaks_a_contract(
        package_copy: Path, module: str, statement: str, contract: str, chain: str):
    add_import(package_copy, module, statement)
    done = lint_imports(package_copy)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{contract} BROKEN" in done.stdout
    assert chain in done.stdout


def test_loading_the_cli_or_the_plugin_loads_no_qt():
    # The contracts see imports, not when they run: the CLI's import of the window is
    # allowed only because it happens inside `gui` and `tray`. Check that it does.
    code = ("import sys, beat_panel.cli, beat_panel.cli.command, beat_panel.plugin;"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'psutil'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    # psutil is the CLI's (process control); Qt is nobody's here.
    assert done.stdout.strip() == "['psutil']"


def test_the_plugin_alone_loads_neither_qt_nor_psutil():
    code = ("import sys, beat_panel.plugin;"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'psutil'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"
