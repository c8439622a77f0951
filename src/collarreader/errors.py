"""Every exception collarreader raises.

Messages say what happened, to which file or row, and what to do about it. Catch
:class:`CollarReaderError` at the edges (command line, GUI) and show ``str(error)``;
anything else escaping is a bug.
"""

from __future__ import annotations

from pathlib import Path


class CollarReaderError(Exception):
    """Root of every error collarreader raises on purpose."""


class FileError(CollarReaderError):
    """An error about one file: the message starts with the file's path.

    Parameters
    ----------
    path : path of the file concerned
    reason : what is wrong, as a sentence
    hint : what the user can do about it, as a sentence (optional)
    """

    def __init__(self, path: str | Path, reason: str, hint: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        self.hint = hint
        message = f"{self.path}: {reason}"
        if hint:
            message += f" {hint}"
        super().__init__(message)


class DicomReadError(FileError):
    """A file could not be turned into a radiograph (empty, not DICOM, corrupt, …)."""


class PhantomError(CollarReaderError):
    """The phantom generator was asked for something it cannot make."""


class ProtocolError(CollarReaderError):
    """A scoring protocol file is missing, malformed or inconsistent."""


class ManifestError(CollarReaderError):
    """A source manifest (``manifest.csv``) has a bad row; the message names the row."""


class DeidentificationError(CollarReaderError):
    """A dataset could not be de-identified safely; it must not reach a reader."""


class ReadingSetError(CollarReaderError):
    """A reading set is missing, incomplete, tampered with or of an unknown version."""


class KeyFileError(CollarReaderError):
    """The unblinding key file is missing, malformed, misplaced or would be overwritten."""


class DatabaseError(CollarReaderError):
    """A reader or study database cannot be opened, upgraded or written."""


class AuditChainError(DatabaseError):
    """The audit chain of a database does not verify."""


class MergeError(DatabaseError):
    """A source database was refused by a merge; the target is unchanged."""


class SessionError(CollarReaderError):
    """A reading-session command is not allowed now (e.g. editing a submitted reading)."""


class AnalysisError(CollarReaderError):
    """Agreement statistics cannot be computed for the data given."""


class ClinicalDataError(CollarReaderError):
    """Oxford scores or adverse events are invalid; the message names row and column."""


class SettingsError(CollarReaderError):
    """A reader's settings file or a shortcut chosen is invalid; the message names it."""


class InteropError(CollarReaderError):
    """A DICOM SR / presentation state could not be written from a database."""


class PullError(CollarReaderError):
    """Images could not be retrieved from a PACS (DICOMweb); the message names the row."""


class AuthorKeyError(CollarReaderError):
    """An author's signing key is missing, damaged, misplaced or readable by others."""


class ReceiptError(CollarReaderError):
    """A verification receipt is malformed or does not match the database it is checked on."""


class RegistrationError(CollarReaderError):
    """Two films cannot be registered on their implant (no metal, too little overlap, …)."""


class MeasurementError(CollarReaderError):
    """A semi-automatic measurement found nothing it can trust; the reader measures by hand."""
