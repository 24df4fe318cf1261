"""The build lists every source file, and the public API is what it says."""
import importlib
import os
import re
from pathlib import Path

import pytest

import fastfactor

ROOT = Path(__file__).resolve().parents[1]


def _modules_in_source_tree():
    package = ROOT / "fastfactor"
    for path in sorted(package.rglob("*.py")):
        if path.name == "__main__.py":  # runs the command when imported
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.skipif(not (ROOT / "fastfactor").is_dir(), reason="needs the source tree")
@pytest.mark.parametrize("module", list(_modules_in_source_tree()))
def test_every_python_module_is_installed(module):
    # the build installs the package folder whole (install_subdir): every module
    # of the source tree must import from the installed package
    importlib.import_module(module)


@pytest.mark.skipif(not (ROOT / "src" / "meson.build").exists(), reason="needs the source tree")
def test_every_extension_is_built():
    listed = set(re.findall(r"'([\w/]+\.pyx)'", (ROOT / "src" / "meson.build").read_text()))
    present = {str(p.relative_to(ROOT / "src")) for p in (ROOT / "src").rglob("*.pyx")}
    assert present == listed


def test_public_names_exist():
    for name in fastfactor.__all__:
        assert hasattr(fastfactor, name), name


def test_no_scikit_learn_needed_at_import():
    import subprocess
    import sys

    code = ("import sys; sys.modules['sklearn'] = None; import fastfactor, numpy as np; "
            "fastfactor.NMF(2, max_iter=5).fit(np.random.default_rng(0).random((10, 4)))")
    # outside the source tree, whose uncompiled package would shadow the installed one
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.sep)
