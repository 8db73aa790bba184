"""Desired versus live: the ordered list of changes that makes Moodle match (pure).

Objects are matched by key. Only managed attributes are compared, after normalizing
both sides the same way (whitespace, case of usernames and emails, HTML escaping that
Moodle adds), so an unchanged object never shows up. Removal follows the configured
policy: by default a student who leaves is suspended, a dropped enrolment is suspended
(grades survive), and courses, categories, cohorts and groups that are no longer
selected are left as they are and reported. Objects the desired state *kept* (left out
because Moodle would refuse a value of theirs) are not removals: they, and every
membership in or of them, are left exactly as they are.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import Any

from reconciler.config.model import (
    AdoptRule,
    EnrolmentRemoval,
    MembershipRemoval,
    ProtectedRule,
    RemovalPolicy,
    UserRemoval,
)
from reconciler.model import (
    Category,
    CohortMember,
    Course,
    Enrolment,
    Group,
    GroupMember,
    Key,
    Kind,
    Resource,
    State,
    User,
    enrolment,
)
from reconciler.plan.model import (
    Action,
    Change,
    Notice,
    NoticeLevel,
    Plan,
    Reason,
    grouped_notice,
    unique_name,
)
from reconciler.speed import gc_paused
from reconciler.words import plural

#: Kinds that hold unique names in Moodle: an unowned holder blocks a create.
_UNIQUE_NAMES = (Kind.USER, Kind.COURSE)
#: Kinds whose unselected objects are reported, never removed.
_LEFT_ALONE = (Kind.CATEGORY, Kind.COURSE, Kind.COHORT, Kind.GROUP)
_EMAIL_TAKEN = (
    "[account|accounts] left out: another Moodle account already has [its|their] email, which Moodle refuses "
    "unless the site allows accounts with the same email (moodle.allow_accounts_same_email); adopt that account, "
    "or fix the email in either system"
)
_EMAIL_KEPT = (
    "[account keeps its|accounts keep their] email: another Moodle account already has the new one, which "
    "Moodle refuses unless the site allows accounts with the same email; fix the email in PowerSchool or in that "
    "account"
)
#: Fields compared case-insensitively.
_CASELESS = ("username", "email")
#: Account fields whose change on adoption hands the account to someone else (the e-mail
#: resets its password; ``auth`` is never changed after creation).
_ACCESS_FIELDS = ("email",)


@gc_paused
def compute_plan(
    desired: State,
    live: State,
    *,
    kinds: Iterable[Kind] | None = None,
    removal: RemovalPolicy | None = None,
    adopt: Iterable[AdoptRule] = (),
    protected: Iterable[ProtectedRule] = (),
    moves: Mapping[Key, Key] | None = None,
    notices: Iterable[Notice] = (),
    kept: Iterable[Key] = (),
    unique_emails: bool = True,
) -> Plan:
    """The changes that turn ``live`` into ``desired`` for the given kinds (all by default);
    nothing of or in a ``kept`` object is removed or suspended. With ``unique_emails`` (the
    site forbids two accounts one email, Moodle's default) no account is created with, or
    changed to, an email another account has."""
    moves = dict(moves or {})
    planner = _Planner(
        desired,
        follow_moves(live, moves),
        removal or RemovalPolicy(),
        tuple(adopt),
        tuple(protected),
        moves,
        frozenset(kept),
        unique_emails,
    )
    selected = set(kinds) if kinds is not None else set(Kind)
    for kind in Kind:
        if kind in selected:
            planner.plan_kind(kind)
    changes = planner.check_references(selected)
    grouped = [grouped_notice(level, reason, items) for (level, reason), items in planner.grouped.items()]
    owned = {k.value: 0 for k in Kind}
    for key in live.resources:
        owned[key.kind.value] += 1
    return Plan(changes=tuple(changes), notices=(*notices, *planner.notices, *grouped), owned_counts=owned)


def normalize(value: Any, field: str = "") -> Any:
    """One canonical form for comparing: trimmed, whitespace folded, HTML entities decoded."""
    if isinstance(value, str):
        text = " ".join(html.unescape(value).split())
        return text.lower() if field in _CASELESS else text
    if isinstance(value, dict):
        return {k: normalize(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v, field) for v in value]
    return value


def compared(desired: Resource, live: Resource) -> tuple[dict[str, Any], dict[str, Any]]:
    """The managed attributes of both sides, normalized, with the live side's profile and
    custom fields narrowed to the ones desired manages (others belong to someone else)."""
    want = normalize(desired.managed())
    have = normalize(live.managed())
    for name in ("profile", "customfields"):
        if name in want:
            have[name] = {k: have.get(name, {}).get(k, "") for k in want[name]}
    return want, have


def follow_moves(live: State, moves: Mapping[Key, Key]) -> State:
    """Live enrolments of a course that moves are seen under the course's new key: the
    Moodle course (and who is in it) stays the same, only its identity changes."""
    if not moves:
        return live
    new_key = {old: new for new, old in moves.items()}
    rekeyed: list[Resource] = []
    for res in live:
        if isinstance(res, Enrolment) and res.course in new_key:
            moved = enrolment(new_key[res.course], res.user, res.roles, suspended=res.suspended)
            res = replace(moved, moodle_id=res.moodle_id)
        rekeyed.append(res)
    return State.of(rekeyed, foreign=live.foreign)


def _attribute(values: Mapping[str, Any], name: str) -> Any:
    """``values[name]``, or ``values[a][b]`` for ``a.b`` (a profile or custom field)."""
    head, _, rest = name.partition(".")
    value = values.get(head)
    return value.get(rest) if rest and isinstance(value, dict) else value


class _Planner:
    def __init__(
        self,
        desired: State,
        live: State,
        removal: RemovalPolicy,
        adopt: tuple[AdoptRule, ...],
        protected: tuple[ProtectedRule, ...],
        moves: dict[Key, Key],
        kept: frozenset[Key] = frozenset(),
        unique_emails: bool = True,
    ) -> None:
        self.desired = desired
        self.kept = kept
        #: Who has each email among owned accounts (and, as the plan goes, accounts it
        #: creates or changes); None when the site allows accounts to share one.
        self.email_owner: dict[str, Key] | None = (
            {normalize(u.email, "email"): u.key for u in live if isinstance(u, User) and u.email}
            if unique_emails
            else None
        )
        self.live = live
        self.removal = removal
        self.adopt = adopt
        self.protected = protected
        self.moves = moves
        self.moved_from = set(moves.values())
        self.changes: list[Change] = []
        self.notices: list[Notice] = []
        #: (level, reason) -> labels: many objects, one notice.
        self.grouped: dict[tuple[NoticeLevel, str], list[str]] = defaultdict(list)
        #: Keys that will exist after apply (live, or created/adopted/moved by this plan).
        self.will_exist: set[Key] = set(live.resources)
        #: Unowned objects that desired ones could take over (adopt): what the live state
        #: holds inside them may be changed only once the plan adopts them.
        self.candidates: set[Key] = set(live.foreign) - set(live.resources)
        self._blocked: dict[Key, bool] = {}
        #: Who holds each username and course shortname among the objects the tool owns.
        self.owned_names: dict[tuple[Kind, str], Key] = {
            (r.key.kind, unique_name(r).casefold()): r.key for r in live if isinstance(r, (User, Course))
        }
        #: Course shortnames by course key, for display: a district's enrolments share a few thousand courses.
        #: The names the plan gives courses and accounts: what a change makes them (a name
        #: held by another object is kept as it is), else what PowerSchool or Moodle says.
        self._course_names: dict[Key, str] = {}
        self._usernames: dict[Key, str] = {}

    def emit(
        self, action: Action, before: Resource | None, after: Resource | None, reason: Reason, rule: str = ""
    ) -> None:
        """Plan a change, unless a protected rule covers it."""
        res = after if after is not None else before
        assert res is not None
        group_course, course_name, member = self.place(res)
        change = Change(action, res.key, before, after, reason, rule, group_course, course_name, member)
        if self.protected and self.is_protected(change):
            self.grouped[
                (
                    NoticeLevel.INFO,
                    f"[protected object was|protected objects were] not changed ({action.value} skipped)",
                )
            ].append(str(change.key))
            return
        self.changes.append(change)
        if action in (Action.CREATE, Action.ADOPT, Action.MOVE):
            self.will_exist.add(change.key)

    def place(self, res: Resource) -> tuple[Key | None, str, str]:
        """Where a change belongs: the course of a group membership's group (the membership
        does not carry it), and for display the shortname of its course and a membership's
        username (personal data: redaction replaces it)."""
        group_course: Key | None = None
        course: Key | None = None
        member = ""
        # Courses and accounts are planned before anything inside them (KIND_ORDER).
        # Memberships first: they are most of a plan.
        if isinstance(res, (Enrolment, CohortMember, GroupMember)):
            if isinstance(res, Enrolment):
                course = res.course
            elif isinstance(res, GroupMember):
                group = self.desired.resources.get(res.group) or self.live.resources.get(res.group)
                course = group_course = group.course if isinstance(group, Group) else None
            member = self._usernames.get(res.user, "")
            if not member:
                user = self.desired.resources.get(res.user) or self.live.resources.get(res.user)
                member = user.username if isinstance(user, User) else ""
        elif isinstance(res, Course):
            self._course_names[res.key] = res.shortname
            course = res.key
        elif isinstance(res, User):
            self._usernames[res.key] = res.username
        elif isinstance(res, Group):
            course = res.course
        return group_course, "" if course is None else self.course_name(course), member

    def course_name(self, course: Key) -> str:
        name = self._course_names.get(course)
        if name is None:
            held = self.desired.get(course) or self.live.get(course)
            name = self._course_names[course] = held.shortname if isinstance(held, Course) else ""
        return name

    def is_protected(self, change: Change) -> bool:
        res = change.resource
        names = {res.label, res.key.id}
        if change.before is not None:
            names.add(change.before.label)
        return any(
            rule.kind == res.key.kind.value and any(fnmatchcase(n, rule.match) for n in names)
            for rule in self.protected
        )

    def plan_kind(self, kind: Kind) -> None:
        wanted = self.desired.resources  # a key of this kind is wanted if desired holds it at all
        have = {r.key: r for r in self.live.by_kind(kind)}
        for res in self.desired.by_kind(kind):
            live_res = have.get(res.key)
            if live_res is None:
                self.plan_missing(res)
            else:
                self.plan_existing(res, live_res)
        for key, live_res in have.items():
            if key not in wanted and key not in self.moved_from:
                self.plan_removal(live_res)

    def plan_missing(self, res: Resource) -> None:
        old_key = self.moves.get(res.key) if self.moves else None
        moved = self.live.get(old_key) if old_key is not None else None
        if moved is not None:
            self.emit(Action.MOVE, moved, res, Reason.MIGRATION)
            return
        holder = self.owned_holder(res) if isinstance(res, (User, Course)) else None
        if holder is not None:
            self.notices.append(
                Notice(NoticeLevel.WARNING, f"{res.key.id} is not created: {self.held(res, holder)}", res.key.id)
            )
            return
        foreign = self.live.foreign.get(res.key)
        if foreign is not None:
            self.plan_foreign(res, foreign)
            return
        if isinstance(res, User) and self.email_taken(res):
            # Keys only: a redacted plan shows grouped notices as they are.
            self.grouped[(NoticeLevel.WARNING, _EMAIL_TAKEN)].append(res.key.id)
            return
        self.emit(Action.CREATE, None, res, Reason.MISSING)

    def plan_foreign(self, res: Resource, foreign: Resource) -> None:
        name = unique_name(foreign)
        # A category's adopt rule matches its whole path (the foreign one sits at the same place).
        matched = res.label if isinstance(res, Category) else name
        rule = next(
            (r for r in self.adopt if r.kind == res.key.kind.value and fnmatchcase(matched, r.match)),
            None,
        )
        if rule is not None:
            self.plan_adoption(rule, res, foreign)
        elif res.key.kind in _UNIQUE_NAMES:
            self.notices.append(
                Notice(
                    NoticeLevel.WARNING,
                    f"{res.key.kind.value} {name!r} already exists in Moodle and is not ours "
                    f"(idnumber {foreign.key.id or 'empty'}); add an adopt rule to take it over",
                    res.key.id,
                )
            )
        else:
            self.emit(Action.CREATE, None, res, Reason.BESIDE_UNOWNED)

    def plan_adoption(self, rule: AdoptRule, res: Resource, foreign: Resource) -> None:
        """Adopt ``foreign`` as ``res`` unless an attribute ``rule`` requires differs. Notices
        name keys, not names: a redacted plan shows notices as they are."""
        want, have = compared(res, foreign)
        differ = [f for f in rule.require if _attribute(want, f) != _attribute(have, f)]
        if differ:
            self.notices.append(
                Notice(
                    NoticeLevel.WARNING,
                    f"{res.key.id} is not adopted: adopt rule {rule.kind}:{rule.match} requires "
                    f"{', '.join(rule.require)} to match the existing {res.key.kind.value}, and "
                    f"{', '.join(differ)} {'does' if len(differ) == 1 else 'do'} not",
                    res.key.id,
                )
            )
            return
        access = [f for f in _ACCESS_FIELDS if normalize(want.get(f), f) != normalize(have.get(f), f)]
        if access:
            # Who can log in to an account is the takeover risk: say it beside the change.
            self.notices.append(
                Notice(
                    NoticeLevel.WARNING,
                    f"adopting {res.key.id} changes the existing account's {' and '.join(access)}: "
                    "check it is the same person before applying",
                    res.key.id,
                )
            )
        self.emit(Action.ADOPT, foreign, res, Reason.ADOPT_RULE, rule.match)

    def email_taken(self, user: User) -> bool:
        """True when the site forbids shared emails and another account has ``user``'s
        (an unowned one, found by the live read, or one of the tool's); otherwise
        ``user`` now holds it."""
        if self.email_owner is None:
            return False
        if user.key in self.live.email_holders:
            return True
        return self.email_owner.setdefault(normalize(user.email, "email"), user.key) != user.key

    def keep_held_email(self, res: Resource, live_res: Resource) -> Resource:
        """``res`` without an email change Moodle would refuse: another account has that
        email (``core_user_update_users`` checks it too)."""
        if not isinstance(res, User) or not isinstance(live_res, User):
            return res
        if normalize(res.email, "email") == normalize(live_res.email, "email") or not self.email_taken(res):
            return res
        self.grouped[(NoticeLevel.WARNING, _EMAIL_KEPT)].append(res.key.id)
        return replace(res, email=live_res.email)

    def plan_existing(self, res: Resource, live_res: Resource) -> None:
        if res == live_res:
            return  # identical attributes compare equal however normalized (the common case)
        res = self.keep_held_email(self.keep_held_name(res, live_res), live_res)
        want, have = compared(res, live_res)
        if want == have:
            return
        if isinstance(res, Group):
            # This tool's Moodle service has no group update (see the writer): report the
            # new name rather than plan a change apply cannot make.
            reason = (
                "[group keeps its Moodle name|groups keep their Moodle names] (this tool's web service cannot "
                "rename groups; rename in Moodle)"
            )
            self.grouped[(NoticeLevel.WARNING, reason)].append(f"{live_res.label} -> {res.label}")
            return
        if have.get("suspended") and not want.get("suspended"):
            self.emit(Action.UNSUSPEND, live_res, res, Reason.RETURNED)
        else:
            self.emit(Action.UPDATE, live_res, res, Reason.DIFFERS)

    def owned_holder(self, res: Resource) -> Key | None:
        """Another object the tool owns that holds ``res``'s username or shortname now (a
        leaver's account, a course of a section PowerSchool re-created): Moodle refuses the
        name twice, and the tool does not guess which of its own objects should have it."""
        if not isinstance(res, (User, Course)):
            return None
        holder = self.owned_names.get((res.key.kind, unique_name(res).casefold()))
        return holder if holder is not None and holder != res.key else None

    @staticmethod
    def held(res: Resource, holder: Key) -> str:
        # Keys, not usernames: a redacted plan shows notices as they are.
        name = "its username" if isinstance(res, User) else f"its shortname {unique_name(res)!r}"
        return (
            f"{name} belongs to {holder.id}, which the tool also owns; rename or remove one of them in Moodle "
            "(or in PowerSchool)"
        )

    def keep_held_name(self, res: Resource, live_res: Resource) -> Resource:
        """``res`` without a rename Moodle would refuse, reported: another object holds the
        new username or shortname. The other fields still update."""
        owner = self.owned_holder(res)
        if owner is not None and isinstance(res, (User, Course)) and isinstance(live_res, (User, Course)):
            self.notices.append(
                Notice(NoticeLevel.WARNING, f"{res.key.id} keeps its name: {self.held(res, owner)}", res.key.id)
            )
            name = "username" if isinstance(res, User) else "shortname"
            return replace(res, **{name: getattr(live_res, name)})
        foreign = self.live.foreign.get(res.key)
        if foreign is None:
            return res
        holder = foreign.key.id or "empty"
        if isinstance(res, User) and isinstance(live_res, User):
            if normalize(res.username, "username") == normalize(live_res.username, "username"):
                return res
            # Keys, not usernames: a redacted plan shows notices as they are.
            self.notices.append(
                Notice(
                    NoticeLevel.WARNING,
                    f"{res.key.id} keeps its username: the new one is held by an account the tool does not own "
                    f"(idnumber {holder}); rename or remove that account in Moodle",
                    res.key.id,
                )
            )
            return replace(res, username=live_res.username)
        if isinstance(res, Course) and isinstance(live_res, Course) and res.shortname != live_res.shortname:
            self.notices.append(
                Notice(
                    NoticeLevel.WARNING,
                    f"course {live_res.shortname!r} cannot be renamed to {res.shortname!r}: a course the tool does "
                    f"not own has that shortname (idnumber {holder}); rename or remove it in Moodle",
                    res.key.id,
                )
            )
            return replace(res, shortname=live_res.shortname)
        return res

    def plan_removal(self, live_res: Resource) -> None:
        if self.kept and (live_res.key in self.kept or any(ref in self.kept for ref in live_res.references())):
            return  # left out for a value Moodle would refuse, not gone: reported by the desired state
        kind = live_res.key.kind
        if kind in _LEFT_ALONE:
            self.grouped[
                (
                    NoticeLevel.INFO,
                    f"[{kind.value}|{plural(kind.value)}] no longer selected by the config "
                    "[is|are] left as [it is|they are]",
                )
            ].append(live_res.label)
            return
        if kind is Kind.USER:
            self.remove_user(live_res)
        elif kind is Kind.ENROLMENT:
            self.remove_enrolment(live_res)
        else:
            self.remove_membership(live_res)

    def remove_user(self, live_res: Resource) -> None:
        assert isinstance(live_res, User)
        policy = self.removal.users
        if policy is UserRemoval.DELETE:
            self.emit(Action.DELETE, live_res, None, Reason.GONE)
        elif policy is UserRemoval.SUSPEND and not live_res.suspended:
            self.emit(Action.SUSPEND, live_res, replace(live_res, suspended=True), Reason.INACTIVE)

    def remove_enrolment(self, live_res: Resource) -> None:
        assert isinstance(live_res, Enrolment)
        # A course that is no longer selected keeps its enrolments: it is left as it is.
        if live_res.course not in self.desired:
            return
        policy = self.removal.enrolments
        if policy is EnrolmentRemoval.UNENROL:
            self.emit(Action.DELETE, live_res, None, Reason.DROPPED)
        elif policy is EnrolmentRemoval.SUSPEND and not live_res.suspended:
            if not live_res.roles:
                # Someone took every role away: it gives no access already, and Moodle's manual
                # enrolment service suspends only by re-enrolling with a role.
                self.grouped[
                    (
                        NoticeLevel.INFO,
                        "[enrolment without any role gives|enrolments without any role give] no access and "
                        "[is left as it is|are left as they are]",
                    )
                ].append(str(live_res.key))
                return
            self.emit(Action.SUSPEND, live_res, replace(live_res, suspended=True), Reason.DROPPED)

    def remove_membership(self, live_res: Resource) -> None:
        kind = live_res.key.kind
        parent = live_res.managed()["cohort" if kind is Kind.COHORT_MEMBER else "group"]
        parent_key = Key(Kind.COHORT if kind is Kind.COHORT_MEMBER else Kind.GROUP, parent)
        policy = self.removal.cohort_members if kind is Kind.COHORT_MEMBER else self.removal.group_members
        if parent_key not in self.desired or policy is MembershipRemoval.KEEP:
            return
        self.emit(Action.DELETE, live_res, None, Reason.NOT_IMPLIED)

    def blocked(self, key: Key) -> bool:
        """True when ``key`` is, or lives inside, an unowned object this plan does not adopt."""
        if not self.candidates:
            return False
        if key not in self._blocked:
            held = self.live.get(key)
            refs = held.references() if held is not None else []
            self._blocked[key] = (key in self.candidates and key not in self.will_exist) or any(
                self.blocked(ref) for ref in refs
            )
        return self._blocked[key]

    def check_references(self, selected: set[Kind]) -> list[Change]:
        """The changes in apply order, without those whose parents will not exist (a
        scoped plan, a blocked create); dropping a create drops its dependants too."""
        kept: list[Change] = []
        will_exist, blocked = self.will_exist, self.blocked
        for change in sorted(self.changes, key=Change.sort_key):
            refs = change.resource.references()
            if not self.candidates and (change.action is Action.DELETE or will_exist.issuperset(refs)):
                kept.append(change)  # nothing is blocked and every parent will exist: the common case
                continue
            if change.action is Action.DELETE:
                missing = [ref for ref in refs if blocked(ref)]
            else:
                missing = [ref for ref in refs if ref not in will_exist or blocked(ref)]
            if missing:
                first = missing[0]
                hint = "" if first.kind in selected else f"; plan with a scope that includes {plural(first.kind.value)}"
                waits = "[change waits|changes wait]"
                reason = f"{change.key.kind.value} {waits} for a {first.kind.value} that is not in Moodle{hint}"
                self.grouped[(NoticeLevel.WARNING, reason)].append(str(change.key))
                if change.key not in self.live:
                    self.will_exist.discard(change.key)
                continue
            kept.append(change)
        return kept
