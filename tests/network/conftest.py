"""Fixtures of the network tests: an emulated Moodle site with a token, a small district."""

from __future__ import annotations

import pytest

from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.generator import generate_district
from ps2moodle_testkit.emulators.moodle.site import MoodleSite

TOKEN = "network-test-token-0a1b2c3d"


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def site(token: str) -> MoodleSite:
    return MoodleSite.fresh(token)


@pytest.fixture(scope="session")
def tiny() -> District:
    return generate_district("tiny", seed=3, start_year=2024)
