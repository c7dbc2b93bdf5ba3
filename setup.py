"""radviewer's one compiled part; everything else is in pyproject.toml.

viewer/ai/_resample.c: the resampling planes of a 3-D model's analysis (viewer.ai.resample_plan),
the numpy code's values bit for bit at about half its CPU. Optional: without a C compiler or
Python's headers the install goes on and the numpy code runs. -ffp-contract=off: a fused
multiply-add rounds once where numpy rounds twice.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("viewer.ai._resample", ["viewer/ai/_resample.c"],
                             extra_compile_args=["-O2", "-ffp-contract=off", "-fno-fast-math"],
                             optional=True)])
