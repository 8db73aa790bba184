"""Both emulators served over real HTTP on loopback, configs pointing at them, and the
real command line run against them: what an operator does, minus the real servers.

A :class:`Stack` is one emulated Moodle site plus one emulated PowerSchool per connection
(each on an ephemeral 127.0.0.1 port). Configs are written with placeholders for what is
only known once the servers listen: ``@MOODLE@`` (Moodle's base URL) and ``@PS:name@``
(connection ``name``'s PowerSchool base URL). Secrets reach the commands the way they do
in production: ``${ENV}`` references to variables set in the environment (see
:data:`MOODLE_TOKEN_ENV` and :func:`ps_env`), or ``*_file`` references to files.

The helpers at the end read the generated district's PowerSchool tables directly: the
expectations of a test come from there, never from the tool's own code.
"""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ps2moodle_testkit.demo.sandbox import Sandbox
from ps2moodle_testkit.emulators.changes import admit_student
from ps2moodle_testkit.emulators.district import District, DistrictSection, DistrictStudent, DistrictUser
from ps2moodle_testkit.emulators.http import LoopbackServer, Reply
from reconciler.cli import app

from .site_view import SiteView

MOODLE_TOKEN_ENV = "E2E_MOODLE_TOKEN"

#: One school of the sample district: a section-mode and a group-mode course, cohorts.
SCHOOL_200 = """
    schools: [200]
    students:
      cohorts:
        - field: grade_level
    school_settings:
      200:
        terms: ["24-25", S1]
        courses: { CALC: , ART1: { mode: group } }
"""

#: The top of every config: Moodle, reached through the loopback server.
MOODLE = """\
version: 1
moodle:
  url: @MOODLE@{suffix}
  token: ${{E2E_MOODLE_TOKEN}}
connections:
"""


def ps_env(name: str) -> tuple[str, str]:
    """The environment variables holding connection ``name``'s client id and secret."""
    upper = name.upper().replace("-", "_")
    return f"E2E_{upper}_PS_ID", f"E2E_{upper}_PS_SECRET"


def connection(name: str, body: str = "", *, url_suffix: str = "") -> str:
    """A ``connections`` entry for ``name`` (its PowerSchool on loopback, secrets from the
    environment) followed by ``body``: the connection's own settings, written at the
    indentation of ``schools:``."""
    client_id, secret = ps_env(name)
    head = (
        f"  - name: {name}\n"
        "    powerschool:\n"
        f"      url: @PS:{name}@{url_suffix}\n"
        f"      client_id: ${{{client_id}}}\n"
        f"      client_secret: ${{{secret}}}\n"
    )
    return head + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"


def config_text(*connections: str, tail: str = "", moodle_url_suffix: str = "") -> str:
    """A whole config: Moodle, the connections, then top-level settings."""
    return MOODLE.format(suffix=moodle_url_suffix) + "".join(connections) + textwrap.dedent(tail)


@dataclass(frozen=True)
class Outcome:
    """What one command did: its exit code and everything it printed."""

    code: int
    output: str


@dataclass
class Stack:
    """Emulated Moodle and PowerSchool servers on loopback, and the commands run on them."""

    sandbox: Sandbox
    moodle_url: str
    powerschool_urls: dict[str, str]
    folder: Path
    #: The paths each PowerSchool server was asked for, by connection.
    requests: dict[str, list[str]] = field(default_factory=dict)
    runner: CliRunner = field(default_factory=CliRunner)
    _plans: int = 0

    @property
    def site(self) -> Any:
        return self.sandbox.moodle

    @property
    def view(self) -> SiteView:
        return SiteView(self.sandbox.moodle)

    def district(self, connection: str) -> District:
        return self.sandbox.districts[connection]

    def secret(self, env: str) -> str:
        return self.sandbox.environment[env]

    def write(self, text: str, name: str = "ps2moodle.yaml") -> Path:
        """Write a config with the servers' URLs in place of the placeholders."""
        path = self.folder / name
        path.write_text(_fill(text, self.moodle_url, self.powerschool_urls), encoding="utf-8")
        return path

    def cli(self, *args: str | Path) -> Outcome:
        result = self.runner.invoke(app, [str(a) for a in args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Outcome(result.exit_code, result.output)

    def plan(self, config: Path, *options: str, expect: int | None = 0) -> tuple[Path, Outcome]:
        """``ps2moodle plan CONFIG --out DIR``; the saved plan.json and what was printed."""
        self._plans += 1
        out_dir = self.folder / f"plan-{self._plans}"
        outcome = self.cli("plan", config, "--out", out_dir, *options)
        if expect is not None:
            assert outcome.code == expect, outcome.output
        return out_dir / "plan.json", outcome

    def apply(self, plan_file: Path, config: Path, *, expect: int | None = 0) -> Outcome:
        """``ps2moodle apply PLANFILE -c CONFIG``."""
        outcome = self.cli("apply", plan_file, "-c", config)
        if expect is not None:
            assert outcome.code == expect, outcome.output
        return outcome

    def converged(self, config: Path, *options: str) -> Outcome:
        """``plan --detailed-exitcode`` exits 0: Moodle matches PowerSchool and the config."""
        _, outcome = self.plan(config, "--detailed-exitcode", *options, expect=0)
        return outcome

    def sync(self, config: Path, *options: str) -> dict[str, Any]:
        """The reviewed flow: plan to a file, apply that file, plan again and find nothing
        to do. Returns the applied plan document."""
        plan_file, _ = self.plan(config, *options)
        document = load(plan_file)
        self.apply(plan_file, config)
        self.converged(config, *options)
        return document

    def hand_made_account(self, username: str, email: str) -> int:
        """An account someone makes in Moodle by hand (not the tool's); its Moodle id."""
        user = {"username": username, "firstname": "Hand", "lastname": "Made", "email": email}
        with self.sandbox.moodle_client() as moodle:
            moodle.call("core_user_create_users", {"users": [{**user, "password": "Hand-made-1"}]})
        return int(self.view.accounts()[username].id)

    def admit(self, connection: str, course: str, **fields: Any) -> DistrictStudent:
        """A new student at school 200 (a copy of its first with an account, new ids and
        ``fields``) who joins the section of ``course`` on the first day of its term."""
        district = self.district(connection)
        newcomer = replace(
            min(students_with_accounts(district, [200]), key=lambda s: s.id),
            id=max(s.id for s in district.students) + 1,
            dcid=max(s.dcid for s in district.students) + 1,
            **fields,
        )
        sec = section(district, 200, course)
        first_day = district.term(200, sec.term_id).first_day
        self.sandbox.change(connection, lambda d: admit_student(d, newcomer, [sec.id], first_day))
        return newcomer


def load(plan_file: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(plan_file.read_text(encoding="utf-8"))
    return data


def actions(document: dict[str, Any], kind: str | None = None) -> list[tuple[str, str]]:
    """(action, key) of every change in a plan document, of one kind or all."""
    return [(c["action"], c["key"]) for c in document["changes"] if kind is None or c["kind"] == kind]


def _fill(text: str, moodle: str, powerschool: dict[str, str]) -> str:
    text = text.replace("@MOODLE@", moodle)
    for name, url in powerschool.items():
        text = text.replace(f"@PS:{name}@", url)
    assert "@PS:" not in text and "@MOODLE@" not in text, "a placeholder names no server"
    return text


class _Forward:
    """A PowerSchool handler that always reaches the sandbox's current emulator, so a
    PowerSchool change (``sandbox.change``) shows on the running server."""

    def __init__(self, sandbox: Sandbox, name: str) -> None:
        self.sandbox = sandbox
        self.name = name
        self.paths: list[str] = []

    def __call__(self, method: str, path: str, query: str, headers: Any, body: bytes) -> Reply:
        self.paths.append(path)
        return self.sandbox.powerschool[self.name](method, path, query, headers, body)


#: Starts a stack for a config template: ``make_stack(template, scale="tiny", seed=1)``.
MakeStack = Callable[..., Stack]


def start_stack(
    template: str,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    resources: ExitStack,
    *,
    scale: str = "tiny",
    seed: int = 1,
) -> Stack:
    """Generate a district per connection of ``template`` (a config with placeholders),
    serve everything on loopback and put the secrets in the environment."""
    folder.mkdir(parents=True, exist_ok=True)
    names = _connection_names(template)
    offline = folder / "sandbox.yaml"
    offline.write_text(
        _fill(template, "https://moodle.invalid", {n: f"https://{n}.invalid" for n in names}), encoding="utf-8"
    )
    sandbox = Sandbox.create(offline, scale=scale, seed=seed)
    for env, value in sandbox.environment.items():
        monkeypatch.setenv(env, value)
    moodle = sandbox.moodle.serve()
    servers = [moodle]
    resources.callback(_close, servers)
    urls: dict[str, str] = {}
    requests: dict[str, list[str]] = {}
    for name in names:
        forward = _Forward(sandbox, name)
        server = LoopbackServer(forward).start()
        servers.append(server)
        urls[name] = server.url
        requests[name] = forward.paths
    return Stack(sandbox, moodle.url, urls, folder, requests)


def _close(servers: list[LoopbackServer]) -> None:
    """Stop the servers together: each takes up to half a second to notice."""
    threads = [threading.Thread(target=server.close) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _connection_names(template: str) -> list[str]:
    names: list[str] = []
    for line in template.splitlines():
        stripped = line.strip()
        if stripped.startswith("- name:"):
            names.append(stripped.removeprefix("- name:").split("#")[0].strip())
    return names


# What PowerSchool holds, read from the generated tables -----------------------------------

#: Enroll status codes that make an active account by default (A and P).
ACTIVE_CODES = (0, -1)


def this_year(district: District, section: DistrictSection) -> bool:
    return section.term_id // 100 == district.year_id


def students_with_accounts(
    district: District, schools: Iterable[int], *, email_fallback: bool = False
) -> list[DistrictStudent]:
    """Students of ``schools`` who get an account by default: active or pre-registered,
    with a PowerSchool login and an e-mail address (or any, with an ``email_fallback``)."""
    chosen = set(schools)
    return [
        s
        for s in district.students
        if s.school_number in chosen and s.enroll_status in ACTIVE_CODES and s.web_id and (s.email or email_fallback)
    ]


def staff_with_accounts(district: District, schools: Iterable[int]) -> list[DistrictUser]:
    """People currently on the staff of one of ``schools``, with a login and an e-mail."""
    chosen = set(schools)
    people = {s.users_dcid for s in district.school_staff if s.school_number in chosen and s.status == 1}
    return [u for u in district.users if u.dcid in people and (u.teacher_login or u.admin_login) and u.email]


def staff_username(user: DistrictUser) -> str:
    return str(user.teacher_login or user.admin_login).lower()


def custom(person: DistrictStudent | DistrictUser, column: str) -> str:
    """An extension field's value (``table.field``) of a student or staff member."""
    table, _, name = column.partition(".")
    return next((value for t, f, value in person.custom if (t, f) == (table, name)), "")


def section(district: District, school: int, course: str, number: str | None = None) -> DistrictSection:
    """The one section of ``course`` at ``school`` this year (``number`` picks one)."""
    found = [
        s
        for s in district.sections
        if s.school_number == school
        and s.course_number == course
        and this_year(district, s)
        and number in (None, s.section_number)
    ]
    assert len(found) == 1, f"{len(found)} sections of {course} at {school}"
    return found[0]


def section_students(district: District, sec: DistrictSection) -> set[int]:
    """STUDENTS.IDs enrolled in a section now (CC rows not dropped)."""
    return {row.student_id for row in district.enrolments if row.section_id == sec.id}


def section_teachers(district: District, sec: DistrictSection, today: date | None = None) -> dict[int, str]:
    """USERS.DCID -> ROLEDEF name of a section's teachers: the lead (SECTIONS.TEACHER) and
    every SECTIONTEACHER row still running at the earlier of today and the term's end."""
    cutoff = min(today or date.today(), district.term(sec.school_number, sec.term_id).last_day)
    roles = {r.id: r.name for r in district.roles}
    out: dict[int, str] = {district.staff_by_id[sec.teacher].users_dcid: "Lead Teacher"}
    for row in district.section_teachers:
        if row.section_id == sec.id and row.end_date >= cutoff:
            out.setdefault(district.staff_by_id[row.teacher_id].users_dcid, roles[row.role_id])
    return out


def students_by_id(district: District) -> dict[int, DistrictStudent]:
    return {s.id: s for s in district.students}


def managed_stack(template: str, folder: Path, *, scale: str = "tiny", seed: int = 1) -> Iterator[Stack]:
    """A stack that lives as long as the generator: for fixtures shared by a module."""
    with ExitStack() as resources, pytest.MonkeyPatch.context() as monkeypatch:
        yield start_stack(template, folder, monkeypatch, resources, scale=scale, seed=seed)
