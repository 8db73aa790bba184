"""Pinning and signing a saved plan: what makes "the plan that was approved" checkable.

The checksum inside ``plan.json`` catches accidents (a truncated copy, an editor, CRLF),
but anyone can recompute it. Two stronger checks sit on top, both optional:

- **Pinning.** ``apply plan.json --expect-checksum sha256:...`` refuses a file whose
  checksum is not the one a reviewer approved (every rendering prints it at the top, so
  the approved pull-request comment carries it).
- **Signing.** With a key only CI holds (``PS2MOODLE_PLAN_KEY``, or a file named by
  ``PS2MOODLE_PLAN_KEY_FILE``), ``plan`` writes ``plan.json.sig``: an HMAC-SHA256 over
  every byte of ``plan.json``. ``apply`` with a key configured refuses a plan without a
  signature or whose signature does not match, so a plan edited and re-sealed by someone
  without the key never runs.

The signature is a file beside the plan, not a member of it: ``plan.json`` is written
and read one line at a time with its checksum line last, and a signature inside it would
have to leave itself out of the bytes it signs (a second, special layout). Beside it, the
signature covers the exact bytes apply reads, and plans made without a key are unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import PlanFileError, SecretError

#: The key itself (CI secret store).
KEY_ENV = "PS2MOODLE_PLAN_KEY"
#: A file holding the key (a mounted secret).
KEY_FILE_ENV = "PS2MOODLE_PLAN_KEY_FILE"
#: Shorter keys are guessable; the webhook key has the same floor.
MIN_KEY_LENGTH = 16
_SCHEME = "hmac-sha256:"
_CHUNK = 1 << 20


def signature_path(plan_path: str | os.PathLike[str]) -> Path:
    """Where the signature of ``plan_path`` lives: ``plan.json.sig`` beside ``plan.json``."""
    path = Path(plan_path)
    return path.with_name(path.name + ".sig")


def signing_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The plan signing key from the environment, or None when none is configured.
    :class:`SecretError` (never showing the key) when it is set but unusable."""
    env = os.environ if environ is None else environ
    if KEY_ENV in env and KEY_FILE_ENV in env:
        raise SecretError(f"set either {KEY_ENV} or {KEY_FILE_ENV}, not both")
    if KEY_ENV in env:
        key, where = env[KEY_ENV].strip(), KEY_ENV
    elif KEY_FILE_ENV in env:
        where = f"{KEY_FILE_ENV} ({env[KEY_FILE_ENV]})"
        try:
            key = Path(env[KEY_FILE_ENV]).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(f"cannot read the plan signing key from {where}: {exc}") from None
    else:
        return None
    if not key:
        raise SecretError(f"the plan signing key in {where} is empty")
    if len(key) < MIN_KEY_LENGTH:
        raise SecretError(f"the plan signing key in {where} is shorter than {MIN_KEY_LENGTH} characters")
    return key.encode("utf-8")


def _mac(path: Path, key: bytes) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            mac.update(chunk)
    return _SCHEME + mac.hexdigest()


def sign_plan(plan_path: str | os.PathLike[str], key: bytes) -> Path:
    """Write the signature of the plan file; returns where. The plan is read in chunks
    (a district's first plan is hundreds of megabytes)."""
    path = Path(plan_path)
    out = signature_path(path)
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text(_mac(path, key) + "\n", encoding="ascii")
        os.replace(tmp, out)
    except OSError as exc:
        raise PlanFileError(f"cannot sign {path}: {exc.strerror}") from None
    return out


def signature_problem(plan_path: str | os.PathLike[str], key: bytes) -> str | None:
    """Why the plan's signature does not prove it was made with ``key``, or None if it does."""
    path = Path(plan_path)
    sig = signature_path(path)
    try:
        written = sig.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return f"it is not signed ({sig.name} is missing) and a plan signing key is configured"
    except (OSError, UnicodeDecodeError) as exc:
        return f"its signature {sig.name} cannot be read: {exc}"
    try:
        made = _mac(path, key)
    except OSError as exc:
        return f"it cannot be read: {exc.strerror}"
    if not written.startswith(_SCHEME):
        return f"its signature {sig.name} is not an {_SCHEME.rstrip(':')} signature"
    if not hmac.compare_digest(written, made):
        return f"its signature {sig.name} does not match its content (altered, or signed with another key)"
    return None


def checksum_problem(expected: str, actual: str) -> str | None:
    """Why a plan's checksum is not the one a reviewer pinned, or None when it is.
    ``expected`` may omit the ``sha256:`` prefix; case does not matter."""
    want = expected.strip().lower()
    want = want if want.startswith("sha256:") else "sha256:" + want
    if hmac.compare_digest(want, actual.lower()):
        return None
    return f"its checksum is {actual}, not the approved {want}"
