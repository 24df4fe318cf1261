"""The build lists every source file, and the public API is what it says."""
import os
import re
from pathlib import Path

import pytest

import fastfactor

ROOT = Path(__file__).resolve().parents[1]


def _listed(meson_file, pattern=r"'([^']+\.(?:py|pyx))'"):
    return set(re.findall(pattern, meson_file.read_text()))


@pytest.mark.skipif(not (ROOT / "fastfactor" / "meson.build").exists(),
                    reason="needs the source tree")
def test_every_python_file_is_installed():
    listed = _listed(ROOT / "fastfactor" / "meson.build")
    package = ROOT / "fastfactor"
    present = {str(p.relative_to(package)) for p in package.rglob("*.py")}
    assert present == listed, (
        f"not listed in fastfactor/meson.build: {sorted(present - listed)}; "
        f"listed but missing: {sorted(listed - present)}")


@pytest.mark.skipif(not (ROOT / "src" / "meson.build").exists(), reason="needs the source tree")
def test_every_extension_is_built():
    listed = _listed(ROOT / "src" / "meson.build")
    present = {p.name for p in (ROOT / "src").glob("*.pyx")}
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
