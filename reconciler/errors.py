"""The exception tree. Every error the tool raises on purpose derives from one root.

ReconcilerError
├── ConfigError            config file invalid (carries located ConfigIssue items)
├── SecretError            a ${ENV} or *_file secret cannot be resolved
├── SourceError            PowerSchool could not be read
│   ├── TruncatedReadError a read returned fewer records than PowerSchool counted
│   └── CountMismatchError a read returned more records than PowerSchool counted
├── TargetError            Moodle could not be read or written (moodle.errors has the subtree)
└── PlanFileError          a saved plan is unreadable, of another version, or altered
"""

from __future__ import annotations


class ReconcilerError(Exception):
    """Root of every error the tool raises on purpose; the CLI prints these without a traceback."""


class ConfigError(ReconcilerError):
    """The config is invalid. ``issues`` holds every problem found, each located."""

    def __init__(self, issues: list[object]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class SecretError(ReconcilerError):
    """A secret reference cannot be resolved. The message never contains a secret value."""


class SourceError(ReconcilerError):
    """PowerSchool could not be read completely."""


class TruncatedReadError(SourceError):
    """A PowerSchool read returned fewer records than its count endpoint announced."""


class CountMismatchError(SourceError):
    """A PowerSchool read returned more records than its count endpoint announced."""


class TargetError(ReconcilerError):
    """Moodle could not be read or written."""


class PlanFileError(ReconcilerError):
    """A saved plan file is unreadable, of an unknown format version, or fails its checksum."""
