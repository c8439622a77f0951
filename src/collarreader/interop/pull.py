"""``collarreader pull``: retrieve a manifest's images from a PACS over DICOMweb (WADO-RS).

The input manifest names each image by its UIDs instead of a path::

    study_uid, series_uid, sop_uid, site, patient, timepoint, view, joint, side

Each instance is retrieved with dicomweb-client, written atomically (a temporary file, then a
rename) to ``OUT/images/<sop_uid>.dcm``, and verified: our loader must decode it (what a reader
cannot open must not reach a set) and its (0008,0018) *SOP Instance UID* must be the one asked
for. Only when every row has its verified file is ``OUT/manifest.csv`` written (atomically, with
paths relative to it), ready for ``collarreader prepare``: an interrupted or failed pull leaves
no manifest, and a second run skips the files that already verify (resume).

Credentials come from a file (``--auth FILE``), never from the command line where other users
of the machine could read them in the process list::

    user = reader1
    password = …

or ``token = …`` for a bearer token. Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient

from collarreader.errors import DicomReadError, PullError
from collarreader.imaging import load_radiograph
from collarreader.model import ProgressCallback
from collarreader.study.manifest import COLUMNS

__all__ = [
    "PULL_COLUMNS",
    "PullReport",
    "PullRow",
    "pull_images",
    "read_auth",
    "read_pull_manifest",
]

PULL_COLUMNS: tuple[str, ...] = (
    "study_uid",
    "series_uid",
    "sop_uid",
    "site",
    "patient",
    "timepoint",
    "view",
    "joint",
    "side",
)
"""Columns of a pull manifest: the UIDs, then the labels of a source manifest (less ``path``)."""

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
_TIMEOUT_S = 60.0
# Ask for the stored transfer syntax: a PACS that transcodes would change the pixels we verify.
_MEDIA_TYPES = (("application/dicom", "*"),)


@dataclass(frozen=True)
class PullRow:
    """One row of a pull manifest (``row`` counts the header as 1)."""

    row: int
    study_uid: str
    series_uid: str
    sop_uid: str
    labels: dict[str, str]

    @property
    def relative_path(self) -> str:
        """Where the instance goes, relative to the output folder (POSIX separators)."""
        return f"images/{self.sop_uid}.dcm"


@dataclass(frozen=True)
class PullReport:
    """What a pull did: files retrieved now, files already there (resumed), the manifest."""

    retrieved: int
    resumed: int
    manifest: Path

    def __str__(self) -> str:
        return (
            f"{self.retrieved} image(s) retrieved, {self.resumed} already present and verified; "
            f"manifest ready for prepare: {self.manifest}"
        )


def read_auth(path: str | Path) -> requests.auth.AuthBase:
    """Credentials from a file: ``user``/``password`` lines, or a ``token`` line.

    Raises
    ------
    PullError
        The file is missing or unreadable, or holds neither a user and password nor a token.
    """
    auth_path = Path(path)
    try:
        text = auth_path.read_text(encoding="utf-8")
    except OSError as error:
        message = f"{auth_path}: cannot read the credentials file ({error.strerror or error})."
        raise PullError(message) from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = stripped.partition("=")
        if not sep or name.strip().casefold() not in {"user", "password", "token"}:
            message = (
                f"{auth_path}, line {number}: expected 'user = …', 'password = …' or 'token = …'."
            )
            raise PullError(message)
        values[name.strip().casefold()] = value.strip()
    if values.get("token"):
        return _BearerAuth(values["token"])
    if values.get("user") and "password" in values:
        return requests.auth.HTTPBasicAuth(values["user"], values["password"])
    message = f"{auth_path}: give 'user' and 'password' lines, or a 'token' line."
    raise PullError(message)


class _BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <token>`` on every request."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


def read_pull_manifest(path: str | Path) -> list[PullRow]:
    """Read and validate a pull manifest; every problem is listed with its row and column.

    Raises
    ------
    PullError
        Missing file, missing columns, an empty cell, a UID that is not a DICOM UID
        (digits and dots, at most 64 characters), or the same SOP Instance UID twice.
    """
    csv_path = Path(path)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except OSError as error:
        message = f"{csv_path}: cannot read the manifest ({error.strerror or error})."
        raise PullError(message) from None
    reader = csv.reader(io.StringIO(text))
    header = [name.strip().casefold() for name in next(reader, [])]
    missing = [name for name in PULL_COLUMNS if name not in header]
    if missing:
        message = (
            f"{csv_path}: row 1 (header) lacks the column(s) {', '.join(missing)}; "
            f"a pull manifest names {', '.join(PULL_COLUMNS)}."
        )
        raise PullError(message)
    index = {name: header.index(name) for name in PULL_COLUMNS}
    rows: list[PullRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        values = {name: cells[i].strip() if i < len(cells) else "" for name, i in index.items()}
        empty = [name for name in PULL_COLUMNS if not values[name]]
        problems.extend(f"row {number}, column '{name}': empty" for name in empty)
        for name in ("study_uid", "series_uid", "sop_uid"):
            uid = values[name]
            if uid and (len(uid) > 64 or not _UID.match(uid)):
                problems.append(
                    f"row {number}, column '{name}': {uid!r} is not a DICOM UID "
                    "(digits separated by dots, at most 64 characters)"
                )
        sop = values["sop_uid"]
        if sop in seen:
            problems.append(f"row {number}: SOP Instance UID {sop} already on row {seen[sop]}")
        seen.setdefault(sop, number)
        if not empty:
            labels = {name: values[name] for name in PULL_COLUMNS[3:]}
            rows.append(PullRow(number, values["study_uid"], values["series_uid"], sop, labels))
    if problems:
        message = f"{csv_path}: " + "; ".join(problems) + ". Correct the manifest and pull again."
        raise PullError(message)
    if not rows:
        message = f"{csv_path}: no rows below the header; nothing to pull."
        raise PullError(message)
    return rows


def _verified(path: Path, row: PullRow) -> str | None:
    """``None`` when ``path`` decodes and carries the row's SOP Instance UID, else the reason."""
    try:
        radiograph = load_radiograph(path)
    except DicomReadError as error:
        return error.reason
    if radiograph.sop_instance_uid != row.sop_uid:
        return f"its SOP Instance UID is {radiograph.sop_instance_uid or '(none)'}"
    return None


def _write_atomic(data: bytes, target: Path) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _retrieve(client: DICOMwebClient, url: str, row: PullRow) -> bytes:
    where = f"row {row.row} (SOP Instance UID {row.sop_uid})"
    try:
        dataset = client.retrieve_instance(
            row.study_uid, row.series_uid, row.sop_uid, media_types=_MEDIA_TYPES
        )
    except requests.exceptions.HTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status == 404:
            message = (
                f"{where}: the PACS at {url} has no such instance in study {row.study_uid}, "
                f"series {row.series_uid}. Check the three UIDs of that row."
            )
        elif status in {401, 403}:
            message = (
                f"{url}: the PACS refused the credentials (HTTP {status}). Check the --auth "
                "file's user and password or token."
            )
        else:
            message = f"{where}: the PACS at {url} answered HTTP {status}. Try again later."
        raise PullError(message) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
        message = (
            f"{url}: the PACS cannot be reached ({type(error).__name__}). Check the URL "
            "(the DICOMweb root, e.g. http://pacs:8042/dicom-web), the network and the server."
        )
        raise PullError(message) from None
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def _write_manifest(rows: Sequence[PullRow], out: Path) -> Path:
    lines = io.StringIO()
    writer = csv.writer(lines, lineterminator="\n")
    writer.writerow((*COLUMNS, "sop_uid"))
    for row in rows:
        writer.writerow(
            (row.relative_path, *(row.labels[name] for name in COLUMNS[1:]), row.sop_uid)
        )
    target = out / "manifest.csv"
    _write_atomic(lines.getvalue().encode("utf-8"), target)
    return target


def pull_images(
    url: str,
    manifest: str | Path,
    out: str | Path,
    *,
    auth: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> PullReport:
    """Retrieve every image a pull manifest names; write ``out/manifest.csv`` for prepare.

    Parameters
    ----------
    url : the DICOMweb root of the PACS (e.g. ``http://127.0.0.1:8042/dicom-web``)
    manifest : the pull manifest (see :data:`PULL_COLUMNS`)
    out : output folder, created when absent; files already there that verify are kept
    auth : credentials file (see :func:`read_auth`), or None for an open server
    progress : ``progress(done, total)`` after each image

    Raises
    ------
    PullError
        Bad manifest or credentials file, unreachable server, refused credentials, a missing
        instance, or an instance that does not decode or has another SOP Instance UID. No
        ``manifest.csv`` is written then; the files verified so far stay for the next run.
    """
    rows = read_pull_manifest(manifest)
    if not url.startswith(("http://", "https://")):
        message = f"{url}: not a DICOMweb URL; give http://… or https://… (the DICOMweb root)."
        raise PullError(message)
    session = requests.Session()
    if auth is not None:
        session.auth = read_auth(auth)
    client = DICOMwebClient(url.rstrip("/"), session=session)
    client.set_http_retry_params(retry=False)
    out_dir = Path(out)
    images = out_dir / "images"
    try:
        images.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        message = f"{images}: cannot create the output folder ({error.strerror or error})."
        raise PullError(message) from None
    (out_dir / "manifest.csv").unlink(missing_ok=True)
    retrieved = resumed = 0
    for done, row in enumerate(rows, start=1):
        target = out_dir / row.relative_path
        if target.is_file() and _verified(target, row) is None:
            resumed += 1
        else:
            _write_atomic(_retrieve(client, url, row), target)
            reason = _verified(target, row)
            if reason is not None:
                target.unlink()
                message = (
                    f"row {row.row} (SOP Instance UID {row.sop_uid}): the PACS sent an instance "
                    f"our loader refuses: {reason}. Ask the PACS administrator about it."
                )
                raise PullError(message)
            retrieved += 1
        if progress is not None:
            progress(done, len(rows))
    return PullReport(retrieved, resumed, _write_manifest(rows, out_dir))
