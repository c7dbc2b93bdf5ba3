"""The project's error hierarchy.

Messages name the file (by path, never by patient data) and say what to do next.
"""

from __future__ import annotations


class ViewerError(Exception):
    """Base class for every error radviewer raises on purpose."""


class DicomReadError(ViewerError):
    """A file could not be read as DICOM, or its pixel data could not be decoded."""


class MissingCodecError(DicomReadError):
    """Pixel data uses a transfer syntax whose decoder package is not installed."""

    def __init__(self, path: str, syntax_name: str, packages: list[str]):
        self.path = path
        self.syntax_name = syntax_name
        self.packages = packages
        super().__init__(
            f"{path}: cannot decode {syntax_name} pixel data; "
            f"install {' or '.join(packages)} (pip install {packages[0]})"
        )


class SeriesGeometryError(ViewerError):
    """A stack's geometry is unusable (no orientation, inconsistent frame sizes, ...)."""


class StudyNotFoundError(ViewerError):
    """A path does not exist or holds no DICOM image."""


class OperationCancelled(ViewerError):
    """The user cancelled a long operation; what was done so far is kept."""


class ModelError(ViewerError):
    """A model cannot be used: bad manifest, missing or altered weights, unsupported graph,
    or not applicable to the chosen series. The message says which and what to do."""


class ModelNotApplicable(ModelError):
    """The model does not fit the series (modality, sequence, dimensions)."""


class ExportError(ViewerError):
    """A file could not be written (exists, disk full, read-only, cancelled). Nothing partial
    is left behind; the message names the file and what to do."""
