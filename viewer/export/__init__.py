"""Export of screenshots and DICOM objects (no Qt). Not built yet."""
