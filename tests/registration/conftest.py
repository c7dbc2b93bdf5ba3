"""Fixtures of the registration tests: the sample T1 and T2 of ../shared/data/mr-brain."""

from __future__ import annotations

import pytest
from reg_data import real_volume


@pytest.fixture(scope="session")
def mr_t1_t2(mr_catalog):
    """``(t1_stack, t1_volume, t2_stack, t2_volume)``: volumes real-valued (slice, row, col)."""
    stacks = mr_catalog.stacks()
    t1 = next(s for s in stacks if "MEMPRAGE" in s.label)
    t2 = next(s for s in stacks if "T2" in s.label)
    return t1, real_volume(t1), t2, real_volume(t2)
