"""Errors of the archive code; messages name the node (never a secret or patient data) and
say what to do next."""

from __future__ import annotations

from viewer.errors import ViewerError


class PacsError(ViewerError):
    """An archive could not be reached or refused a request."""


class PacsConfigError(PacsError):
    """A node's settings are invalid or missing."""


class AssociationRejected(PacsError):
    """The archive refused or aborted the association (AE titles, address, TLS)."""
