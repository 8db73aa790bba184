"""The cyclic-collector pause the pure steps run under (found by the benchmark)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from reconciler.model import Kind
from reconciler.speed import gc_paused, members


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


@gc_paused
def _inner() -> bool:
    return gc.isenabled()


@gc_paused
def _outer() -> tuple[bool, bool]:
    inner = _inner()
    return inner, gc.isenabled()


def test_the_collector_is_paused_during_a_step_and_back_after() -> None:
    gc.enable()
    assert _outer() == (False, False)  # a nested step does not turn it back on early
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    assert _inner() is False
    assert not gc.isenabled()


def test_the_collector_comes_back_when_a_step_fails() -> None:
    @gc_paused
    def failing() -> None:
        raise RuntimeError("boom")

    gc.enable()
    with pytest.raises(RuntimeError):
        failing()
    assert gc.isenabled()


def test_members_finds_each_member_by_value_and_refuses_others() -> None:
    member = members(Kind)
    assert [member(k.value) for k in Kind] == list(Kind)
    with pytest.raises(ValueError, match="'planet' is not a valid Kind"):
        member("planet")
