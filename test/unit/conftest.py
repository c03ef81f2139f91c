"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from glancesync.testing.memcloud import MemoryCloud


@pytest.fixture
def cloud() -> MemoryCloud:
    """A fresh in-memory cloud: master RegionOne, RegionTwo, RegionThree, other:OtherOne."""
    return MemoryCloud()
