"""De-identified copies of studies: DICOM PS3.15 Annex E Basic Application Level
Confidentiality Profile with the options a research user picks (Qt-free core; the window and
``radviewer deid`` call :func:`export_deidentified` with a progress callback and a cancel
event).

- :mod:`viewer.deid.profile`: Table E.1-1's action per attribute under the options
- :mod:`viewer.deid.options_table`: the option columns and the safe private attributes
- :mod:`viewer.deid.engine`: one export's UID map, pseudonyms and date shifts
- :mod:`viewer.deid.values`: dummies, date shifts, text cleaning
- :mod:`viewer.deid.export`: files in, files out (burned-in rule, atomic writes)
"""

from viewer.deid.export import (
    DeidReport,
    burned_in_reason,
    export_deidentified,
    find_burned_in,
    record_audit,
    study_files,
)
from viewer.deid.profile import DeidOptions

__all__ = ["DeidOptions", "DeidReport", "burned_in_reason", "export_deidentified",
           "find_burned_in", "record_audit", "study_files"]
