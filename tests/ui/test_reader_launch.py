"""The fast launch: first case from worker processes, painted as it arrives; integrity gate."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from pydicom.uid import JPEG2000Lossless
from pytestqt.qtbot import QtBot
from tests.ui.conftest import phantom_set

from collarreader.errors import ReadingSetError, SessionError
from collarreader.imaging import Radiograph, load_radiograph
from collarreader.imaging.preview import Preview, load_preview
from collarreader.study.phantom import write_phantom_image
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.readingset import open_reading_set
from collarreader.tools import Tool
from collarreader.ui.preload import FirstCaseLoader, verify_and_load, verify_and_preview
from collarreader.ui.preview import PreviewPainter
from collarreader.ui.reader import Reader, open_reader
from collarreader.ui.startup import first_case_code, guess_first_case


@pytest.fixture(scope="module")
def setdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("set")
    return phantom_set(root, patients=1, seed=5)


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


# ------------------------------------------------------------ launch: first look and guesses


@pytest.fixture(scope="module")
def j2k_setdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-patient set (reader A) of JPEG 2000 lossless images, 600 × 500 px."""
    root = tmp_path_factory.mktemp("j2kset")
    rows = ["path,site,patient,timepoint,view,joint,side"]
    for timepoint in ("6m", "12m"):
        for view in ("AP", "LAT"):
            name = f"P000/{timepoint}_{view}.dcm"
            write_phantom_image(
                root / "phantom" / name,
                rows=600,
                cols=500,
                transfer_syntax=JPEG2000Lossless,
                view=view,
                timepoint=timepoint,
            )
            rows.append(f"{name},SITE-A,P000,{timepoint},{view},hip,L")
    (root / "phantom" / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    prepare_reading_set(root / "phantom" / "manifest.csv", root / "set", root / "key.json", ["A"])
    return root / "set"


def test_a_damaged_file_gets_no_preview(j2k_setdir: Path, tmp_path: Path) -> None:
    reading_set = open_reading_set(j2k_setdir, verify=False)
    image = reading_set.images[0]
    copy = tmp_path / "changed.dcm"
    data = bytearray(reading_set.image_path(image).read_bytes())
    data[-1] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ReadingSetError, match="SHA-256 does not match"):
        verify_and_preview(str(copy), image.sha256)


def test_previews_lie_on_the_full_pixel_frame_and_cannot_be_measured(
    qtbot: QtBot, j2k_setdir: Path, tmp_path: Path
) -> None:
    reader = open_reader(j2k_setdir, "A", tmp_path / "A.sqlite", verify=False)
    qtbot.addWidget(reader.window)
    try:
        window = reader.window
        window.show()
        code = first_case_code(window.session, window.cases)
        assert code is not None
        case = window.reading_set.case(code)
        window.begin_integrity_check(Future())  # as at launch: the check starts later
        window.start()
        full: dict[str, Future[Radiograph]] = {i.image_code: Future() for i in case.images}
        previews: dict[str, Future[Preview | None]] = {}
        for image in case.images:
            previews[image.image_code] = Future()
            path = window.reading_set.image_path(image)
            previews[image.image_code].set_result(load_preview(path, side_px=200))
        window.open_case(code, pending=full)
        looked: list[bool] = []
        painter = PreviewPainter(window, code, previews, on_all_painted=lambda: looked.append(True))
        painter.start()
        assert looked == [True]
        assert painter.painted == [i.image_code for i in case.images]
        first = case.images[0]
        index = window.grid.index_of(first.view, first.timepoint)
        viewport = window.grid.viewports[index]
        item = painter.preview_item(first.image_code)
        assert item is not None
        # The preview covers exactly the full image's pixel frame (view coordinates).
        rect = item.mapRectToView(item.boundingRect())
        assert (rect.x(), rect.y(), rect.width(), rect.height()) == (0.0, 0.0, 500.0, 600.0)
        # Nothing to measure on: no radiograph behind the preview, tools closed.
        assert viewport.radiograph is None
        assert window.radiograph_of(first.image_code) is None
        window.set_tool(Tool.rll)
        assert window.tools.tool is Tool.none
        radiograph = load_radiograph(window.reading_set.image_path(first))
        full[first.image_code].set_result(radiograph)
        qtbot.waitUntil(lambda: viewport.radiograph is not None)
        painter.poll()
        assert painter.preview_item(first.image_code) is None  # replaced by the full image
        assert item not in viewport.view_box.addedItems
        assert viewport.radiograph is not None
        assert viewport.radiograph.pixels.shape == (600, 500)
        for future in full.values():
            if not future.done():
                future.cancel()
    finally:
        reader.close()


def test_guess_first_case_agrees_with_the_session(
    qtbot: QtBot, setdir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "A.sqlite"
    reading_set = open_reading_set(setdir, verify=False)
    codes = [entry.case_code for entry in reading_set.worklist("A")]
    assert guess_first_case(db, codes, "A") == codes[0]  # no database yet
    assert guess_first_case(db, [], "A") is None
    reader = open_reader(setdir, "A", db, verify=False)
    qtbot.addWidget(reader.window)
    try:
        window = reader.window
        assert guess_first_case(db, codes, "A") == first_case_code(window.session, window.cases)
        window.open_case(codes[-1])  # the reader works on the last case, then leaves
        window.session.close_case()
        assert first_case_code(window.session, window.cases) == codes[-1]
        assert guess_first_case(db, codes, "A") == codes[-1]
    finally:
        reader.close()
    not_a_database = tmp_path / "x.sqlite"
    not_a_database.write_bytes(b"not SQLite at all" * 100)
    assert guess_first_case(not_a_database, codes, "A") == codes[0]


def test_run_reader_shows_a_frame_then_the_first_look_then_the_case(
    j2k_setdir: Path, tmp_path: Path
) -> None:
    script = (
        "import sys\n"
        "from collarreader.ui.reader import run_reader\n"
        "if __name__ == '__main__':\n"
        "    code = run_reader(sys.argv[1], 'A', sys.argv[2])\n"
        "    print('pydicom-imported', 'pydicom' in sys.modules)\n"
        "    sys.exit(code)\n"
    )
    (tmp_path / "launch.py").write_text(script, encoding="utf-8")
    env = dict(os.environ, COLLARREADER_EXIT_AFTER_PAINT="1", QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, str(tmp_path / "launch.py"), str(j2k_setdir), str(tmp_path / "A.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    events = [
        line.split()[0] for line in result.stdout.splitlines() if not line.startswith("phase")
    ]
    assert events == [
        "window-shown",
        "first-look-painted",
        "first-case-painted",
        "pydicom-imported",
    ]
    phases = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("phase")]
    # The workers have the first case before Qt, pyqtgraph and SQLAlchemy are imported.
    assert phases.index("first-case-sent") < phases.index("frame-shown")
    assert phases.index("frame-shown") < phases.index("db-imported")
    # The main process never decoded: pydicom stayed in the workers.
    assert "pydicom-imported False" in result.stdout
