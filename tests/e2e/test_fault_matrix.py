"""The fault matrix: each way the network or a server fails, injected by a loopback proxy
(:mod:`faultproxy`) or an emulator switch between the real commands and the emulators.

For each fault: the exit code and the message of the run it hits, and that the next
``plan`` -> ``apply`` -> ``plan`` converges to exactly the Moodle a run without faults
makes (nothing lost, nothing created twice). The README's fault table is generated from
:data:`CASES` (:func:`readme_table`); a test fails when the two disagree.

kill -9 in the middle of an apply is not here: a separate SIGKILL test of the apply
contract covers it (the README row says so).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

from reconciler.serve.https import tls_context

from .faultproxy import Fault, FaultProxy
from .harness import MakeStack, Stack, config_text, connection, managed_stack
from .site_view import SiteView

README = Path(__file__).parents[2] / "README.md"

BODY = """
    schools: [100]
    school_settings:
      100: { terms: ["24-25", S1, S2], all_courses: section }
"""
TEXT = config_text(connection("town", BODY))
CREATE_USERS = "wsfunction=core_user_create_users"
ENROL = "wsfunction=enrol_manual_enrol_users"
LOOKUP = "wsfunction=core_user_get_users_by_field"


@dataclass(frozen=True)
class Case:
    """One fault: what it is (README wording), which side and which command it hits, how
    it is injected, and what ps2moodle must do: ``exit`` code, a ``message`` (regex; empty:
    no error printed) and whether the run's plan is written (``plan_saved``)."""

    fault: str
    side: str  # moodle | powerschool
    command: str  # plan | apply
    does: str
    exit: int
    message: str = ""
    proxy_faults: tuple[Fault, ...] = ()
    emulator: dict[str, Any] = field(default_factory=dict)  # PowerSchool emulator fault switches
    plan_saved: bool = True
    moodle_timeout_s: float | None = None


CASES = (
    Case(
        "Moodle answers 503 (before processing) to a read",
        "moodle",
        "plan",
        "retried with backoff and jitter; the plan is made",
        0,
        proxy_faults=(Fault("status", LOOKUP, 503, times=2),),
    ),
    Case(
        "Moodle answers 429 with Retry-After",
        "moodle",
        "apply",
        "waits as asked (not processed, so even a create is sent again) and goes on",
        0,
        proxy_faults=(Fault("status", CREATE_USERS, 429, {"Retry-After": "1"}),),
    ),
    Case(
        "Moodle answers 500 after processing an idempotent write (enrol)",
        "moodle",
        "apply",
        "sent again (repeating it ends in the same state)",
        0,
        proxy_faults=(Fault("status_after", ENROL, 500),),
    ),
    Case(
        "Moodle answers 500 after processing a create",
        "moodle",
        "apply",
        "not sent again (it may have happened): the accounts are looked up by idnumber, found, and the apply goes on",
        0,
        proxy_faults=(Fault("status_after", CREATE_USERS, 500),),
    ),
    Case(
        "Connection reset before a create reaches Moodle",
        "moodle",
        "apply",
        "not sent again; looked up, not found: reported as not applied, the next plan proposes it again",
        3,
        r"it is not in Moodle now, so the next plan will propose it again",
        proxy_faults=(Fault("reset", CREATE_USERS),),
    ),
    Case(
        "Connection reset after Moodle processed a create",
        "moodle",
        "apply",
        "not sent again; looked up by idnumber, found: nothing is created twice",
        0,
        proxy_faults=(Fault("reset_after", CREATE_USERS),),
    ),
    Case(
        "Moodle never answers a create (hang past timeout_s)",
        "moodle",
        "apply",
        "not sent again; looked up by idnumber, found, the apply goes on",
        0,
        proxy_faults=(Fault("hang_after", CREATE_USERS),),
        moodle_timeout_s=2.0,
    ),
    Case(
        "Moodle never answers a read (hang past timeout_s)",
        "moodle",
        "plan",
        "retried; the plan is made",
        0,
        proxy_faults=(Fault("hang_after", LOOKUP),),
        moodle_timeout_s=2.0,
    ),
    Case(
        "Truncated body of a read",
        "moodle",
        "plan",
        "retried; the plan is made",
        0,
        proxy_faults=(Fault("truncate_after", LOOKUP),),
    ),
    Case(
        "Truncated body after a create",
        "moodle",
        "apply",
        "not sent again; looked up by idnumber, found, the apply goes on",
        0,
        proxy_faults=(Fault("truncate_after", CREATE_USERS),),
    ),
    Case(
        "PowerSchool answers 503",
        "powerschool",
        "plan",
        "retried with backoff and jitter (every PowerSchool request is a read)",
        0,
        proxy_faults=(Fault("status", "/ws/schema/table/cc", 503, times=2),),
    ),
    Case(
        "PowerSchool answers 429 with Retry-After",
        "powerschool",
        "plan",
        "waits as asked and goes on",
        0,
        proxy_faults=(Fault("status", "/ws/v1/district/school", 429, {"Retry-After": "1"}),),
    ),
    Case(
        "PowerSchool connection reset",
        "powerschool",
        "plan",
        "retried",
        0,
        proxy_faults=(Fault("reset", "/ws/schema/table/sections"),),
    ),
    Case(
        "PowerSchool token expired mid-run (401)",
        "powerschool",
        "plan",
        "one new token, the request once more",
        0,
        emulator={"expire_token_after": 10},
    ),
    Case(
        "PowerSchool page shorter than it should be",
        "powerschool",
        "plan",
        "read refused, no plan written",
        1,
        r"truncated read: enrolments of school 100: page \d+ of \d+ held \d+ records, expected",
        emulator={"short_pages": 1, "match": "/ws/schema/table/cc"},
        plan_saved=False,
    ),
    Case(
        "PowerSchool count under-reports (or rows added while paging)",
        "powerschool",
        "plan",
        "pages read on past the count; read refused naming the list and both numbers, no plan written",
        1,
        r"count mismatch: enrolments of school 100 \(/ws/schema/table/cc\): (\d+) records read, "
        r"PowerSchool counted (\d+)",
        emulator={"count_off_by": -3, "match": "/ws/schema/table/cc/count"},
        plan_saved=False,
    ),
    Case(
        "Moodle certificate not trusted (TLS)",
        "moodle",
        "plan",
        "not retried; names the cause; with moodle.ca_file naming the CA the next run converges",
        1,
        r"certificate verify failed: unable to get local issuer certificate",
        plan_saved=False,
    ),
    Case(
        "Moodle host name does not resolve (DNS)",
        "moodle",
        "plan",
        "not retried; names the host",
        1,
        r"cannot resolve host moodle\.ps2moodle\.invalid",
        plan_saved=False,
    ),
)

#: Rows of the README table that no case here runs, with where they are covered.
ELSEWHERE = (("kill -9 during apply", "apply", "covered by the SIGKILL crash test of the apply contract", "-"),)


def readme_table() -> str:
    """The README's fault table, from :data:`CASES`."""
    rows = ["| fault | hits | what ps2moodle does | exit |", "|---|---|---|---|"]
    rows += [f"| {c.fault} | `{c.command}` | {c.does} | {c.exit} |" for c in CASES]
    rows += [f"| {fault} | `{command}` | {does} | {code} |" for fault, command, does, code in ELSEWHERE]
    return "\n".join(rows)


def test_the_readme_table_is_the_matrix() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = "<!-- fault-matrix:start -->\n", "\n<!-- fault-matrix:end -->"
    assert start in text and end in text, "README.md has no fault-matrix block"
    written = text.split(start, 1)[1].split(end, 1)[0]
    assert written == readme_table(), "README fault table differs from CASES; paste readme_table() output"


# -- what Moodle holds, by name -------------------------------------------------------------


def canonical(view: SiteView) -> dict[str, Any]:
    """Everything the tool owns in Moodle, by usernames and idnumbers (no Moodle ids):
    equal states are the same people, courses, enrolments, roles, groups and cohorts."""
    courses = {}
    for course in view.owned_courses().values():
        seats = {name: (sorted(seat.roles), seat.active) for name, seat in view.seats(course.id).items()}
        groups = {g.idnumber or g.name: sorted(g.members) for g in view.groups(course.id).values()}
        courses[course.idnumber] = (course.shortname, course.category, seats, groups)
    accounts = sorted((a.username, a.idnumber, a.suspended) for a in view.owned_accounts().values())
    cohorts = {key: sorted(c.members) for key, c in view.cohorts().items()}
    return {"accounts": accounts, "courses": courses, "cohorts": cohorts}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What a run without faults leaves in Moodle."""
    for stack in managed_stack(TEXT, tmp_path_factory.mktemp("reference")):
        stack.sync(stack.write(TEXT))
        return canonical(stack.view)
    raise AssertionError("no stack")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


# -- the matrix -----------------------------------------------------------------------------


@pytest.fixture
def proxies() -> Iterator[list[FaultProxy]]:
    started: list[FaultProxy] = []
    yield started
    for proxy in started:
        proxy.close()


def _config(stack: Stack, case: Case, url: str, extra: str = "", name: str = "ps2moodle.yaml") -> Path:
    """The config (file ``name``), its Moodle or PowerSchool URL pointing at ``url``."""
    path = stack.write(TEXT, name)
    text = path.read_text(encoding="utf-8")
    upstream = stack.moodle_url if case.side == "moodle" else stack.powerschool_urls["town"]
    text = text.replace(f"url: {upstream}", f"url: {url}", 1)
    settings = ""
    if case.moodle_timeout_s is not None:
        settings += f"  timeout_s: {case.moodle_timeout_s:g}\n"
    settings += extra
    text = text.replace("  token: ${E2E_MOODLE_TOKEN}\n", "  token: ${E2E_MOODLE_TOKEN}\n" + settings, 1)
    path.write_text(text, encoding="utf-8")
    return path


def _run(stack: Stack, case: Case, config: Path, arm: Callable[[], None]) -> tuple[int, str, Path]:
    """The command the fault hits (a plan first when it is apply), with the fault armed
    just before it; its exit code, output and plan file."""
    plan_file = stack.folder / "faulted" / "plan.json"
    if case.command == "apply":
        plan_file, _ = stack.plan(config)
        arm()
        outcome = stack.apply(plan_file, config, expect=None)
    else:
        arm()
        outcome = stack.cli("plan", config, "--out", plan_file.parent)
    return outcome.code, outcome.output, plan_file


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.fault)
def test_fault(
    case: Case,
    make_stack: MakeStack,
    proxies: list[FaultProxy],
    reference: dict[str, Any],
    ca: trustme.CA,
    tmp_path: Path,
) -> None:
    stack = make_stack(TEXT)
    upstream = stack.moodle_url if case.side == "moodle" else stack.powerschool_urls["town"]
    healed_extra = ""
    if "DNS" in case.fault:
        config = _config(stack, case, "https://moodle.ps2moodle.invalid")
        healed = _config(stack, case, upstream, name="healed.yaml")
        arm: Callable[[], None] = lambda: None  # noqa: E731
    elif "TLS" in case.fault:
        cert = ca.issue_cert("127.0.0.1")
        chain, key = tmp_path / "proxy.pem", tmp_path / "proxy.key"
        chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
        cert.private_key_pem.write_to_path(str(key))
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        proxy = FaultProxy(upstream, tls=tls_context(chain, key)).start()
        proxies.append(proxy)
        config = _config(stack, case, proxy.url)
        healed_extra = f"  ca_file: {tmp_path / 'ca.pem'}\n"
        arm = lambda: None  # noqa: E731
    else:
        proxy = FaultProxy(upstream, hang_s=10).start()
        proxies.append(proxy)
        config = _config(stack, case, proxy.url)
        emulator = stack.sandbox.powerschool["town"]

        def arm() -> None:
            for fault in case.proxy_faults:
                proxy.add(fault)
            for name, value in case.emulator.items():
                setattr(emulator.faults, name, value)

    code, output, plan_file = _run(stack, case, config, arm)

    assert code == case.exit, output
    if case.message:
        assert re.search(case.message, output, re.DOTALL), output
    else:
        assert not re.search(r"\b(plan|apply) failed:", output), output
    assert "Traceback" not in output
    assert plan_file.exists() == case.plan_saved or case.command == "apply"
    if case.proxy_faults:
        assert proxies[-1].fired, "the fault never acted"
    if "TLS" in case.fault:
        # Each call in flight (at most moodle.concurrency, 4) tried once: none retried.
        assert proxies[-1].connections <= 4 and proxies[-1].forwarded == 0
    if "count under-reports" in case.fault:
        found = re.search(case.message, output)
        assert found and int(found[1]) - int(found[2]) == 3

    # The faults are gone (or the config fixed); the next runs converge to what a run
    # without faults makes: nothing lost, nothing twice.
    for proxy in proxies:
        proxy.clear()
    for name in case.emulator:
        if name != "match":
            setattr(stack.sandbox.powerschool["town"].faults, name, 0 if name != "expire_token_after" else None)
    if "DNS" in case.fault:
        config = healed
    elif healed_extra:
        config = _config(stack, case, proxies[-1].url, healed_extra, name="healed.yaml")
    stack.sync(config)
    assert canonical(stack.view) == reference
