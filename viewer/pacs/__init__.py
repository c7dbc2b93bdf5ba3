"""Archives (PACS): configured nodes, find/retrieve/send, the study cache, a Storage SCP.

No Qt (an import-linter contract checks it). The API a window or script uses:

- :mod:`viewer.pacs.nodes`: :class:`DimseNode`, :class:`DicomWebNode`, ``node_to_dict`` /
  ``node_from_dict`` (QSettings), ``load_config`` / ``save_config`` (the CLI's file);
- :class:`viewer.pacs.client.PacsClient`: ``verify``, ``find``, ``retrieve`` (C-GET, C-MOVE,
  WADO-RS; ``progress`` per instance, ``cancel`` event, resume), ``send`` (C-STORE, STOW-RS);
- :class:`viewer.pacs.cache.StudyCache`: cached studies, their state and files;
- :class:`viewer.pacs.scp.StorageSCP`: receives C-STORE into the cache.

Network libraries: pynetdicom (DIMSE) and dicomweb-client (DICOMweb), imported only here.
"""
