"""Settings that select nothing: a configured term or course number PowerSchool does not
have in the school year being synced. Such a setting is almost always a typo or last
year's value, and without a word it only shows as a plan with "No changes." (pure).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.config.issues import PathPart
from reconciler.config.model import Config
from reconciler.powerschool.roster import Roster


@dataclass(frozen=True, slots=True)
class Unmatched:
    """One setting that matches nothing: where it is written in the config document
    (``path``, the key itself when ``key``) and what is wrong, in words."""

    path: tuple[PathPart, ...]
    message: str
    key: bool = False


def unmatched_settings(config: Config, rosters: Mapping[str, Roster]) -> list[Unmatched]:
    """Every configured term and listed course number of every connection that matches
    nothing in that connection's roster (the school year it read)."""
    found: list[Unmatched] = []
    for index, connection in enumerate(config.connections):
        roster = rosters.get(connection.name)
        if roster is None:
            continue
        for settings in connection.school_settings:
            school = settings.number
            at = ("connections", index, "school_settings", str(school))
            terms = sorted({t.abbreviation for t in roster.terms if t.school_number == school})
            for position, term in enumerate(settings.terms):
                if term not in terms:
                    has = ", ".join(terms) or "none"
                    message = (
                        f"school {school}: term {term} matches no term of the school year PowerSchool was read for "
                        f"(it has: {has}); its sections are not synced"
                    )
                    found.append(Unmatched((*at, "terms", position), message))
            offered = {s.course_number for s in roster.sections if s.school_number == school}
            for rule in settings.courses:
                if rule.number not in offered:
                    message = (
                        f"school {school}: course {rule.number} has no section in the school year PowerSchool was "
                        "read for; check the course number"
                    )
                    found.append(Unmatched((*at, "courses", rule.number), message, key=True))
    return found
