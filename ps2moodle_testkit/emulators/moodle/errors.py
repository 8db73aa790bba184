"""Moodle's exceptions, as the REST server reports them.

An error body carries the PHP class name (``exception``), the ``errorcode`` when the
exception has one, the English ``message``, and ``debuginfo`` only when debugging is
on. Each constructor below builds the exception a particular PHP code path throws,
with the exact class name and strings the recordings show.
"""

from __future__ import annotations

from ps2moodle_testkit.emulators.moodle.php import Scalar, var_export_list


class MoodleError(Exception):
    """An exception thrown inside Moodle, on its way to the error envelope."""

    def __init__(self, exception: str, errorcode: str | None, message: str, debuginfo: str | None = None) -> None:
        super().__init__(message)
        self.exception = exception
        self.errorcode = errorcode
        self.message = message
        self.debuginfo = debuginfo


def invalid_parameter(debuginfo: str | None = None) -> MoodleError:
    """``invalid_parameter_exception``: every malformed or rejected parameter."""
    return MoodleError(
        "core\\exception\\invalid_parameter_exception",
        "invalidparameter",
        "Invalid parameter value detected",
        debuginfo,
    )


def invalid_response(debuginfo: str) -> MoodleError:
    """``invalid_response_exception``: the function's result failed its return description."""
    return MoodleError(
        "core\\exception\\invalid_response_exception", "invalidresponse", "Invalid response value detected", debuginfo
    )


def moodle_exception(errorcode: str, message: str, debuginfo: str | None = None) -> MoodleError:
    """``moodle_exception`` with an error code and its English string.

    Where Moodle has no string for the code, the message is ``module/errorcode``;
    callers pass that literal.
    """
    return MoodleError("core\\exception\\moodle_exception", errorcode, message, debuginfo)


def coding_exception(hint: str, debuginfo: str | None = None) -> MoodleError:
    """``coding_exception``: Moodle's "a programmer made a mistake" error."""
    return MoodleError(
        "core\\exception\\coding_exception",
        "codingerror",
        f"Coding error detected, it must be fixed by a programmer: {hint}",
        debuginfo,
    )


def missing_record(table: str, sql: str, params: list[Scalar]) -> MoodleError:
    """``dml_missing_record_exception`` from a ``MUST_EXIST`` lookup.

    The ``user`` table has its own error code; the debuginfo is the query and its
    parameters as ``var_export`` prints them.
    """
    if table == "user":
        errorcode, message = "invaliduser", "Invalid user"
    else:
        errorcode, message = "invalidrecord", f"Can't find data record in database table {table}."
    return MoodleError("dml_missing_record_exception", errorcode, message, f"{sql}\n[{var_export_list(params)}]")


def dml_write_error(debuginfo: str | None = None) -> MoodleError:
    """``dml_write_exception``: the database refused a write (a unique index, a bad value)."""
    return MoodleError("dml_write_exception", "dmlwriteexception", "Error writing to database", debuginfo)


def dml_read_error(debuginfo: str | None = None) -> MoodleError:
    """``dml_read_exception``: the database refused a query (for example a text where an integer belongs)."""
    return MoodleError("dml_read_exception", "dmlreadexception", "Error reading from database", debuginfo)


def access_exception(debuginfo: str) -> MoodleError:
    """``webservice_access_exception``: the reason is only in debuginfo."""
    return MoodleError("webservice_access_exception", "accessexception", "Access control exception", debuginfo)


def php_error(message: str) -> MoodleError:
    """A raw PHP ``Error`` (no error code), for example a property set on null."""
    return MoodleError("Error", None, message)
