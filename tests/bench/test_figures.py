"""The raw-client baseline: the writes an apply made, as a raw client would send them."""

from __future__ import annotations

import pytest

from ps2moodle_testkit.bench.figures import MOODLE, POWERSCHOOL, Endpoint, raw_baseline_s


def _endpoint(side: str, name: str, *, read: bool = False, items: int = 0, written: int = 0) -> Endpoint:
    return Endpoint(side, name, read, requests=9, minimum=2, items=items, written=written, modelled_s=9.0, served_s=9.0)


def test_the_raw_client_sends_what_was_written_in_batches_of_100_four_at_once() -> None:
    def cost(function: str, items: int) -> float:
        return 0.02 + {"enrol_manual_enrol_users": 0.01, "core_user_create_users": 0.04}[function] * items

    endpoints = [
        # 900 enrolments sent, of which a refused batch of 100 was re-sent: 800 written.
        _endpoint(MOODLE, "enrol_manual_enrol_users", items=900, written=800),
        _endpoint(MOODLE, "core_user_create_users", items=150, written=150),
        _endpoint(MOODLE, "core_user_get_users_by_field", read=True, items=5000),
        _endpoint(POWERSCHOOL, "GET /ws/v1/district/student", read=True, items=5000),
    ]
    # Enrolments: 8 calls of 1.02 s on 4 workers, 2 rounds; users: 4.02 s and 2.02 s at once.
    assert raw_baseline_s(endpoints, cost, 4) == pytest.approx(2 * 1.02 + 4.02)
    assert raw_baseline_s(endpoints, cost, 1) == pytest.approx(8 * 1.02 + 4.02 + 2.02)


def test_a_write_without_a_list_costs_its_calls() -> None:
    endpoints = [_endpoint(MOODLE, "core_course_delete_courses")]
    assert raw_baseline_s(endpoints, lambda function, items: 0.5, 4) == pytest.approx(0.5)
