"""radviewer: a desktop radiology viewer with AI assist (research use, not a diagnosis)."""

__version__ = "0.1.0"
