"""The client's encoding and error parsing agree with a real Moodle 4.5 (golden recordings).

Every recorded request is rebuilt as Python values, encoded by the client and compared
field by field with what was sent to the real site; every recorded answer is replayed
through the client and must come back as the same value or the matching typed error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from reconciler.model import OWNED_PREFIX, Key, Kind, User
from reconciler.moodle.client import MoodleClient, encode
from reconciler.moodle.errors import (
    AccessDenied,
    InvalidParameter,
    InvalidToken,
    MoodleResponseError,
    PasswordPolicy,
    UnknownFunction,
)
from reconciler.moodle.passwords import NewPassword
from reconciler.moodle.roles import RoleMap
from reconciler.moodle.writer import MoodleWriter
from reconciler.plan.model import Action, Change

_TOKEN = "0123456789abcdef0123456789abcdee"
_PART = re.compile(r"\[([^\]]*)\]")


def _typed(text: str) -> Any:
    """A recorded form value as the Python value a caller would pass."""
    if re.fullmatch(r"-?\d+", text) and str(int(text)) == text:
        return int(text)
    return text


def _unflatten(params: dict[str, str]) -> dict[str, Any]:
    """PHP bracket names back into nested values (lists where indexes are 0..n-1)."""
    root: dict[str, Any] = {}
    for name, value in params.items():
        head = name.split("[", 1)[0]
        path = [head, *_PART.findall(name[len(head) :])]
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _typed(value)

    def listify(value: Any) -> Any:
        if isinstance(value, dict):
            value = {k: listify(v) for k, v in value.items()}
            if value and list(value) == [str(i) for i in range(len(value))]:
                return list(value.values())
        return value

    return {k: listify(v) for k, v in root.items()}


def _sendable(record: dict[str, Any]) -> bool:
    meta = record.get("request_meta", {})
    # The client always POSTs JSON-format requests; GET and XML cases are not its to send.
    return "params" in record and "http_method" not in meta and "moodlewsrestformat" not in meta


def test_encoding_matches_every_recorded_request(golden_records: list[dict[str, Any]]) -> None:
    checked = 0
    for record in golden_records:
        if "params" not in record:
            continue
        params = record["params"]
        fields = encode(_unflatten(params))
        assert dict(fields) == params, record["case"]
        assert len(fields) == len(params), record["case"]
        # Indexes of every list go 0, 1, 2... in the order they are sent.
        seen: dict[str, int] = {}
        for name, _ in fields:
            for match in re.finditer(r"\[(\d+)\]", name):
                prefix = name[: match.start()]
                index = int(match.group(1))
                assert index in (seen.get(prefix, -1), seen.get(prefix, -1) + 1), (record["case"], name)
                seen[prefix] = index
        checked += 1
    assert checked > 200


def test_encoding_rules() -> None:
    fields = encode(
        {
            "field": "idnumber",
            "values": ["a", "b"],
            "users": [{"createpassword": True, "suspended": False, "idnumber": None}],
        }
    )
    assert fields[-1] == ("field", "idnumber"), "scalars go last so a cut request fails loudly"
    assert ("users[0][createpassword]", "1") in fields
    assert ("users[0][suspended]", "0") in fields
    assert not any("idnumber]" in name for name, _ in fields)
    with pytest.raises(ValueError, match="empty list"):
        encode({"users": [{"customfields": []}]})


def _expected_error(body: dict[str, Any]) -> type[MoodleResponseError]:
    code = body.get("errorcode", "")
    if code == "invalidtoken":
        return InvalidToken
    if code in ("accessexception", "wsaccessusersuspended"):
        return AccessDenied
    if code == "invalidrecord" and "external_functions" in body["message"]:
        return UnknownFunction
    if code == "invalidparameter":
        return InvalidParameter
    if code.startswith("<div>"):
        return PasswordPolicy
    return MoodleResponseError


def _replay_client(record: dict[str, Any], token: str) -> MoodleClient:
    function = record.get("function") or ""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.url.path == "/webservice/rest/server.php"
        form = parse_qsl(request.content.decode(), keep_blank_values=True)
        sent = dict(form)
        assert len(sent) == len(form), "a field name was sent twice"
        assert sent.pop("wstoken") == token
        assert sent.pop("wsfunction") == function
        assert sent.pop("moodlewsrestformat") == "json"
        assert sent == record["params"], record["case"]
        return httpx.Response(record["status"], content=json.dumps(record["response"]).encode())

    return MoodleClient("https://moodle.test/", token, transport=httpx.MockTransport(handler), retries=0)


def test_every_recorded_answer_replays(golden_records: list[dict[str, Any]]) -> None:
    replayed = 0
    for record in golden_records:
        if not _sendable(record):
            continue
        token = record.get("request_meta", {}).get("wstoken", _TOKEN)
        response = record["response"]
        function = record.get("function") or ""
        params = _unflatten(record["params"])
        with _replay_client(record, token) as client:
            if isinstance(response, dict) and "exception" in response:
                with pytest.raises(MoodleResponseError) as caught:
                    client.call(function, params)
                error = caught.value
                assert type(error) is _expected_error(response), record["case"]
                assert error.errorcode == response.get("errorcode", "")
                assert error.exception == response["exception"]
                if "debuginfo" in response:
                    assert error.debuginfo == " ".join(response["debuginfo"].split())
                    assert error.debuginfo in str(error)
                assert token not in str(error) or not token
                assert function in str(error)
            else:
                assert client.call(function, params) == response, record["case"]
        replayed += 1
    assert replayed > 200


def test_password_policy_reason_is_plain_text(golden_records: list[dict[str, Any]]) -> None:
    record = next(r for r in golden_records if r["case"].startswith("weak password"))
    with _replay_client(record, _TOKEN) as client, pytest.raises(PasswordPolicy) as caught:
        client.call("core_user_create_users", _unflatten(record["params"]))
    assert "<div>" not in str(caught.value)
    assert "Passwords must be at least 8 characters long." in str(caught.value)


def test_invalid_parameter_without_debuginfo_says_how_to_see_it(golden_records: list[dict[str, Any]]) -> None:
    record = next(
        r
        for r in golden_records
        if r["_source"].startswith("production") and r["case"] == "duplicate username" and "params" in r
    )
    with _replay_client(record, _TOKEN) as client, pytest.raises(InvalidParameter) as caught:
        client.call("core_user_create_users", _unflatten(record["params"]))
    assert caught.value.debuginfo is None
    assert "debugusers" in str(caught.value)


def test_the_recorded_silent_truncation_is_detected(golden_dir: Path) -> None:
    """The real site answered 714 ids for 1,000 users (PHP kept 5,001 of 7,003 fields): a
    client configured with too high a max_input_vars reports the 286 it lost."""
    lines = (golden_dir / "production" / "_max_input_vars.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    assert record["form_vars_sent"] == 7003
    answered = record["response"]["_list_len"]
    created = [{"id": 2003 + i, "username": f"tc{i:05d}"} for i in range(answered)]

    def site(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(created).encode())

    users = [
        User(
            Key(Kind.USER, f"{OWNED_PREFIX}tc:{i}"),
            username=f"tc{i:05d}",
            firstname="F",
            lastname="L",
            email=f"tc{i}@example.org",
        )
        for i in range(1000)
    ]
    with MoodleClient(
        "https://moodle.test", _TOKEN, transport=httpx.MockTransport(site), max_input_vars=100_000, batch_size=1000
    ) as client:
        # One worker: the 1,000 users go in the one call the site recorded.
        writer = MoodleWriter(client, roles=RoleMap(), passwords=lambda user: NewPassword(generate=True), concurrency=1)
        changes = [Change(Action.CREATE, u.key, None, u) for u in users]
        ids: dict[Key, int] = {}
        outcomes = writer.execute(Kind.USER, Action.CREATE, changes, ids)
    assert sum(o.ok for o in outcomes) == answered == len(ids) == 714
    assert all("sent 1000 items but Moodle answered for 714" in str(o.error) for o in outcomes[answered:])
