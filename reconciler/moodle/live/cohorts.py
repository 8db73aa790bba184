"""Reading cohorts: every one Moodle lists (one call), then the members of the owned ones."""

from __future__ import annotations

from typing import Any

from reconciler.lock import is_lock
from reconciler.model import Cohort, Key, Kind
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.live.found import Call, Found, owned, text


class Cohorts:
    """Every cohort (``records``), the owned ones' keys by Moodle id, and their members'
    user ids."""

    def __init__(self, client: MoodleClient, found: Found) -> None:
        self.client = client
        self.found = found
        self.records: list[dict[str, Any]] = []
        self.keys: dict[int, Key] = {}
        self.members: dict[Key, list[int]] = {}

    def listing(self) -> list[Call]:
        return [("core_cohort_get_cohorts", {}, self.on_cohorts)]

    def member_lists(self) -> list[Call]:
        """The members of every owned cohort, in batches of cohort ids."""
        if not self.keys:
            return []
        return [
            ("core_cohort_get_cohort_members", {"cohortids": group}, self.on_members)
            for group in self.client.read_batches(sorted(self.keys))
        ]

    def on_cohorts(self, answer: Any) -> None:
        # The apply lock is a cohort too: never a cohort to manage, adopt or remove.
        listed = MoodleClient.expect_list("core_cohort_get_cohorts", answer)
        self.records = [c for c in listed if not is_lock(c.get("idnumber"))]
        for rec in self.records:
            if owned(rec.get("idnumber")):
                key = Key(Kind.COHORT, rec["idnumber"])
                self.keys[int(rec["id"])] = key
                self.found.claim(key, int(rec["id"]))
                self.found.add(Cohort(key, name=text(rec.get("name")), moodle_id=int(rec["id"])))

    def on_members(self, answer: Any) -> None:
        for rec in MoodleClient.expect_list("core_cohort_get_cohort_members", answer):
            key = self.keys.get(int(rec["cohortid"]))
            if key is not None:
                self.members[key] = [int(uid) for uid in rec.get("userids") or ()]

    def find_foreign(self) -> None:
        """The unowned cohort holding each missing desired one's name (the oldest first)."""
        holders: dict[str, dict[str, Any]] = {}
        for record in sorted(self.records, key=lambda c: int(c["id"])):
            if not owned(record.get("idnumber")):
                holders.setdefault(text(record.get("name")), record)
        for cohort in self.found.missing(Kind.COHORT):
            assert isinstance(cohort, Cohort)
            rec = holders.get(cohort.name)
            if rec is not None:
                key = Key(Kind.COHORT, text(rec.get("idnumber")))
                self.found.foreign[cohort.key] = Cohort(key, name=text(rec.get("name")), moodle_id=int(rec["id"]))
