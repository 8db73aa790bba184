"""Deterministic sample districts: the data behind the PowerSchool emulator and the tests.

:func:`generate_district` builds a whole district in memory from a scale and a seed: the
same arguments always give the same district, byte for byte. The data has the shape of
PowerSchool's tables (reference §10), including what trips a naive sync:

- internal IDs that differ from DCIDs, TERMS.ID values that repeat at every school;
- names with accents and apostrophes (José, Zoë, Nguyễn, O'Brien) and duplicate names;
- students without e-mail or web login, inactive and transferred students, a previous
  school year's terms and sections;
- co-teachers, aides and observers (and a replaced teacher whose row has ended);
- dropped enrolments (negative SECTIONID), late adds, a drop and add on the same day, a
  re-enrolment, a section with one student and one with none, an unset date stored as
  PowerSchool's 1900-01-01;
- student, staff and section extension (custom) fields, a few sections proposing a
  migration.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import Enum
from functools import lru_cache

from ps2moodle_testkit.emulators.district import (
    District,
    DistrictCourse,
    DistrictRole,
    DistrictSchool,
    DistrictSchoolStaff,
    DistrictSection,
    DistrictSectionTeacher,
    DistrictStudent,
    DistrictTerm,
    DistrictUser,
    Enrolments,
)

OFFICE = 0
GRADUATED = 999999

ROLE_KEY_PREFIX = "com.pearson.powerschool.coteach."


@dataclass(frozen=True, slots=True)
class Scale:
    """How big a district to generate."""

    name: str
    elementary: int
    middle: int
    high: int
    students: int
    staff: int
    courses: int


class ScaleName(str, Enum):
    """The sizes of :data:`SCALES`, as command-line choices."""

    TINY = "tiny"
    SMALL = "small"
    DISTRICT = "district"


SCALES = {
    "tiny": Scale("tiny", elementary=1, middle=0, high=1, students=60, staff=30, courses=80),
    "small": Scale("small", elementary=1, middle=1, high=1, students=600, staff=60, courses=120),
    "district": Scale("district", elementary=11, middle=5, high=4, students=50_000, staff=3_000, courses=1_500),
}


# --- names -----------------------------------------------------------------------------

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sofía", "José", "Zoë", "Chloé", "Amélie", "Renée",
    "Björn", "Søren", "Łukasz", "Zoltán", "Aoife", "Siobhán", "Niamh", "Seán", "Mei", "Wei", "Hiroshi",
    "Yuki", "Min-jun", "Ji-woo", "Anh", "Linh", "Thảo", "Quân", "Priya", "Arjun", "Aarav", "Ananya",
    "Fatima", "Omar", "Yusuf", "Aaliyah", "Amara", "Kwame", "Chidi", "Nia", "Imani", "Malik", "Lucía",
    "Camila", "Valentina", "Santiago", "Diego", "Joaquín", "Inés", "Élodie", "François", "Günter", "Jürgen",
    "Ingrid", "Astrid", "Freya", "Mila", "Leo", "Isabella", "Mia", "Ethan", "Lucas", "Harper", "Elijah",
    "Amelia", "James", "Charlotte", "Benjamin", "Evelyn", "Henry", "Abigail", "Jack", "Emily", "Daniel",
    "Grace", "Samuel", "Hannah", "Jo", "Maria", "Ana", "John", "Sarah", "Michael", "David",
)  # fmt: skip

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernández", "López", "González", "Pérez", "Sánchez", "Ramírez", "Nguyễn", "Trần", "Lê", "Phạm",
    "Kim", "Lee", "Park", "Chen", "Wang", "Li", "Zhang", "Tanaka", "Suzuki", "Sato", "O'Brien", "O'Connor",
    "O'Neil", "D'Angelo", "D'Souza", "McDonald", "MacLeod", "Müller", "Schröder", "Weiß", "Østergaard",
    "Åberg", "Kowalski", "Wiśniewski", "Dvořák", "Novák", "Çelik", "Yılmaz", "Öztürk", "Haddad", "Khalil",
    "Abdullah", "Okafor", "Adeyemi", "Mensah", "Patel", "Singh", "Sharma", "Gupta", "Iyer", "Smith-Jones",
    "García-Márquez", "van der Berg", "de la Cruz", "St. Clair", "Fitzgerald", "Johansson", "Lindqvist",
    "Rossi", "Bianchi", "Esposito", "Dubois", "Lefèvre", "Moreau", "Ivanova", "Petrov", "Thompson",
    "White", "Harris", "Clark", "Lewis", "Walker", "Young", "Allen", "Wright", "Scott", "Green", "Baker",
)  # fmt: skip

NICKNAMES = ("Sam", "Alex", "Jay", "Max", "Bea", "Kit", "Lou", "Nico", "Teddy", "Izzy", "Ray", "Frankie")
PRONOUNS = ("she/her", "he/him", "they/them")
ZIP_CODES = ("02128", "02127", "01854", "60614", "73301", "94110", "10027", "30309", "98103", "85004")
DEPARTMENTS = {
    "ENG": "English",
    "MATH": "Mathematics",
    "SCI": "Science",
    "SS": "Social Studies",
    "HR": "Elementary",
    "PE": "Physical Education",
    "ART": "Fine Arts",
    "MUS": "Fine Arts",
    "LIB": "Library",
    "WL": "World Languages",
    "CTE": "Career and Technical Education",
    "ELEC": "Electives",
}

SCHOOL_NAMES = {
    "elementary": (
        "Jefferson", "César Chávez", "Maple Grove", "Riverside", "Oak Hill", "Cedar Park", "Brookside",
        "Hillcrest", "Lakeview", "Meadowbrook", "Pine Ridge", "Willow Creek", "Fairview", "Sunnyside",
    ),
    "middle": ("Roosevelt", "Sojourner Truth", "Eastwood", "Northgate", "Harbor View", "Summit"),
    "high": ("Washington", "Lincoln", "Martin Luther King Jr.", "Westfield", "Central", "Valley"),
}  # fmt: skip

# --- courses -----------------------------------------------------------------------------

_ROMAN = ("", "I", "II", "III", "IV", "V")

#: High-school core slots: per grade, the choices of each year-long core course.
_HIGH_CORE: dict[int, tuple[tuple[str, ...], ...]] = {
    9: (("ENG9", "ENG9H"), ("ALG1", "ALG1H", "GEOM"), ("BIO", "BIOH"), ("WHIST", "WHISTH")),
    10: (("ENG10", "ENG10H"), ("GEOM", "GEOMH", "ALG2"), ("CHEM", "CHEMH"), ("USHIST", "APUSH")),
    11: (("ENG11", "APLANG"), ("ALG2", "ALG2H", "PRECALC"), ("PHYS", "ENVSCI"), ("GOV", "APGOV")),
    12: (("ENG12", "APLIT"), ("PRECALC", "CALC", "STAT"), ("ANAT", "APBIO"), ("ECON", "PSYCH")),
}
_CORE_NAMES = {
    "ALG1": "Algebra I", "ALG1H": "Algebra I Honors", "GEOM": "Geometry", "GEOMH": "Geometry Honors",
    "ALG2": "Algebra II", "ALG2H": "Algebra II Honors", "PRECALC": "Pre-Calculus", "CALC": "AP Calculus AB",
    "STAT": "AP Statistics", "BIO": "Biology", "BIOH": "Biology Honors", "CHEM": "Chemistry",
    "CHEMH": "Chemistry Honors", "PHYS": "Physics", "ENVSCI": "Environmental Science",
    "ANAT": "Anatomy & Physiology", "APBIO": "AP Biology", "WHIST": "World History",
    "WHISTH": "World History Honors", "USHIST": "U.S. History", "APUSH": "AP U.S. History",
    "GOV": "Government", "APGOV": "AP Government & Politics", "ECON": "Economics", "PSYCH": "Psychology",
    "APLANG": "AP English Language", "APLIT": "AP English Literature",
}  # fmt: skip

#: Elective stems: (code, name, levels, department).
_ELECTIVES = (
    ("SPAN", "Spanish", 4, "WL"), ("FREN", "French", 3, "WL"), ("GER", "German", 2, "WL"),
    ("CHIN", "Mandarin Chinese", 3, "WL"), ("LAT", "Latin", 2, "WL"), ("ASL", "American Sign Language", 2, "WL"),
    ("ART", "Studio Art", 3, "ART"), ("CERAM", "Ceramics", 2, "ART"), ("PHOTO", "Photography", 2, "ART"),
    ("BAND", "Concert Band", 4, "MUS"), ("CHOR", "Choir", 4, "MUS"), ("ORCH", "Orchestra", 4, "MUS"),
    ("DRAMA", "Theatre Arts", 3, "ART"), ("CSC", "Computer Science", 3, "CTE"), ("ROBO", "Robotics", 2, "CTE"),
    ("JOUR", "Journalism", 2, "ELEC"), ("CRWR", "Creative Writing", 2, "ENG"), ("ACCT", "Accounting", 2, "CTE"),
    ("BUS", "Business Management", 2, "CTE"), ("CULN", "Culinary Arts", 3, "CTE"),
    ("AUTO", "Automotive Technology", 3, "CTE"),
    ("WELD", "Welding", 2, "CTE"), ("ENGR", "Engineering Design", 3, "CTE"), ("MKTG", "Marketing", 2, "CTE"),
    ("FINL", "Personal Finance", 1, "CTE"), ("ASTR", "Astronomy", 1, "SCI"), ("FORS", "Forensic Science", 1, "SCI"),
    ("MARB", "Marine Biology", 1, "SCI"), ("GEOL", "Geology", 1, "SCI"), ("SOC", "Sociology", 1, "SS"),
    ("PHIL", "Philosophy", 1, "SS"), ("GEOG", "Human Geography", 1, "SS"), ("LAW", "Law & Justice", 1, "SS"),
    ("HLTH", "Health", 2, "PE"), ("PE", "Physical Education", 4, "PE"), ("WGHT", "Weight Training", 2, "PE"),
    ("DANCE", "Dance", 2, "ART"), ("YRBK", "Yearbook", 2, "ELEC"), ("DEBATE", "Speech & Debate", 2, "ENG"),
    ("GAME", "Game Design", 2, "CTE"), ("WEB", "Web Development", 2, "CTE"), ("CYBER", "Cybersecurity", 2, "CTE"),
    ("HORT", "Horticulture", 2, "CTE"), ("ANIM", "Animal Science", 2, "CTE"), ("CHILD", "Child Development", 2, "CTE"),
    ("FASH", "Fashion Design", 2, "CTE"), ("FILM", "Film Studies", 1, "ELEC"), ("MYTH", "Mythology", 1, "ENG"),
)  # fmt: skip
_VARIANTS = (
    ("", ""), ("H", " Honors"), ("OL", " (Online)"), ("CR", " Credit Recovery"), ("EL", " for English Learners"),
    ("DE", " Dual Enrollment"), ("IB", " (IB)"), ("A", " Accelerated"), ("SU", " Summer Session"),
    ("IN", " Inclusion"), ("BL", " Blended"), ("X", " Extended Block"), ("PA", " Pre-AP"), ("LAB", " Lab"),
)  # fmt: skip
#: Numeric state-style CTE course codes (a JSON number on the v1 API, or a string when zero-padded).
_STATE_CODES = (
    ("52037", "Health Science Careers"),
    ("0401", "Introduction to Agriculture"),
    ("13207", "Principles of IT"),
)

_MIDDLE_ELECTIVES = ("BAND1", "CHOR1", "ORCH1", "ART1", "SPAN1", "FREN1", "CSC1", "DRAMA1", "ROBO1", "CRWR1")


def _elective_catalogue() -> list[tuple[str, str, str]]:
    """Every elective course (number, name, department), most common variants first."""
    items: list[tuple[str, str, str]] = [(code, name, "CTE") for code, name in _STATE_CODES]
    for suffix, label in _VARIANTS:
        for code, name, levels, dept in _ELECTIVES:
            for level in range(1, levels + 1):
                number = f"{code}{level}{suffix}"
                title = f"{name} {_ROMAN[level]}" if levels > 1 else name
                items.append((number, f"{title}{label}", dept))
    return items


# --- generation ----------------------------------------------------------------------------


_CORE_DEPARTMENTS = {
    "ENG": "ENG", "APLANG": "ENG", "APLIT": "ENG", "MATH": "MATH", "ALG": "MATH", "GEOM": "MATH",
    "PRECALC": "MATH", "CALC": "MATH", "STAT": "MATH", "SCI": "SCI", "BIO": "SCI", "CHEM": "SCI",
    "PHYS": "SCI", "ENVSCI": "SCI", "ANAT": "SCI", "APBIO": "SCI", "HR": "HR", "HRK": "HR", "PREK": "HR",
    "PEK": "PE", "ARTK": "ART", "MUSK": "MUS", "LIBK": "LIB", "IND": "ELEC", "TA": "ELEC",
}  # fmt: skip


def _department(course_number: str, electives: dict[str, str]) -> str:
    """The department whose teachers teach a course (teachers are pooled by department)."""
    if course_number in electives:
        return electives[course_number]
    stem = re.sub(r"[0-9].*$", "", course_number)
    return _CORE_DEPARTMENTS.get(stem) or _CORE_DEPARTMENTS.get(stem.removesuffix("H")) or "SS"


@lru_cache(maxsize=4096)
def ascii_fold(text: str) -> str:
    """Lower-case ASCII letters and digits only: ``Nguyễn`` -> ``nguyen``, ``O'Brien`` -> ``obrien``."""
    folded = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D").replace("ł", "l").replace("Ł", "L"))
    return re.sub(r"[^a-z0-9]", "", folded.encode("ascii", "ignore").decode().lower())


def _friday_on_or_after(d: date) -> date:
    return d + timedelta(days=(4 - d.weekday()) % 7)


def _monday_on_or_after(d: date) -> date:
    return d + timedelta(days=(0 - d.weekday()) % 7)


def _term_dates(start_year: int, late_start: bool) -> dict[str, tuple[date, date]]:
    """First and last days of each term of a school year, on realistic weekdays."""
    first = _monday_on_or_after(date(start_year, 8, 22)) + timedelta(days=1 if late_start else 0)
    last = _friday_on_or_after(date(start_year + 1, 6, 8))
    s1_end = _friday_on_or_after(date(start_year + 1, 1, 13))
    s2_start = s1_end + timedelta(days=4)
    q1_end = _friday_on_or_after(date(start_year, 10, 25))
    q3_end = _friday_on_or_after(date(start_year + 1, 3, 21))
    return {
        "year": (first, last),
        "S1": (first, s1_end),
        "S2": (s2_start, last),
        "Q1": (first, q1_end),
        "Q2": (q1_end + timedelta(days=3), s1_end),
        "Q3": (s2_start, q3_end),
        "Q4": (q3_end + timedelta(days=3), last),
    }


_TERM_NAMES = {
    "S1": ("Semester 1", 2),
    "S2": ("Semester 2", 2),
    "Q1": ("Quarter 1", 4),
    "Q2": ("Quarter 2", 4),
    "Q3": ("Quarter 3", 4),
    "Q4": ("Quarter 4", 4),
}


_Slot = tuple[str, tuple[str, ...]]
"""A schedule slot: the term abbreviation (``year`` for the full year) and the course choices."""


class _Ids:
    """Counters for each table's ID and DCID: different ranges, so an ID is never a DCID."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def take(self, name: str, start: int) -> int:
        value = self._next.get(name, start)
        self._next[name] = value + 1
        return value


class _Generator:
    """Builds one district; every random choice comes from one seeded ``random.Random``."""

    def __init__(self, scale: Scale, seed: int, start_year: int) -> None:
        self.scale = scale
        self.rng = random.Random(f"{scale.name}:{seed}:{start_year}")
        self.seed = seed
        self.start_year = start_year
        self.ids = _Ids()
        self.schools: list[DistrictSchool] = []
        self.terms: list[DistrictTerm] = []
        self.courses: dict[str, DistrictCourse] = {}
        self.course_departments: dict[str, str] = {}
        self.students: list[DistrictStudent] = []
        self.users: list[DistrictUser] = []
        self.school_staff: list[DistrictSchoolStaff] = []
        self.sections: list[DistrictSection] = []
        self.section_teachers: list[DistrictSectionTeacher] = []
        self.cc = Enrolments()
        self.school_courses: dict[int, list[int]] = defaultdict(list)
        self.usernames: set[str] = set()
        self.term_ids: dict[tuple[int, int, str], DistrictTerm] = {}
        self.teachers: dict[tuple[int, str], list[DistrictSchoolStaff]] = {}
        self.loads: dict[int, int] = defaultdict(int)
        self.student_slots: Iterator[tuple[int, int]] = iter(())
        self.section_ids: Iterator[int] = iter(())
        self.section_dcids: Iterator[int] = iter(())
        self.roles = (
            DistrictRole(41, "Lead Teacher", ROLE_KEY_PREFIX + "primary.teacher"),
            DistrictRole(42, "Co-Teacher", ROLE_KEY_PREFIX + "co.teacher"),
            DistrictRole(43, "Teacher Aide", ROLE_KEY_PREFIX + "teacher.aide"),
            DistrictRole(44, "Class Observer", ROLE_KEY_PREFIX + "class.observer"),
            DistrictRole(45, "Job Share Teacher", ROLE_KEY_PREFIX + "job.share.teacher"),
            DistrictRole(47, "Special Ed Teacher", ""),
        )

    # -- schools and terms --------------------------------------------------------

    def make_schools(self) -> None:
        kinds = ["elementary"] * self.scale.elementary + ["middle"] * self.scale.middle + ["high"] * self.scale.high
        dcids = list(range(2, 2 + len(kinds) + 2))
        self.rng.shuffle(dcids)
        grades = {"elementary": (-1, 5), "middle": (6, 8), "high": (9, 12)}
        used: dict[str, int] = defaultdict(int)
        for i, kind in enumerate(kinds):
            names = SCHOOL_NAMES[kind]
            base = names[used[kind] % len(names)]
            suffix = f" {used[kind] // len(names) + 1}" if used[kind] >= len(names) else ""
            used[kind] += 1
            label = {"elementary": "Elementary School", "middle": "Middle School", "high": "High School"}[kind]
            low, high = grades[kind]
            self.schools.append(
                DistrictSchool(
                    dcid=dcids[i],
                    id=self.ids.take("school", 31),
                    number=(i + 1) * 100,
                    name=f"{base}{suffix} {label}",
                    abbreviation="".join(w[0] for w in base.split()) + label[0] + "S",
                    kind=kind,
                    low_grade=low,
                    high_grade=high,
                )
            )
        self.schools.append(
            DistrictSchool(dcids[-2], self.ids.take("school", 31), OFFICE, "District Office", "DO", "office", 0, 0)
        )
        self.schools.append(
            DistrictSchool(
                dcids[-1], self.ids.take("school", 31), GRADUATED, "Graduated Students", "GRAD", "graduated", 99, 99
            )
        )

    def make_terms(self) -> None:
        for start_year in (self.start_year - 1, self.start_year):
            year_id = start_year - 1990
            for school in self.schools:
                if school.kind == "graduated":
                    continue
                dates = _term_dates(start_year, late_start=school.kind == "elementary")
                parts = ["year"] if school.kind == "office" else ["year", *_TERM_NAMES]
                # TERMS.ID numbering after YEARID*100 varies by school (terms made in another order).
                order = parts[1:]
                if school.number % 200 == 0:
                    order = order[2:] + order[:2]
                for abbr in parts:
                    n = 0 if abbr == "year" else 1 + order.index(abbr)
                    first, last = dates[abbr]
                    if abbr == "year":
                        name, portion = f"{start_year}-{start_year + 1}", 1
                        abbreviation = f"{start_year % 100:02d}-{(start_year + 1) % 100:02d}"
                    else:
                        name, portion = _TERM_NAMES[abbr]
                        abbreviation = abbr
                    term = DistrictTerm(
                        dcid=self.ids.take("term", 812),
                        id=year_id * 100 + n,
                        school_number=school.number,
                        year_id=year_id,
                        name=name,
                        abbreviation=abbreviation,
                        first_day=first,
                        last_day=last,
                        portion=portion,
                        is_year=abbr == "year",
                    )
                    self.terms.append(term)
                    self.term_ids[(school.number, year_id, abbr)] = term

    # -- courses ------------------------------------------------------------------

    def course(self, number: str, name: str) -> DistrictCourse:
        found = self.courses.get(number)
        if found is None:
            found = DistrictCourse(self.ids.take("course_dcid", 9001), self.ids.take("course", 101), number, name)
            self.courses[number] = found
        return found

    def make_catalogue(self) -> list[str]:
        """Create the core courses, then electives up to the scale's catalogue size; returns
        the elective numbers in catalogue order."""
        for g in range(0, 6):
            self.course(f"HR{g}" if g else "HRK", f"Homeroom Grade {g}" if g else "Kindergarten Homeroom")
        self.course("PREK", "Pre-Kindergarten")
        for number, name in (("PEK5", "Physical Education K-5"), ("ARTK5", "Art K-5"), ("MUSK5", "General Music K-5")):
            self.course(number, name)
        self.course("LIBK5", "Library Skills K-5")
        for g in range(6, 9):
            for code, name in (("ENG", "English"), ("MATH", "Math"), ("SCI", "Science"), ("SS", "Social Studies")):
                self.course(f"{code}{g}", f"{name} {g}")
            self.course(f"PE{g}", f"Physical Education {g}")
        for g in range(9, 13):
            for choices in _HIGH_CORE[g]:
                for number in choices:
                    self.course(
                        number, _CORE_NAMES.get(number) or f"English {g}" + (" Honors" if number.endswith("H") else "")
                    )
        self.course("IND1", "Independent Study")
        self.course("TA1", "Teacher Assistant")
        electives = []
        for number, name, dept in _elective_catalogue():
            if len(self.courses) >= self.scale.courses and number not in _MIDDLE_ELECTIVES:
                continue
            self.course(number, name)
            self.course_departments[number] = dept
            electives.append(number)
        return electives

    # -- people -------------------------------------------------------------------

    def name(self) -> tuple[str, str | None, str]:
        rng = self.rng
        first = rng.choice(FIRST_NAMES)
        middle = rng.choice(FIRST_NAMES) if rng.random() < 0.4 else None
        return first, middle, rng.choice(LAST_NAMES)

    def unique_login(self, base: str) -> str:
        login, n = base, 1
        while login in self.usernames:
            n += 1
            login = f"{base}{n}"
        self.usernames.add(login)
        return login

    def make_students(self) -> None:
        rng = self.rng
        kinds = {"elementary": 0.46, "middle": 0.23, "high": 0.31}
        real = [s for s in self.schools if s.kind in kinds]
        weights = [kinds[s.kind] / sum(1 for x in real if x.kind == s.kind) * rng.uniform(0.85, 1.15) for s in real]
        total = sum(weights)
        sizes = [round(self.scale.students * w / total) for w in weights]
        sizes[-1] += self.scale.students - sum(sizes)
        ids = list(range(1001, 1001 + self.scale.students + self.scale.students // 50 + 10))
        dcids = list(range(5001, 5001 + len(ids)))
        rng.shuffle(dcids)
        self.student_slots = iter(zip(ids, dcids, strict=True))
        year_first, year_last = _term_dates(self.start_year, False)["year"]
        numeric_logins = {s.number for s in real if s.kind == "high" and s.number % 300 == 0}
        for school, size in zip(real, sizes, strict=True):
            grades = list(range(max(school.low_grade, 0), school.high_grade + 1))
            prek = school.low_grade < 0 and school.number % 200 == 100
            for i in range(size):
                grade = -1 if prek and i % 40 == 0 else grades[i % len(grades)]
                self.students.append(
                    self.student(school, grade, year_first, year_last, school.number in numeric_logins)
                )
            # Two students with the same name at every school.
            twin = self.students[-1]
            self.students[-2] = replace(
                self.students[-2], first_name=twin.first_name, middle_name=twin.middle_name, last_name=twin.last_name
            )
        graduates = self.scale.students // 100 + 1
        for _ in range(graduates):
            self.students.append(self.student(self.schools[-1], 99, year_first, year_last, False, status=3))

    def student(
        self,
        school: DistrictSchool,
        grade: int,
        first_day: date,
        last_day: date,
        numeric: bool,
        status: int | None = None,
    ) -> DistrictStudent:
        rng = self.rng
        id_, dcid = next(self.student_slots)
        first, middle, last = self.name()
        number = str(100000 + id_ * 7 % 900000)
        if status is None:
            roll = rng.random()
            status = 0 if roll < 0.945 else -1 if roll < 0.96 else 1 if roll < 0.97 else -2 if roll < 0.975 else 2
            status = 4 if roll > 0.995 else status
        if grade <= 0:
            web_id = None
        elif numeric:
            web_id = number
        else:
            web_id = self.unique_login(f"{ascii_fold(last)[:5]}{ascii_fold(first)[:1]}{number[-3:]}")
        email = f"{web_id}@students.example.org" if web_id and rng.random() < 0.88 else None
        exit_day = last_day + timedelta(days=1)
        if status == 2:
            exit_day = first_day + timedelta(days=rng.randrange(20, 120))
        custom = []
        if rng.random() < 0.1:
            custom.append(("u_students_extension", "preferredname", rng.choice(NICKNAMES)))
        if rng.random() < 0.3:
            custom.append(("u_students_extension", "pronouns", rng.choice(PRONOUNS)))
        if rng.random() < 0.6:
            custom.append(("u_studentsuserfields", "transcriptaddrzip", rng.choice(ZIP_CODES)))
        birth_year = self.start_year - 6 - grade if grade != 99 else self.start_year - 19
        return DistrictStudent(
            dcid=dcid,
            id=id_,
            student_number=number,
            web_id=web_id,
            first_name=first,
            middle_name=middle,
            last_name=last,
            school_number=school.number,
            grade_level=grade,
            enroll_status=status,
            email=email,
            gender=rng.choice("MF"),
            birth_date=date(birth_year, rng.randrange(1, 13), rng.randrange(1, 29)),
            entry_date=first_day,
            exit_date=exit_day,
            state_id=str(1000000000 + id_ * 9973 % 8999999999),
            custom=tuple(custom),
        )

    def person(self, home: int, department: str, teacher: bool) -> DistrictUser:
        rng = self.rng
        first, middle, last = self.name()
        login = self.unique_login(f"{ascii_fold(first)[:1]}{ascii_fold(last)[:10]}")
        n = len(self.users)
        number = f"T-{n:05d}" if n % 17 == 5 else str(3001000 + n)
        email = None if n % 23 == 7 else f"{login}@example.org"
        user = DistrictUser(
            dcid=self.ids.take("users", 401),
            teacher_number=number,
            first_name=first,
            middle_name=middle,
            last_name=last,
            email=email,
            teacher_login=login if teacher else None,
            admin_login=login if not teacher or n % 9 == 0 else None,
            home_school=home,
            custom=(("u_def_ext_schoolstaff", "department", department),) if rng.random() < 0.8 else (),
        )
        self.users.append(user)
        return user

    def affiliate(self, user: DistrictUser, school: int, staff_status: int, status: int = 1) -> DistrictSchoolStaff:
        row = DistrictSchoolStaff(
            id=self.ids.take("schoolstaff", 1),
            dcid=self.ids.take("schoolstaff_dcid", 141),
            users_dcid=user.dcid,
            school_number=school,
            status=status,
            staff_status=staff_status,
        )
        self.school_staff.append(row)
        return row

    # -- sections and enrolments ----------------------------------------------------

    def slots(self, school: DistrictSchool, grade: int, electives: list[str]) -> list[_Slot]:
        """The (term, course choices) a student of ``grade`` takes at ``school``."""
        if grade < 0:
            return [("year", ("PREK",))]
        if school.kind == "elementary":
            hr = f"HR{grade}" if grade else "HRK"
            library: list[_Slot] = [(f"Q{1 + grade % 4}", ("LIBK5",))] if grade else []
            return [("year", (hr,)), ("year", ("PEK5",)), ("S1", ("ARTK5",)), ("S2", ("MUSK5",)), *library]
        if school.kind == "middle":
            core: list[_Slot] = [("year", (f"{c}{grade}",)) for c in ("ENG", "MATH", "SCI", "SS")]
            pool = tuple(electives) or _MIDDLE_ELECTIVES
            return [*core, ("S1", (f"PE{grade}",)), ("S1", pool), ("S2", pool)]
        core = [("year", choices) for choices in _HIGH_CORE[grade]]
        pool = tuple(electives)
        last: list[_Slot] = [("S2", pool)] if grade < 12 else []
        # Seniors take one elective fewer (early release in the second semester).
        return [*core, ("S1", pool), ("S1", pool), ("S2", pool), *last]

    def make_sections(self, electives: list[str]) -> None:
        rng = self.rng
        by_school: dict[int, list[DistrictStudent]] = defaultdict(list)
        for s in self.students:
            by_school[s.school_number].append(s)
        room = self.scale.students + 1000
        self.section_ids = iter(range(20001, 20001 + room))
        section_dcids = list(range(60001, 60001 + room))
        rng.shuffle(section_dcids)
        self.section_dcids = iter(section_dcids)
        self.make_previous_year(by_school)
        for school in self.schools:
            if school.kind not in ("elementary", "middle", "high"):
                continue
            students = by_school[school.number]
            if school.kind == "high":
                pool = rng.sample(electives, min(max(6, len(students) // 25), len(electives)))
            elif school.kind == "middle":
                pool = list(_MIDDLE_ELECTIVES[: max(3, min(10, len(students) // 60))])
            else:
                pool = []
            groups: dict[tuple[str, str], list[DistrictStudent]] = defaultdict(list)
            for student in students:
                if student.enroll_status in (-1, 4):
                    continue  # pre-registered and historical students have no schedule this year
                taken: set[str] = set()
                for term, choices in self.slots(school, student.grade_level, pool):
                    picked = choices[0] if len(choices) == 1 else rng.choice(choices)
                    if picked in taken:
                        picked = rng.choice(choices)  # two electives must differ; re-draw once
                        if picked in taken:
                            continue
                    taken.add(picked)
                    groups[(term, picked)].append(student)
            self.schedule_school(school, groups)

    def teacher_for(self, school: DistrictSchool, department: str, load: int) -> DistrictSchoolStaff:
        """The next teacher of a department at a school, hiring when everyone has ``load`` sections."""
        key = (school.number, department)
        pool = self.teachers.setdefault(key, [])
        counts = self.loads
        for row in pool:
            if counts[row.id] < load:
                counts[row.id] += 1
                return row
        user = self.person(school.number, DEPARTMENTS.get(department, "General"), teacher=True)
        row = self.affiliate(user, school.number, 1)
        pool.append(row)
        counts[row.id] = 1
        return row

    def new_section(
        self, school: DistrictSchool, course: str, term: DistrictTerm, period: int, load: int, number: str
    ) -> DistrictSection:
        dept = _department(course, self.course_departments)
        # Each homeroom has its own teacher.
        lead = self.teacher_for(school, dept if dept != "HR" else f"HR-{course}-{number}", load)
        days = "A-F" if school.kind != "elementary" else "A-E"
        section = DistrictSection(
            id=next(self.section_ids),
            dcid=next(self.section_dcids),
            school_number=school.number,
            course_number=course,
            section_number=number,
            term_id=term.id,
            teacher=lead.id,
            expression=f"{period}({days})",
            external_expression=f"{period}(M-F)",
            room=f"{'ABC'[period % 3]}{100 + period * 7 % 90}",
        )
        self.sections.append(section)
        self.lead_row(section, lead, term)
        return section

    def lead_row(self, section: DistrictSection, lead: DistrictSchoolStaff, term: DistrictTerm) -> None:
        self.section_teachers.append(
            DistrictSectionTeacher(
                self.ids.take("sectionteacher", 7001), section.id, lead.id, 41, 100, term.first_day, term.last_day
            )
        )

    def schedule_school(self, school: DistrictSchool, groups: dict[tuple[str, str], list[DistrictStudent]]) -> None:
        rng = self.rng
        padded = school.kind == "middle"
        numbers: dict[str, int] = defaultdict(int)
        load = {"elementary": 24, "middle": 6, "high": 6}[school.kind]
        made: list[tuple[DistrictSection, DistrictTerm, list[DistrictStudent]]] = []
        for (abbr, course_number), members in sorted(groups.items()):
            term = self.term_ids[(school.number, self.start_year - 1990, abbr)]
            rng.shuffle(members)
            count = max(1, round(len(members) / 25))
            for k in range(count):
                numbers[course_number] += 1
                n = numbers[course_number]
                label = f"{n:02d}" if padded else str(n)
                section = self.new_section(
                    school, course_number, term, 1 + (n + k) % 7, 1 if course_number.startswith("HR") else load, label
                )
                made.append((section, term, members[k::count]))
            self.school_courses[school.number].append(self.courses[course_number].dcid)
        # Q1 and Q2 of reference §10.5: a section with exactly one student, and one with none.
        year = self.term_ids[(school.number, self.start_year - 1990, "year")]
        for course_number, members in (("IND1", made[0][2][:1]), ("TA1", [])):
            section = self.new_section(school, course_number, year, 8, load, "1")
            made.append((section, year, members))
            self.school_courses[school.number].append(self.courses[course_number].dcid)
        for number in rng.sample(sorted(self.courses), min(3, len(self.courses))):
            self.school_courses[school.number].append(self.courses[number].dcid)  # offered, not scheduled
        self.add_coteachers(school, made)
        self.enrol(school, made)

    def add_coteachers(
        self, school: DistrictSchool, made: list[tuple[DistrictSection, DistrictTerm, list[DistrictStudent]]]
    ) -> None:
        rng = self.rng
        ids = self.ids
        for i, (section, term, _) in enumerate(made):
            roll = rng.random()
            if roll < 0.12 or i == 1:
                role = 42 if roll < 0.08 or i == 1 else 47 if roll < 0.1 else rng.choice((43, 44, 45))
                helper = self.teacher_for(school, "SPED" if role == 47 else "ELEC", 8)
                self.section_teachers.append(
                    DistrictSectionTeacher(
                        ids.take("sectionteacher", 7001), section.id, helper.id, role, 50, term.first_day, term.last_day
                    )
                )
            if roll > 0.985 or i == 2:
                # A co-teacher who left at the end of the first quarter: no longer current.
                gone = self.teacher_for(school, "ELEC", 8)
                left = _friday_on_or_after(date(self.start_year, 10, 25))
                self.section_teachers.append(
                    DistrictSectionTeacher(
                        ids.take("sectionteacher", 7001), section.id, gone.id, 42, 50, term.first_day, left
                    )
                )

    def enrol(
        self, school: DistrictSchool, made: list[tuple[DistrictSection, DistrictTerm, list[DistrictStudent]]]
    ) -> None:
        rng, cc = self.rng, self.cc
        by_course: dict[tuple[str, int], list[DistrictSection]] = defaultdict(list)
        for section, term, _ in made:
            by_course[(section.course_number, term.id)].append(section)
        pending = [0, 1, 2, 3]  # every school gets each special case at least once
        for section, term, members in made:
            first, end = term.first_day.toordinal(), term.last_day.toordinal() + 1
            siblings = [s for s in by_course[(section.course_number, term.id)] if s.id != section.id]
            plain = section.course_number in ("IND1", "TA1")  # keep the one-student section at one row
            for student in members:
                enrolled, left, sid = first, end, section.id
                if student.enroll_status != 0:
                    # Inactive and transferred students were dropped when they left.
                    leaving = student.exit_date.toordinal() if student.enroll_status == 2 else first
                    if leaving < end:
                        left, sid = max(first, leaving), -section.id
                elif not plain:
                    fits = [c for c in pending if c != 0 or siblings]
                    case = fits[0] if fits else rng.randrange(4) if rng.random() < 0.006 else None
                    if case is not None and (case != 0 or siblings):
                        if case in pending:
                            pending.remove(case)
                        self.enrol_special(case, section, term, student, siblings)
                        continue
                cc.add(student.id, sid, enrolled, left)

    def enrol_special(
        self,
        case: int,
        section: DistrictSection,
        term: DistrictTerm,
        student: DistrictStudent,
        siblings: list[DistrictSection],
    ) -> None:
        """One of the enrolment histories of reference §10.5 for this student."""
        first, end = term.first_day.toordinal(), term.last_day.toordinal() + 1
        middle = first + (end - first) // 3

        def add(section_id: int, enrolled: int, left: int) -> None:
            self.cc.add(student.id, section_id, enrolled, left)

        if case == 0:
            # Dropped and added to another section of the same course on the same day.
            add(-section.id, first, middle)
            add(siblings[0].id, middle, end)
        elif case == 1:
            # Dropped, then re-enrolled in the same section two weeks later.
            add(-section.id, first, middle)
            add(section.id, middle + 14, end)
        elif case == 2:
            # A late add whose leaving date was never filled in (PowerSchool stores 1900-01-01).
            add(section.id, middle, 0)
        else:
            # A mid-term drop.
            add(-section.id, first, middle)

    def make_previous_year(self, by_school: dict[int, list[DistrictStudent]]) -> None:
        """Last year's terms exist everywhere; one of its sections per school keeps a roster."""
        for school in self.schools:
            if school.kind not in ("elementary", "middle", "high"):
                continue
            term = self.term_ids[(school.number, self.start_year - 1991, "year")]
            teacher = self.teacher_for(school, "ELEC", 8)
            section = DistrictSection(
                id=next(self.section_ids),
                dcid=next(self.section_dcids),
                school_number=school.number,
                course_number="IND1",
                section_number="1",
                term_id=term.id,
                teacher=teacher.id,
                expression="8(A-F)",
                external_expression="8(M-F)",
                room="LIB",
            )
            self.sections.append(section)
            self.lead_row(section, teacher, term)
            for s in by_school[school.number][:3]:
                self.cc.add(s.id, section.id, term.first_day.toordinal(), term.last_day.toordinal() + 1)

    def finish_staff(self) -> None:
        """Non-teaching staff up to the scale's head count, shared and former affiliations."""
        rng = self.rng
        real = [s for s in self.schools if s.kind in ("elementary", "middle", "high")]
        i = 0
        while len(self.users) < self.scale.staff:
            school = real[i % len(real)]
            kind = (2, 2, 2, 3, 4, 0)[i % 6]
            user = self.person(school.number, "Administration" if kind == 2 else "Support", teacher=kind == 4)
            # Every tenth of them has left: only a former (status 2) row remains.
            self.affiliate(user, school.number, kind, status=2 if i % 10 == 9 else 1)
            i += 1
        teachers = [row for row in self.school_staff if row.staff_status == 1 and row.status == 1]
        users = {u.dcid: u for u in self.users}
        if len(real) > 1:
            for k, row in enumerate(rng.sample(teachers, max(2, len(teachers) // 20))):
                other = rng.choice([s for s in real if s.number != row.school_number])
                # Itinerant teachers: a current second school, or (some) a school they left.
                current = k == 0 or rng.random() < 0.7
                self.affiliate(users[row.users_dcid], other.number, 1, status=1 if current else 2)
        self.affiliate(self.users[0], OFFICE, 2)

    def make_migrations(self) -> None:
        """A few current sections propose moving to another course (or course.section) of
        the same school and term, through the section extension field."""
        year = self.start_year - 1990
        current = [s for s in self.sections if s.term_id // 100 == year and s.course_number not in ("IND1", "TA1")]
        by_term: dict[tuple[int, int], list[DistrictSection]] = defaultdict(list)
        for s in current:
            by_term[(s.school_number, s.term_id)].append(s)
        picked = current[:: max(1, len(current) // 4)][:4]
        for k, section in enumerate(picked):
            others = [
                s for s in by_term[(section.school_number, section.term_id)] if s.course_number != section.course_number
            ]
            if not others:
                continue
            target = others[k % len(others)]
            value = target.course_number if k % 2 == 0 else f"{target.course_number}.{target.section_number}"
            index = self.sections.index(section)
            self.sections[index] = replace(section, migrate_to=value)

    def build(self) -> District:
        self.make_schools()
        self.make_terms()
        electives = self.make_catalogue()
        self.make_students()
        self.make_sections(electives)
        self.finish_staff()
        self.make_migrations()
        return District(
            name=f"Sample {self.scale.name} district (seed {self.seed})",
            scale=self.scale.name,
            seed=self.seed,
            start_year=self.start_year,
            schools=tuple(self.schools),
            terms=tuple(self.terms),
            courses=tuple(sorted(self.courses.values(), key=lambda c: c.dcid)),
            students=tuple(self.students),
            users=tuple(self.users),
            school_staff=tuple(self.school_staff),
            sections=tuple(self.sections),
            section_teachers=tuple(self.section_teachers),
            roles=self.roles,
            enrolments=self.cc,
            school_courses={n: tuple(dict.fromkeys(c)) for n, c in self.school_courses.items()},
        )


def generate_district(scale: str | Scale = "small", seed: int = 1, start_year: int = 2024) -> District:
    """A deterministic sample district. ``scale`` is ``tiny``, ``small``, ``district`` or a
    :class:`Scale`; ``start_year`` is the calendar year the current school year starts in
    (the previous year's terms are generated too)."""
    chosen = SCALES[scale] if isinstance(scale, str) else scale
    return _Generator(chosen, seed, start_year).build()
