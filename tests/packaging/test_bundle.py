"""The PyInstaller bundle runs on its own: ``--version``, ``doctor``, ``demo --screenshot``.

The bundle is built into ``dist/collarreader`` by ``./run.sh bundle`` (which then runs these
tests) and, under ``CI=true``, by ``./run.sh test`` before the test runs. Without a built bundle
the tests skip, except under ``CI=true`` or when ``COLLARREADER_BUNDLE`` names a missing one:
then they fail. The executable runs with a minimal environment — no venv, no
PYTHONPATH, a fresh HOME, outside the source tree.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from collarreader import __version__

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle() -> Path:
    """The bundle's executable."""
    asked = os.environ.get("COLLARREADER_BUNDLE")
    folder = Path(asked) if asked else ROOT / "dist" / "collarreader"
    executable = folder / ("collarreader.exe" if os.name == "nt" else "collarreader")
    if not executable.is_file():
        if asked or os.environ.get("CI") == "true":
            pytest.fail(f"{executable}: no bundle there; build it with ./run.sh bundle")
        pytest.skip("no bundle built (./run.sh bundle builds and tests it)")
    return executable


def _run(bundle: Path, *args: str, cwd: Path, timeout: float = 300) -> tuple[str, float]:
    env = {
        "PATH": os.defpath,
        "HOME": str(cwd),
        "LANG": "C.UTF-8",
        "QT_QPA_PLATFORM": "offscreen",
    }
    start = time.perf_counter()
    result = subprocess.run(
        [str(bundle), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    return result.stdout, elapsed


def test_the_bundle_says_its_version(bundle: Path, tmp_path: Path) -> None:
    out, elapsed = _run(bundle, "--version", cwd=tmp_path)
    assert out.strip() == f"collarreader {__version__}"
    print(f"bundle --version: {elapsed:.2f} s")


def test_the_bundle_has_its_decoders_and_qt(bundle: Path, tmp_path: Path) -> None:
    out, _ = _run(bundle, "doctor", "--db-folder", str(tmp_path), cwd=tmp_path)
    assert "(bundled application)" in out
    assert "[  ok] Qt start" in out
    assert "[  ok] OpenJPEG (threaded)" in out
    for plugin in ("pylibjpeg-openjpeg", "python-gdcm", "pylibjpeg-libjpeg"):
        assert f"[  ok] decoder {plugin}" in out


def test_the_bundle_runs_the_demo_offscreen(bundle: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "demo.png"
    _, elapsed = _run(
        bundle, "demo", "--workdir", str(tmp_path / "work"), "--screenshot", str(shot), cwd=tmp_path
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape[0] > 300
    assert pixels.shape[1] > 400
    assert pixels.std() > 10  # a window with images, not a blank frame
    print(f"bundle demo --screenshot: {elapsed:.2f} s")
