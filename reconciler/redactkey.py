"""The secret that makes ``--redact`` pseudonyms stable across plans (read at the edge).

Without it a plan's pseudonyms are keyed by the plan's own personal data: stable inside
one plan, different in the next, so a reviewer cannot follow a person from one pull
request to another. With it (``PS2MOODLE_REDACT_KEY``, or a file named by
``PS2MOODLE_REDACT_KEY_FILE``) every plan keys them alike: the same person (key, field
and value) gets the same pseudonym in every plan redacted with that secret, and nobody
without the secret can recompute one from a guessed name. Keep it like any credential;
changing it changes every pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import SecretError

ENV = "PS2MOODLE_REDACT_KEY"
FILE_ENV = "PS2MOODLE_REDACT_KEY_FILE"
#: Shorter secrets can be guessed; 16 characters is the floor the webhook key has too.
MIN_LENGTH = 16
_LABEL = b"ps2moodle redact pseudonyms v1"


def redact_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The pseudonym key from the environment (None when neither variable is set);
    :class:`SecretError` naming the variable or file when it is unusable."""
    env = os.environ if environ is None else environ
    if env.get(ENV):
        secret, where = env[ENV], ENV
    elif env.get(FILE_ENV):
        path = Path(env[FILE_ENV])
        where = f"{FILE_ENV} ({path})"
        try:
            secret = path.read_text("utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(f"{where}: cannot read the redaction key: {exc}") from None
    else:
        return None
    if len(secret) < MIN_LENGTH:
        raise SecretError(f"{where}: the redaction key must be at least {MIN_LENGTH} characters")
    return derive(secret.encode("utf-8"))


def derive(secret: bytes) -> bytes:
    """The MAC key of pseudonyms: HMAC-SHA256 of a fixed label under the secret, so the
    secret itself never keys anything else."""
    return hmac.new(secret, _LABEL, hashlib.sha256).digest()
