"""Plan signatures and checksum pins (reconciler.signing): the key's sources and errors,
and a signature that covers every byte of the plan file."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import SecretError
from reconciler.render.files import save_plan
from reconciler.signing import (
    KEY_ENV,
    KEY_FILE_ENV,
    checksum_problem,
    sign_plan,
    signature_path,
    signature_problem,
    signing_key,
)
from tests.support.plans import sample_doc

KEY = b"a-test-key-of-32-characters-long"


def _signed(tmp_path: Path) -> Path:
    plan = save_plan(sample_doc(), tmp_path).json
    assert sign_plan(plan, KEY) == tmp_path / "plan.json.sig"
    return plan


def test_the_key_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    assert signing_key({}) is None
    assert signing_key({KEY_ENV: " " + KEY.decode() + "\n"}) == KEY
    key_file = tmp_path / "plan.key"
    key_file.write_text(KEY.decode() + "\n", encoding="utf-8")
    assert signing_key({KEY_FILE_ENV: str(key_file)}) == KEY


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({KEY_ENV: "  "}, f"the plan signing key in {KEY_ENV} is empty"),
        ({KEY_ENV: "tooshort"}, f"the plan signing key in {KEY_ENV} is shorter than 16 characters"),
        ({KEY_ENV: "x" * 20, KEY_FILE_ENV: "/k"}, f"set either {KEY_ENV} or {KEY_FILE_ENV}, not both"),
        ({KEY_FILE_ENV: "/nonexistent/plan.key"}, f"cannot read the plan signing key from {KEY_FILE_ENV}"),
    ],
)
def test_an_unusable_key_is_named_never_shown(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SecretError, match="^" + message) as caught:
        signing_key(environ)
    assert "tooshort" not in str(caught.value)


def test_a_signature_covers_every_byte(tmp_path: Path) -> None:
    plan = _signed(tmp_path)
    assert signature_path(plan).read_text(encoding="ascii").startswith("hmac-sha256:")
    assert signature_problem(plan, KEY) is None
    assert signature_problem(plan, b"another-key-of-32-characters-lng") == (
        "its signature plan.json.sig does not match its content (altered, or signed with another key)"
    )
    data = plan.read_bytes()
    for position in (0, len(data) // 2, len(data) - 1):  # first, middle and last byte
        plan.write_bytes(data[:position] + bytes([data[position] ^ 1]) + data[position + 1 :])
        assert signature_problem(plan, KEY) is not None
    plan.write_bytes(data + b"\n")
    assert signature_problem(plan, KEY) is not None
    plan.write_bytes(data)
    assert signature_problem(plan, KEY) is None


def test_a_missing_or_foreign_signature_is_named(tmp_path: Path) -> None:
    plan = _signed(tmp_path)
    signature_path(plan).write_text("sha1:0000\n", encoding="ascii")
    assert signature_problem(plan, KEY) == "its signature plan.json.sig is not an hmac-sha256 signature"
    signature_path(plan).unlink()
    assert signature_problem(plan, KEY) == (
        "it is not signed (plan.json.sig is missing) and a plan signing key is configured"
    )


def test_a_pin_matches_with_or_without_its_prefix_in_any_case() -> None:
    actual = "sha256:" + "ab" * 32
    assert checksum_problem(actual, actual) is None
    assert checksum_problem("AB" * 32, actual) is None
    assert checksum_problem(" sha256:" + "AB" * 32 + " ", actual) is None
    assert checksum_problem("sha256:" + "cd" * 32, actual) == (
        f"its checksum is {actual}, not the approved sha256:{'cd' * 32}"
    )
