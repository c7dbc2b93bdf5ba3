"""PET standardized uptake values (SUV) from the header, per the QIBA vendor-neutral rules.

SUVbw = activity concentration (Bq/ml) x body weight (g) / decayed injected dose (Bq), so the
factor that turns real values (Units (0054,1001) BQML) into SUV has units g/ml. The injected
dose is decayed from Radiopharmaceutical Start (Date)Time (0018,1078)/(0018,1072) to the scan
start with Radionuclide Half Life (0018,1075) when Decay Correction (0054,1102) is START
(ADMIN: the images are already corrected to the injection, no decay). The scan start is
Series Date/Time (0008,0021)/(0008,0031) when it is not after the earliest Acquisition
Date/Time (0008,0022)/(0008,0032), else the earliest acquisition (a post-processed series
whose series time was reset). Units CNTS are accepted only with the Philips SUV Scale Factor
(7053,1000). Anything else is refused with a one-line reason naming the file and the field.

Lean body mass (SUL, PERCIST 1.0) uses the Janmahasatian formula (Clin Pharmacokinet 2005):
LBM = 9270 W / (6680 + 216 BMI) for men, 9270 W / (8780 + 244 BMI) for women (W in kg,
BMI in kg/m^2); it needs Patient's Size (0010,1020) and Patient's Sex (0010,0040).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from viewer.errors import ViewerError

_TAGS = ("Units", "DecayCorrection", "CorrectedImage", "SeriesDate", "SeriesTime",
         "AcquisitionDate", "AcquisitionTime", "PatientWeight", "PatientSize", "PatientSex",
         "RadiopharmaceuticalInformationSequence", "Modality")
_PHILIPS_SUV_SCALE = 0x70531000  # Philips private SUV Scale Factor (7053,1000), g/ml


class SuvError(ViewerError):
    """SUV cannot be computed from this header; the message names the file and the field."""


@dataclass(frozen=True)
class SuvParameters:
    """The header values SUV needs (None where absent). Times are naive local datetimes."""

    file: str  # base name, for messages
    units: str
    decay_correction: str
    corrected_image: tuple[str, ...]
    series_time: dt.datetime | None
    acquisition_time: dt.datetime | None  # the earliest of the series
    injection_time: dt.datetime | None
    injection_has_date: bool  # from Radiopharmaceutical Start DateTime (0018,1078)
    half_life_s: float | None
    total_dose_bq: float | None
    weight_kg: float | None
    height_m: float | None
    sex: str
    philips_suv_scale: float | None = None


def _date_time(date: object, time: object) -> dt.datetime | None:
    from pydicom.valuerep import DA, TM

    if not date or not time:
        return None
    try:
        d, t = DA(str(date).strip()), TM(str(time).strip())
    except ValueError:
        return None
    return dt.datetime.combine(d, t) if d is not None and t is not None else None


def _float(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if f == f else None


def suv_parameters(ds, path: str = "", earliest_acquisition: dt.datetime | None = None
                   ) -> SuvParameters:
    """Read SUV fields from a pydicom dataset of one PET image. ``earliest_acquisition``
    (the earliest Acquisition Date/Time of the series) defaults to this image's."""
    seq = ds.get("RadiopharmaceuticalInformationSequence") or []
    item = seq[0] if len(seq) else None
    inj, has_date = None, False
    if item is not None:
        if item.get("RadiopharmaceuticalStartDateTime"):
            from pydicom.valuerep import DT

            try:
                inj = DT(str(item.RadiopharmaceuticalStartDateTime)).replace(tzinfo=None)
                has_date = True
            except ValueError:
                inj = None
        if inj is None:
            inj = _date_time(ds.get("SeriesDate"), item.get("RadiopharmaceuticalStartTime"))
    corrected = ds.get("CorrectedImage") or ()
    corrected = (corrected,) if isinstance(corrected, str) else tuple(corrected)
    size = _float(ds.get("PatientSize"))
    philips = ds.get(_PHILIPS_SUV_SCALE)
    return SuvParameters(
        file=os.path.basename(path) or "this PET image",
        units=str(ds.get("Units") or "").upper(),
        decay_correction=str(ds.get("DecayCorrection") or "").upper(),
        corrected_image=tuple(str(c).upper() for c in corrected),
        series_time=_date_time(ds.get("SeriesDate"), ds.get("SeriesTime")),
        acquisition_time=earliest_acquisition or _date_time(ds.get("AcquisitionDate"),
                                                            ds.get("AcquisitionTime")),
        injection_time=inj,
        injection_has_date=has_date,
        half_life_s=_float(item.get("RadionuclideHalfLife")) if item is not None else None,
        total_dose_bq=_float(item.get("RadionuclideTotalDose")) if item is not None else None,
        weight_kg=_float(ds.get("PatientWeight")),
        height_m=size if size and size > 0 else None,
        sex=str(ds.get("PatientSex") or "").upper(),
        philips_suv_scale=_float(philips.value) if philips is not None else None,
    )


def read_suv_parameters(stack) -> SuvParameters:
    """SUV fields of a PET :class:`viewer.dicom.stacks.Stack`: its first file's header, and
    the earliest Acquisition Time (0008,0032) over its slices (same Acquisition Date)."""
    import pydicom

    path = stack.first.path
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable header: no SUV, with the reason
        raise SuvError(f"{os.path.basename(path)}: cannot read the PET header for SUV "
                       f"({type(exc).__name__})") from None
    first = _date_time(ds.get("AcquisitionDate"), ds.get("AcquisitionTime"))
    times = [_date_time(ds.get("AcquisitionDate"), f.header.acquisition_time)
             for f in stack.frames if f.header.acquisition_time]
    times = [t for t in times if t is not None]
    return suv_parameters(ds, path, min(times) if times else first)


def scan_start(p: SuvParameters) -> dt.datetime:
    """The time the dose is decayed to (QIBA): Series Date/Time unless it is after the
    earliest acquisition, then the earliest Acquisition Date/Time."""
    if p.series_time is not None and (p.acquisition_time is None
                                      or p.series_time <= p.acquisition_time):
        return p.series_time
    if p.acquisition_time is not None:
        return p.acquisition_time
    raise SuvError(f"{p.file}: no Series Date/Time (0008,0021/0031) or Acquisition "
                   f"Date/Time (0008,0022/0032); SUV needs the scan start time")


def _need(p: SuvParameters, value, name: str):
    if value is None or (isinstance(value, float) and not value > 0):
        raise SuvError(f"{p.file}: {name} is missing or not positive; SUV cannot be computed")
    return value


def decayed_dose(p: SuvParameters) -> float:
    """Injected dose (Bq) decayed to the scan start (START) or not at all (ADMIN)."""
    dose = _need(p, p.total_dose_bq, "Radionuclide Total Dose (0018,1074)")
    if p.decay_correction == "ADMIN":
        return float(dose)
    half_life = _need(p, p.half_life_s, "Radionuclide Half Life (0018,1075)")
    inj = _need(p, p.injection_time, "Radiopharmaceutical Start Time (0018,1072)")
    seconds = (scan_start(p) - inj).total_seconds()
    if seconds < 0 and not p.injection_has_date:
        seconds += 86400.0  # injected before midnight, scanned after (time without a date)
    if seconds < 0:
        raise SuvError(f"{p.file}: the injection (0018,1072/1078) is after the scan start; "
                       f"check the header times")
    return float(dose) * 2.0 ** (-seconds / float(half_life))


def _check(p: SuvParameters) -> None:
    if p.units not in ("BQML", "CNTS"):
        raise SuvError(f"{p.file}: Units (0054,1001) are {p.units or 'missing'}, not BQML; "
                       f"SUV needs activity concentration in Bq/ml")
    if p.units == "CNTS" and p.philips_suv_scale is None:
        raise SuvError(f"{p.file}: Units (0054,1001) are CNTS without the Philips SUV Scale "
                       f"Factor (7053,1000); SUV cannot be computed")
    if p.units == "BQML":
        if p.decay_correction not in ("START", "ADMIN"):
            raise SuvError(f"{p.file}: Decay Correction (0054,1102) is "
                           f"{p.decay_correction or 'missing'}; SUV needs START or ADMIN")
        missing = [c for c in ("ATTN", "DECY") if c not in p.corrected_image]
        if missing:
            raise SuvError(f"{p.file}: Corrected Image (0028,0051) lacks {'/'.join(missing)}; "
                           f"SUV needs attenuation- and decay-corrected images")


def suv_bw_factor(p: SuvParameters) -> float:
    """SUVbw = real value (Bq/ml) x this factor (g/ml)."""
    _check(p)
    if p.units == "CNTS":
        return float(p.philips_suv_scale)  # type: ignore[arg-type]
    weight = _need(p, p.weight_kg, "Patient's Weight (0010,1030)")
    return weight * 1000.0 / decayed_dose(p)


def lean_body_mass(weight_kg: float, height_m: float, sex: str) -> float:
    """Janmahasatian lean body mass (kg); ``sex`` "M" or "F"."""
    bmi = weight_kg / (height_m * height_m)
    if sex == "M":
        return 9270.0 * weight_kg / (6680.0 + 216.0 * bmi)
    if sex == "F":
        return 9270.0 * weight_kg / (8780.0 + 244.0 * bmi)
    raise ValueError(f"lean body mass needs sex M or F, not {sex!r}")


def suv_lbm_factor(p: SuvParameters) -> float:
    """SUL (SUV lean body mass, Janmahasatian) = real value (Bq/ml) x this factor (g/ml)."""
    bw = suv_bw_factor(p)
    weight = _need(p, p.weight_kg, "Patient's Weight (0010,1030)")
    height = _need(p, p.height_m, "Patient's Size (0010,1020)")
    if p.sex not in ("M", "F"):
        raise SuvError(f"{p.file}: Patient's Sex (0010,0040) is {p.sex or 'missing'}; "
                       f"lean body mass needs M or F")
    return bw * lean_body_mass(weight, height, p.sex) / weight
