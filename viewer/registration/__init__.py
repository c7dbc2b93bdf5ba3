"""Registration of one series to another (no Qt).

:mod:`~viewer.registration.images` turns a stack's volume into a SimpleITK image with its
patient geometry; :mod:`~viewer.registration.rigid` registers two of them (Mattes mutual
information, multi-resolution, versor rigid or affine) with progress and cancel;
:mod:`~viewer.registration.quality` resamples, and draws checkerboard and blend images;
:mod:`~viewer.registration.sro` saves and reloads the result as a DICOM Spatial Registration
object; :mod:`~viewer.registration.sync` finds the moving slice that matches a fixed one.
Matrices are 4x4 in patient coordinates (DICOM LPS, mm).
"""
