"""A throwaway Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) on loopback for the pull tests.

Our own configuration and storage under a given folder, HTTP on 127.0.0.1 only (remote access
refused), the DICOM port disabled, HTTP basic authentication with a test user, and the DICOMweb
plugin. The Debian package's system service (4242/8042) is neither used nor needed.

Used by ``tests/interop/conftest.py`` and by ``./run.sh orthanc`` (``python
tests/interop/orthanc_server.py start --port P --dir D`` starts it detached and prints the
environment the tests read).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path

USER = "collar"
PASSWORD = "collar-test-only"  # noqa: S105 - a loopback test server's password, by design
PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc"))
URL_VARIABLE = "COLLARREADER_TEST_ORTHANC_URL"
AUTH_VARIABLE = "COLLARREADER_TEST_ORTHANC_AUTH"


@dataclass(frozen=True)
class OrthancServer:
    """A running test Orthanc: its HTTP root, DICOMweb root and credentials file."""

    url: str
    auth_file: Path

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def request(self, method: str, path: str, data: bytes | None = None) -> bytes:
        """One authenticated REST call to Orthanc; returns the body."""
        token = b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 - http on loopback, URL built here
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Basic {token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return bytes(response.read())


def orthanc_binary() -> str | None:
    """The Orthanc executable, or None when the Debian package is missing."""
    return shutil.which("Orthanc") or (
        "/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").is_file() else None
    )


def dicomweb_plugin() -> Path | None:
    """The DICOMweb plugin's shared library, or None when ``orthanc-dicomweb`` is missing."""
    for folder in PLUGIN_DIRS:
        for candidate in sorted(folder.glob("libOrthancDicomWeb.so*")):
            return candidate
    return None


def write_config(folder: Path, port: int, plugin: Path) -> Path:
    """Write the configuration and the credentials file into ``folder``; return the config."""
    storage = folder / "storage"
    # A throwaway PACS: an earlier run's instances (same UIDs, other pixels when the phantom
    # changed) must not answer for this run's uploads.
    shutil.rmtree(storage, ignore_errors=True)
    storage.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "collarreader-test",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": port,
        "RemoteAccessAllowed": False,
        "DicomServerEnabled": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [str(plugin)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "StableAge": 1,
        "OverwriteInstances": True,
        "HttpCompressionEnabled": False,
    }
    path = folder / "orthanc.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    (folder / "auth.txt").write_text(f"user = {USER}\npassword = {PASSWORD}\n", encoding="utf-8")
    return path


def wait_ready(server: OrthancServer, process: subprocess.Popen[bytes] | None, log: Path) -> None:
    """Wait up to 30 s for the REST API and the DICOMweb plugin to answer."""
    deadline = time.monotonic() + 30
    while True:
        try:
            server.request("GET", "/dicom-web/studies")
        except (urllib.error.URLError, ConnectionError, OSError):
            if process is not None and process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                message = f"Orthanc exited with code {process.returncode}:\n{tail}"
                raise RuntimeError(message) from None
            if time.monotonic() > deadline:
                message = f"Orthanc did not answer on {server.url} within 30 s (log: {log})"
                raise RuntimeError(message) from None
            time.sleep(0.1)
        else:
            return


def start(
    folder: Path, port: int, *, detach: bool = False
) -> tuple[OrthancServer, subprocess.Popen[bytes]]:
    """Start Orthanc with our configuration; return the server and its process."""
    binary, plugin = orthanc_binary(), dicomweb_plugin()
    if binary is None or plugin is None:
        message = "Orthanc or its DICOMweb plugin is missing (Debian: orthanc orthanc-dicomweb)"
        raise FileNotFoundError(message)
    config = write_config(folder, port, plugin)
    log = folder / "orthanc.log"
    with log.open("ab") as stream:
        process = subprocess.Popen(
            [binary, str(config)],
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )
    server = OrthancServer(f"http://127.0.0.1:{port}", folder / "auth.txt")
    try:
        wait_ready(server, process, log)
    except BaseException:
        process.terminate()
        process.wait(timeout=10)
        raise
    (folder / "orthanc.pid").write_text(str(process.pid), encoding="utf-8")
    return server, process


def main() -> int:
    """``start --port P --dir D``: start detached (unless one already answers) and print env."""
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["start"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    folder = args.dir.absolute()
    server = OrthancServer(f"http://127.0.0.1:{args.port}", folder / "auth.txt")
    try:
        server.request("GET", "/system")
    except (urllib.error.URLError, ConnectionError, OSError):
        folder.mkdir(parents=True, exist_ok=True)
        server, process = start(folder, args.port, detach=True)
        print(f"Orthanc started on {server.url} (pid {process.pid}, {folder})", file=sys.stderr)
    print(f"export {URL_VARIABLE}={server.url} {AUTH_VARIABLE}={server.auth_file}")
    return 0


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main())
