"""The schedule, on a hand-driven clock: startup run, interval, debounce, no overlap."""

from __future__ import annotations

from reconciler.serve.schedule import Schedule, Trigger


def _schedule() -> Schedule:
    return Schedule.starting(1000.0, interval_s=3600.0, debounce_s=60.0)


def _ran(schedule: Schedule, at: float, took: float = 5.0) -> Trigger:
    trigger = schedule.begin(at)
    assert trigger is not None
    schedule.end(at + took)
    return trigger


def test_the_first_run_is_at_start_then_one_interval_after_each_run_ends() -> None:
    schedule = _schedule()

    assert schedule.due_at() == 1000.0
    assert _ran(schedule, 1000.0) is Trigger.STARTUP
    assert schedule.due_at() == 1005.0 + 3600.0
    assert schedule.begin(4604.0) is None
    assert _ran(schedule, 4605.0) is Trigger.SCHEDULE


def test_a_burst_of_notifications_is_one_run_after_the_first_plus_the_debounce() -> None:
    schedule = _schedule()
    _ran(schedule, 1000.0)

    assert schedule.notify(2000.0) == 2060.0
    assert schedule.notify(2030.0) == 2060.0  # joins the window, does not extend it
    assert schedule.notify(2059.0) == 2060.0
    assert schedule.pending == 3
    assert schedule.begin(2059.9) is None
    assert schedule.begin(2060.0) is Trigger.WEBHOOK
    assert schedule.pending == 0
    schedule.end(2070.0)
    assert schedule.due_at() == 2070.0 + 3600.0  # a notified run is a full sync: the interval restarts


def test_a_steady_stream_cannot_postpone_the_run() -> None:
    schedule = _schedule()
    _ran(schedule, 1000.0)

    for second in range(2000, 2200, 10):
        schedule.notify(float(second))
        if schedule.begin(float(second)) is not None:
            break
    assert schedule.running and second == 2060


def test_notifications_during_a_run_make_exactly_one_more_run_after_it() -> None:
    schedule = _schedule()
    _ran(schedule, 1000.0)
    schedule.notify(2000.0)
    assert schedule.begin(2060.0) is Trigger.WEBHOOK

    for second in (2100.0, 2200.0, 2300.0):  # the run is long: 2060 to 2400
        schedule.notify(second)
        assert schedule.due_at() is None
        assert schedule.begin(second) is None
    schedule.end(2400.0)

    assert schedule.due_at() == 2160.0  # overdue: at once
    assert schedule.begin(2400.0) is Trigger.WEBHOOK
    schedule.end(2410.0)
    assert schedule.due_at() == 2410.0 + 3600.0


def test_a_notification_due_after_the_scheduled_run_is_served_by_it() -> None:
    schedule = _schedule()
    _ran(schedule, 1000.0)  # next scheduled at 4605

    schedule.notify(4600.0)  # due at 4660

    assert schedule.begin(4605.0) is Trigger.SCHEDULE
    schedule.end(4610.0)
    assert schedule.due_at() == 4610.0 + 3600.0  # nothing left over


def test_with_no_debounce_a_notification_is_due_at_once() -> None:
    schedule = Schedule.starting(0.0, interval_s=3600.0, debounce_s=0.0)
    _ran(schedule, 0.0)

    schedule.notify(10.0)

    assert schedule.begin(10.0) is Trigger.WEBHOOK


def test_a_targeted_run_leaves_the_full_sync_where_it_was() -> None:
    schedule = _schedule()
    _ran(schedule, 1000.0)
    schedule.notify(2000.0)
    assert schedule.begin(2060.0) is Trigger.WEBHOOK
    schedule.end(2065.0, full=False)
    assert schedule.due_at() == 1005.0 + 3600.0  # still an interval after the last full run
    schedule.notify(3000.0)
    assert schedule.begin(3060.0) is Trigger.WEBHOOK
    schedule.end(3070.0)  # a notification that fell back to a full run counts as one
    assert schedule.due_at() == 3070.0 + 3600.0
