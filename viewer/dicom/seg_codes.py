"""What the SEG writer and reader share: SOP Class UIDs, segment property codes, colours.

:func:`property_codes` gives a label name its Segmented Property Category / Type codes
``(value, scheme, meaning)``; :func:`lab_to_rgb` turns a Recommended Display CIELab Value (three
16-bit integers) into RGB 0-255; :data:`DEFAULT_PALETTE` colours segments that carry none.
Plain Python: neither pydicom nor highdicom is imported.
"""

from __future__ import annotations

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
LABELMAP_SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.7"

# Colours for segments that carry no Recommended Display CIELab Value.
DEFAULT_PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 80, 60), (80, 190, 110), (90, 140, 230), (240, 170, 40), (180, 90, 200),
    (60, 200, 200), (240, 120, 180), (160, 160, 60), (120, 80, 40), (200, 200, 200),
)


# ----------------------------------------------------------------------------- codes

# Segmented Property Category / Type per label name (normalised: lower case, "-"/"_" as spaces,
# "grey" as "gray"). Codes are SNOMED CT from DICOM CID 7150 (categories) and CID 7151 / 7140
# (types); values copied from pydicom's codedict so that no import is needed to look them up.
_TISSUE = ("85756007", "SCT", "Tissue")
_ANATOMY = ("91723000", "SCT", "Anatomical Structure")
_ABNORMAL = ("49755003", "SCT", "Morphologically Abnormal Structure")
_TYPES: dict[str, tuple[tuple[str, str, str], tuple[str, str, str]]] = {
    "white matter": (_TISSUE, ("389080008", "SCT", "White Matter")),
    "gray matter": (_TISSUE, ("389081007", "SCT", "Gray Matter")),
    "brain": (_ANATOMY, ("12738006", "SCT", "Brain")),
    "cerebral white matter": (_ANATOMY, ("68523003", "SCT", "Cerebral White Matter")),
    "cerebral cortex": (_ANATOMY, ("40146001", "SCT", "Cerebral cortex")),
    "lateral ventricle": (_ANATOMY, ("66720007", "SCT", "Lateral Ventricle")),
    "inferior lateral ventricle": (_ANATOMY, ("53118009", "SCT",
                                              "Inferior Horn of Lateral Ventricle")),
    "cerebellum white matter": (_ANATOMY, ("33060004", "SCT", "Cerebellar White Matter")),
    "cerebellum cortex": (_ANATOMY, ("25991003", "SCT", "Cerebellar Cortex")),
    "cerebellum": (_ANATOMY, ("113305005", "SCT", "Cerebellum")),
    "thalamus": (_ANATOMY, ("42695009", "SCT", "Thalamus")),
    "caudate": (_ANATOMY, ("11000004", "SCT", "Caudate Nucleus")),
    "putamen": (_ANATOMY, ("89278009", "SCT", "Putamen")),
    "pallidum": (_ANATOMY, ("14738005", "SCT", "Globus Pallidus")),
    "3rd ventricle": (_ANATOMY, ("49841001", "SCT", "Third ventricle")),
    "4th ventricle": (_ANATOMY, ("35918002", "SCT", "Fourth Ventricle")),
    "brain stem": (_ANATOMY, ("119238007", "SCT", "Brain Stem")),
    "hippocampus": (_ANATOMY, ("5366008", "SCT", "Hippocampus")),
    "amygdala": (_ANATOMY, ("4958002", "SCT", "Amygdala")),
    "accumbens area": (_ANATOMY, ("427667007", "SCT", "Nucleus Accumbens")),
    "ventraldc": (_ANATOMY, ("110700", "DCM", "Ventral Diencephalon")),
    "lesion": (_ABNORMAL, ("52988006", "SCT", "Lesion")),
    "mass": (_ABNORMAL, ("4147007", "SCT", "Mass")),
}
_TUMOUR_WORDS = ("tumour", "tumor", "neoplasm", "glioma", "meningioma", "pituitary",
                 "metastasis", "cancer", "carcinoma")
_NEOPLASM = ("108369006", "SCT", "Neoplasm")


def _normalise(name: str) -> str:
    s = name.lower().replace("-", " ").replace("_", " ").replace("grey", "gray")
    return " ".join(s.split())


def property_codes(name: str) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    """(category, type) codes ``(value, scheme, meaning)`` for a label name.

    Known brain tissues and structures get their SNOMED CT codes; tumour words map to
    Morphologically Abnormal Structure / Neoplasm. Anything else falls back to the generic
    Tissue / Tissue pair: the standard needs some code, and the segment label keeps the name.
    """
    key = _normalise(name)
    if key in _TYPES:
        return _TYPES[key]
    if any(w in key for w in _TUMOUR_WORDS):
        return _ABNORMAL, _NEOPLASM
    return _TISSUE, _TISSUE  # fallback: generic tissue, the label names the segment


# ----------------------------------------------------------------------------- colour

# CIELab <-> sRGB as highdicom.color does it (D65 white), so a write/read round trip is exact
# up to the 16-bit quantisation. Implemented here so that reading needs no highdicom.


def lab_to_rgb(value: tuple[int, int, int] | list[int]) -> tuple[int, int, int]:
    """RGB 0-255 of a DICOM Recommended Display CIELab Value (three 16-bit integers)."""
    lv, av, bv = (int(v) for v in value)
    l_star = lv * 100.0 / 0xFFFF
    a_star = av * 255.0 / 0xFFFF - 128.0
    b_star = bv * 255.0 / 0xFFFF - 128.0
    y = (l_star + 16) / 116
    x = a_star / 500 + y
    z = y - b_star / 200

    def inv(c: float) -> float:
        c3 = c ** 3
        return c3 if c3 > 0.008856 else (c - 16.0 / 116) / 7.787

    x, y, z = 0.95047 * inv(x), 1.0 * inv(y), 1.08883 * inv(z)
    rgb = (x * 3.2406 - y * 1.5372 - z * 0.4986,
           -x * 0.9689 + y * 1.8758 + z * 0.0415,
           x * 0.0557 - y * 0.2040 + z * 1.0570)

    def gamma(c: float) -> int:
        c = 1.055 * (c ** (1 / 2.4)) - 0.055 if c > 0.0031308 else 12.92 * c
        return int(min(255, max(0, round(c * 255))))

    return gamma(rgb[0]), gamma(rgb[1]), gamma(rgb[2])
