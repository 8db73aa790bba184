"""What can go wrong talking to Moodle, as a small typed tree under :class:`TargetError`.

MoodleError
├── MoodleTransportError     the call did not complete: network, timeout, HTTP status, unreadable body
│   └── OutcomeUnknown       a write was sent but its answer was lost (none, 5xx, cut short): it may have happened
├── MoodleResponseError      Moodle answered with its error envelope (HTTP 200 + ``exception``)
│   ├── InvalidToken         the token is unknown, empty or expired
│   ├── AccessDenied         the account may not do this (capability, service, suspended account...)
│   ├── UnknownFunction      no such web-service function on this Moodle
│   ├── InvalidParameter     Moodle rejected a value (the reason is in ``debuginfo`` when the site shows it)
│   ├── PasswordPolicy       a password broke the site's password policy
│   ├── WriteConflict        "Error writing to database": a deadlock with a concurrent call, or a value refused
│   └── InvalidResponse      Moodle failed to encode its own answer: writes may be committed (state unknown)
├── TruncatedRequest         Moodle answered for fewer items than were sent (PHP max_input_vars cut the request)
├── AmbiguousOwnership       two Moodle objects carry the same owned idnumber
└── UnknownRole              a role shortname has no known Moodle role id

Messages name the function and Moodle's reason; they never contain the token or the
request's values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reconciler.errors import TargetError

_TAG = re.compile(r"<[^>]+>")
#: PHP's stock max_input_vars: a longer request may have been cut by a site left at it.
PHP_DEFAULT_INPUT_VARS = 1000


class MoodleError(TargetError):
    """Any failure reading or writing Moodle."""


class MoodleTransportError(MoodleError):
    """The call did not complete: connection refused, timeout, a non-200 status or a body
    that is not Moodle's JSON."""


class OutcomeUnknown(MoodleTransportError):
    """A write reached (or may have reached) Moodle but no usable answer came back: the
    connection dropped, a proxy answered 5xx (it may have given up on a call Moodle then
    finished), or the answer was cut short. Resending a non-idempotent write could do it
    twice: read the state back instead."""


class TruncatedRequest(MoodleError):
    """Moodle answered for fewer items than were sent. PHP silently drops form fields past
    its ``max_input_vars``, so the trailing items never arrived; the ones answered for did."""

    def __init__(self, function: str, sent: int, answered: int) -> None:
        self.function = function
        self.sent = sent
        self.answered = answered
        super().__init__(
            f"{function}: sent {sent} items but Moodle answered for {answered}; PHP's max_input_vars on the "
            "server is lower than moodle.max_input_vars in the config (run `ps2moodle doctor`)"
        )


class AmbiguousOwnership(MoodleError):
    """Two Moodle objects carry one owned idnumber (a copied account, an edited cohort):
    the tool cannot tell which is its own, so it changes neither."""

    def __init__(self, clashes: Mapping[str, list[int]]) -> None:
        self.clashes = dict(clashes)
        lines = [f"- {ident}: Moodle ids {', '.join(map(str, ids))}" for ident, ids in sorted(self.clashes.items())]
        super().__init__(
            "these idnumbers are held by more than one Moodle object; clear the idnumber of the copies that are "
            "not the tool's, then plan again:\n" + "\n".join(lines)
        )


class UnknownRole(MoodleError):
    """A role shortname that maps to no Moodle role id."""

    def __init__(self, shortname: str) -> None:
        self.shortname = shortname
        super().__init__(
            f"no Moodle role id known for role {shortname!r}: it is not a standard Moodle role, none was seen on "
            "an enrolment, and moodle.role_ids does not name it"
        )


class MoodleResponseError(MoodleError):
    """Moodle's error envelope: ``{"exception", "errorcode", "message"[, "debuginfo"]}``.

    ``debuginfo`` is only present when the site shows debugging to the service account;
    without it every invalid parameter looks the same.
    """

    def __init__(
        self, function: str, exception: str, errorcode: str, message: str, debuginfo: str | None = None
    ) -> None:
        self.function = function
        self.exception = exception
        self.errorcode = errorcode
        self.moodle_message = message
        self.debuginfo = debuginfo
        super().__init__(self._describe())

    @property
    def reason(self) -> str:
        """Moodle's own words, with the detail when the site shows it."""
        return f"{self.moodle_message}: {self.debuginfo}" if self.debuginfo else self.moodle_message

    def _describe(self) -> str:
        return f"{self.function}: {self.reason} [{self.errorcode or self.exception}]"


class InvalidToken(MoodleResponseError):
    """The token is unknown, empty or expired."""

    def _describe(self) -> str:
        return f"{self.function}: Moodle rejected the web-service token ({self.reason})"


class AccessDenied(MoodleResponseError):
    """The service account may not do this: a missing capability, a function outside the
    token's service, a suspended or not fully set-up account, maintenance mode."""


class UnknownFunction(MoodleResponseError):
    """This Moodle has no web-service function of that name."""


class InvalidParameter(MoodleResponseError):
    """Moodle rejected a value. Without ``debuginfo`` the reason is hidden: adding the
    service account to Site administration > Development > Debugging > debugusers shows it.
    ``fields`` is the size of the request: one longer than the site's PHP
    ``max_input_vars`` lost its last fields, which Moodle also reports this way."""

    def __init__(
        self,
        function: str,
        exception: str,
        errorcode: str,
        message: str,
        debuginfo: str | None = None,
        *,
        fields: int = 0,
    ) -> None:
        self.fields = fields
        super().__init__(function, exception, errorcode, message, debuginfo)

    def _describe(self) -> str:
        text = super()._describe()
        if self.fields > PHP_DEFAULT_INPUT_VARS:
            text += (
                f" (the request had {self.fields} form fields: if the site's PHP max_input_vars is lower, it was cut "
                "short; run `ps2moodle doctor`)"
            )
        elif self.debuginfo is None:
            text += " (add the service account's user id to the site's debugusers setting to see why)"
        return text


class PasswordPolicy(MoodleResponseError):
    """A password broke the site's password policy (Moodle puts the HTML of the failures in
    the errorcode)."""

    @property
    def reason(self) -> str:
        parts = [p.strip() for p in _TAG.split(self.errorcode) if p.strip()]
        return "password policy: " + " ".join(parts)

    def _describe(self) -> str:
        return f"{self.function}: {self.reason}"


class WriteConflict(MoodleResponseError):
    """The database refused the call's write (``dmlwriteexception``) and Moodle rolled the
    whole call back. On a real site this is most often a deadlock with a concurrent call
    (PostgreSQL kills one of two transactions that lock the same rows in a different
    order), which the same call re-sent does not meet again; a value the database
    refuses (one too long for its column) fails again. Moodle's answer is the same for
    both (``shared/golden/moodle/deadlock``)."""


class InvalidResponse(MoodleResponseError):
    """Moodle could not encode its own answer. Writes before that point may be committed,
    so the outcome is unknown (update_users does this after a password-policy warning)."""


#: Errorcodes that mean "this account may not", whatever the exception class.
_ACCESS_CODES = frozenset(
    {
        "accessexception",
        "nopermissions",
        "restrictedcontextexception",
        "requireloginerror",
        "sitemaintenance",
        "forcepasswordchangenotice",
        "usernotfullysetup",
        "sitepolicynotagreed",
        "wsaccessuserdeleted",
        "wsaccessuserunconfirmed",
        "wsaccessusersuspended",
        "wsaccessuserexpired",
        "wsaccessusernologin",
    }
)


def error_from_envelope(function: str, body: Mapping[str, Any], *, fields: int = 0) -> MoodleResponseError:
    """The typed exception for one of Moodle's error envelopes (``fields``: the size of
    the request that got it)."""
    exception = str(body.get("exception", ""))
    errorcode = str(body.get("errorcode", ""))
    message = str(body.get("message", ""))
    raw_debug = body.get("debuginfo")
    debuginfo = None if raw_debug is None else " ".join(str(raw_debug).split())
    cls: type[MoodleResponseError] = MoodleResponseError
    if errorcode == "invalidtoken":
        cls = InvalidToken
    elif errorcode in _ACCESS_CODES:
        cls = AccessDenied
    elif errorcode == "invalidrecord" and "external_functions" in message:
        cls = UnknownFunction
    elif errorcode == "invalidparameter":
        return InvalidParameter(function, exception, errorcode, message, debuginfo, fields=fields)
    elif errorcode == "invalidresponse":
        cls = InvalidResponse
    elif errorcode == "dmlwriteexception":
        cls = WriteConflict
    elif errorcode.startswith("<"):
        cls = PasswordPolicy
    return cls(function, exception, errorcode, message, debuginfo)
