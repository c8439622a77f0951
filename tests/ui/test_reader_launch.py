"""The fast launch: first case from worker processes, painted as it arrives; integrity gate."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from collarreader.errors import ReadingSetError, SessionError
from collarreader.imaging import Radiograph, load_radiograph
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.readingset import open_reading_set
from collarreader.tools import Tool
from collarreader.ui.preload import FirstCaseLoader, verify_and_load
from collarreader.ui.reader import Reader, open_reader
from collarreader.ui.startup import first_case_code


@pytest.fixture(scope="module")
def setdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("set")
    generate_study(root / "phantom", patients=1, seed=5, small=True, burned_in=0)
    prepare_reading_set(
        root / "phantom" / "manifest.csv",
        root / "set",
        root / "key.json",
        ["A"],
        seed=5,
        repeat_fraction=0.0,
    )
    return root / "set"


@pytest.fixture
def reader(qtbot: QtBot, setdir: Path, tmp_path: Path) -> Iterator[Reader]:
    result = open_reader(setdir, "A", tmp_path / "A.sqlite", verify=False)
    qtbot.addWidget(result.window)
    result.window.show()
    yield result
    result.close()


def test_verify_and_load_decodes_only_matching_bytes(setdir: Path, tmp_path: Path) -> None:
    reading_set = open_reading_set(setdir, verify=False)
    image = reading_set.images[0]
    path = reading_set.image_path(image)
    radiograph = verify_and_load(str(path), image.sha256)
    assert radiograph.sop_instance_uid == image.sop_instance_uid
    copy = tmp_path / "changed.dcm"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one pixel byte: still a valid file, but not the verified one
    copy.write_bytes(bytes(data))
    with pytest.raises(ReadingSetError, match="SHA-256 does not match"):
        verify_and_load(str(copy), image.sha256)
    with pytest.raises(ReadingSetError, match="missing or unreadable"):
        verify_and_load(str(tmp_path / "absent.dcm"), image.sha256)


def test_pending_images_show_loading_then_are_painted_as_they_arrive(
    reader: Reader, qtbot: QtBot
) -> None:
    window = reader.window
    code = first_case_code(window.session, window.cases)
    assert code is not None
    case = window.reading_set.case(code)
    futures: dict[str, Future[Radiograph]] = {i.image_code: Future() for i in case.images}
    ready: list[str] = []
    window.images_ready.connect(ready.append)
    window.open_case(code, pending=futures)
    assert window.loading
    texts = [v.message_text for v in window.grid.viewports]
    assert texts == ["loading…"] * 4
    first, *rest = case.images
    futures[first.image_code].set_result(load_radiograph(window.reading_set.image_path(first)))
    qtbot.waitUntil(lambda: sum(v.radiograph is not None for v in window.grid.viewports) == 1)
    assert window.loading
    assert ready == []
    for image in rest[:-1]:
        futures[image.image_code].set_result(load_radiograph(window.reading_set.image_path(image)))
    futures[rest[-1].image_code].set_exception(ReadingSetError("x.dcm: modified (SHA-256)"))
    qtbot.waitUntil(lambda: not window.loading)
    assert ready == [code]
    shown = [v for v in window.grid.viewports if v.radiograph is not None]
    assert len(shown) == 3
    assert any("modified" in (v.error_message or "") for v in window.grid.viewports)
    assert all(not v.radiograph.pixels.flags.writeable for v in shown)  # type: ignore[union-attr]


def test_scoring_waits_for_the_whole_set_check(reader: Reader, qtbot: QtBot) -> None:
    window = reader.window
    result: Future[list[str]] = Future()
    window.begin_integrity_check(result)
    window.start()
    assert not window.integrity_ok
    assert window.tools.read_only
    assert not window.action("submit").isEnabled()
    assert window.integrity_label.isVisible()
    window.set_tool(Tool.rll)
    assert window.tools.tool is Tool.none  # refused while the check runs
    with qtbot.waitSignal(window.integrity_checked) as signal:
        result.set_result([])
    assert signal.args == [True]
    assert window.integrity_ok
    assert not window.tools.read_only
    assert window.action("submit").isEnabled()
    assert not window.integrity_label.isVisible()


def test_a_failed_set_check_keeps_scoring_closed(reader: Reader, qtbot: QtBot) -> None:
    window = reader.window
    result: Future[list[str]] = Future()
    window.begin_integrity_check(result)
    window.start()
    with qtbot.waitSignal(window.integrity_checked) as signal:
        result.set_result(["images/X.dcm: modified (SHA-256 does not match readingset.json)"])
    assert signal.args == [False]
    assert not window.integrity_ok
    assert window.tools.read_only
    assert "FAILED" in window.integrity_label.text()
    assert "images/X.dcm" in window.integrity_label.text()
    assert str(window._locked_error()).startswith("Scoring opens once")
    assert isinstance(window._locked_error(), SessionError)


def test_a_case_opened_during_the_check_is_hashed_before_decoding(
    qtbot: QtBot, setdir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "set"
    shutil.copytree(setdir, copy)
    reader = open_reader(copy, "A", tmp_path / "A.sqlite", verify=False)
    qtbot.addWidget(reader.window)
    try:
        window = reader.window
        code = first_case_code(window.session, window.cases)
        assert code is not None
        damaged = window.reading_set.case(code).images[0]
        path = window.reading_set.image_path(damaged)
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
        window.begin_integrity_check(Future())
        window.open_case(code)
        errors = [v.error_message for v in window.grid.viewports if v.error_message]
        assert len(errors) == 1
        assert "not decoded" in errors[0]
        assert sum(v.radiograph is not None for v in window.grid.viewports) == 3
    finally:
        reader.close()


def test_first_case_loader_verifies_and_decodes_in_worker_processes(setdir: Path) -> None:
    reading_set = open_reading_set(setdir, verify=False)
    images = reading_set.cases[0].images
    loader = FirstCaseLoader(workers=1)
    loader.warm()
    try:
        futures = loader.load(
            [
                (image.image_code, reading_set.image_path(image), image.sha256)
                for image in images[:2]
            ]
            + [(images[2].image_code, reading_set.image_path(images[2]), "0" * 64)]
        )
        first = futures[images[0].image_code].result(timeout=120)
        assert first.sop_instance_uid == images[0].sop_instance_uid
        assert futures[images[1].image_code].result(timeout=120).pixels.ndim == 2
        with pytest.raises(ReadingSetError, match="SHA-256"):
            futures[images[2].image_code].result(timeout=120)
    finally:
        loader.shutdown()
