"""Work that lasts (no Qt): measurements and annotations as a DICOM TID 1500 Structured Report
(:mod:`~viewer.persist.measurements`), flagged key images as a Key Object Selection document
(:mod:`~viewer.persist.key_images`), written into the study folder or, when that is read-only,
beside it (:mod:`~viewer.persist.location`), and read back when the study is opened again.
"""
