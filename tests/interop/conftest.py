"""Fixtures of the interop tests: a real Orthanc on loopback, a small phantom study.

``orthanc`` uses the server ``./run.sh orthanc`` started (``COLLARREADER_TEST_ORTHANC_URL`` and
``COLLARREADER_TEST_ORTHANC_AUTH``) or starts its own on a free port for the session. Without
Orthanc the tests that need it skip with the reason, or fail when ``CI=true``.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def _load_helper() -> object:
    # tests/ is not a package (importlib import mode): load the helper by path, once.
    if "collarreader_orthanc_server" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "collarreader_orthanc_server", Path(__file__).with_name("orthanc_server.py")
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["collarreader_orthanc_server"]


orthanc_server = _load_helper()
OrthancServer = orthanc_server.OrthancServer  # type: ignore[attr-defined]


def unavailable(reason: str) -> None:
    """Skip with the reason, or fail under ``CI=true`` where a skip would hide a gap."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: these tests must run, not skip)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """A running Orthanc with the DICOMweb plugin and basic authentication."""
    helper = orthanc_server
    url = os.environ.get(helper.URL_VARIABLE)  # type: ignore[attr-defined]
    auth = os.environ.get(helper.AUTH_VARIABLE)  # type: ignore[attr-defined]
    if url and auth:
        yield OrthancServer(url.rstrip("/"), Path(auth))
        return
    if helper.orthanc_binary() is None or helper.dicomweb_plugin() is None:  # type: ignore[attr-defined]
        unavailable("Orthanc with the DICOMweb plugin is not installed (orthanc orthanc-dicomweb)")
    server, process = helper.start(  # type: ignore[attr-defined]
        tmp_path_factory.mktemp("orthanc"), _free_port()
    )
    try:
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def phantom_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small phantom study (2 patients, manifest.csv, truth.json); do not modify."""
    from collarreader.study.phantom import generate_study

    folder = tmp_path_factory.mktemp("phantom") / "study"
    generate_study(folder, patients=2, seed=3, small=True)
    return folder


@dataclass(frozen=True)
class ReadStudy:
    """A prepared, simulated and merged study: the files the SR/GSPS tests export from."""

    phantom: Path
    setdir: Path
    key: Path
    readers: dict[str, Path]
    study: Path


@pytest.fixture(scope="session")
def read_study(tmp_path_factory: pytest.TempPathFactory) -> ReadStudy:
    """Two phantom patients, a set for readers A and B with repeats, simulated reads, merged."""
    from collarreader.db.merge import merge_databases
    from collarreader.study.phantom import generate_study
    from collarreader.study.prepare import prepare_reading_set
    from collarreader.study.simulate import simulate_reads

    root = tmp_path_factory.mktemp("read-study")
    phantom = generate_study(root / "phantom", patients=2, seed=3, small=True)
    setdir, key = root / "set", root / "key.json"
    prepare_reading_set(phantom.manifest, setdir, key, "A,B", seed=3, repeat_fraction=0.5)
    readers = {}
    for reader in ("A", "B"):
        path = root / f"{reader}.sqlite"
        simulate_reads(setdir, reader_id=reader, db_path=path, seed=4, truth=phantom.truth, key=key)
        readers[reader] = path
    study = root / "study.sqlite"
    merge_databases(study, list(readers.values()))
    return ReadStudy(root / "phantom", setdir, key, readers, study)
