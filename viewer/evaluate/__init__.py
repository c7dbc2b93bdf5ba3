"""Evaluation of a model against reference labels, the way papers report it (``radviewer
evaluate``): segmentation overlap and surface distances, classification metrics, bootstrap
confidence intervals, and an HTML report. No Qt here (import-linter contract).

Libraries (optional extra ``radviewer[evaluate]``), chosen after comparing what exists:

- **SimpleITK** for segmentation: ``LabelOverlapMeasuresImageFilter`` (Dice) and
  ``SignedMaurerDistanceMap`` on ``LabelContour`` surfaces with the physical spacing (surface
  distances in mm). ITK is the reference implementation the field validates against, it is
  already a test dependency, and it needs no torch (MONAI's metrics do). seg-metrics wraps the
  same SimpleITK calls but only on files and per case, without the per-voxel distances the
  slice bootstrap needs, so radviewer calls SimpleITK directly.
- **scikit-learn** for classification: accuracy, precision/recall/F1, ROC AUC, confusion
  matrix and ``calibration_curve`` (the standard, well-tested definitions).
- **matplotlib** (Agg backend, no display) for the report's figures.
"""

INSTALL_HINT = "pip install radviewer[evaluate]"


def missing_dependency() -> str | None:
    """The first evaluation library that is not installed (None: all are)."""
    import importlib.util

    for mod, name in (("SimpleITK", "SimpleITK"), ("sklearn", "scikit-learn"),
                      ("matplotlib", "matplotlib")):
        if importlib.util.find_spec(mod) is None:
            return name
    return None
