"""Sample districts shared by the PowerSchool tests (generated once per session)."""

from __future__ import annotations

import pytest

from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.generator import generate_district


@pytest.fixture(scope="session")
def tiny() -> District:
    return generate_district("tiny", seed=3, start_year=2024)


@pytest.fixture(scope="session")
def small() -> District:
    return generate_district("small", seed=1, start_year=2024)
