"""Transport rules both clients share: no token over plain http except to loopback, a
private CA named in the config, and certificate and name-resolution failures reported by
their cause at once instead of being retried."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.config.loader import load_config
from reconciler.errors import SourceError
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.errors import MoodleError, MoodleTransportError
from reconciler.powerschool.client import PowerSchoolClient
from reconciler.retry import RetryPolicy
from reconciler.serve.https import HTTPSServer, Reply, Request, tls_context

runner = CliRunner()


def _app(request: Request) -> Reply:
    """A server that is both a PowerSchool token endpoint and a Moodle site."""
    if request.path == "/oauth/access_token":
        return 200, {"Content-Type": "application/json"}, b'{"access_token": "t", "expires_in": 3600}'
    if request.path == "/webservice/rest/server.php":
        return 200, {"Content-Type": "application/json"}, json.dumps({"userid": 2}).encode()
    return 200, {"Content-Type": "application/json"}, b'{"resource": {"count": 3}}'


def _serve(tmp_path: Path, cert: bytes, key: bytes) -> HTTPSServer:
    chain, private = tmp_path / "server.pem", tmp_path / "server.key"
    chain.write_bytes(cert)
    private.write_bytes(key)
    return HTTPSServer(_app, tls_context(chain, private), port=0)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def private_ca_server(ca: trustme.CA, tmp_path: Path) -> Iterator[HTTPSServer]:
    """A server whose certificate a private CA signed (unknown to the system's trust store)."""
    cert = ca.issue_cert("127.0.0.1")
    chain = b"".join(blob.bytes() for blob in cert.cert_chain_pems)
    with _serve(tmp_path, chain, cert.private_key_pem.bytes()) as server:
        yield server


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[HTTPSServer]:
    """A server presenting a self-signed certificate (a CA's own, used as a leaf)."""
    own = trustme.CA()
    with _serve(tmp_path, own.cert_pem.bytes(), own.private_key_pem.bytes()) as server:
        yield server


# -- plain http ----------------------------------------------------------------------------


def test_the_moodle_client_refuses_plain_http_to_another_host() -> None:
    with pytest.raises(MoodleError, match=r"refusing plain-http Moodle URL http://moodle\.example\.org: the web"):
        MoodleClient("http://moodle.example.org", "a-token")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost/moodle", "http://[::1]:9000"])
def test_plain_http_to_loopback_is_allowed_for_an_emulator(url: str) -> None:
    MoodleClient(url, "a-token").close()


def test_doctor_names_the_plain_http_url_where_it_is_written(tmp_path: Path) -> None:
    config = tmp_path / "ps2moodle.yaml"
    config.write_text(
        "version: 1\nmoodle:\n  url: http://moodle.example.org\n  token: ${MOODLE_TOKEN}\n"
        "connections:\n  - name: d\n    powerschool:\n      url: https://ps.example.org\n"
        "      client_id: ${PS_ID}\n      client_secret: ${PS_SECRET}\n    schools: [100]\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["doctor", str(config)], env={"MOODLE_TOKEN": "t", "PS_ID": "i", "PS_SECRET": "s"})
    assert result.exit_code == 1
    assert f"{config}:3:8: moodle.url: refusing plain-http Moodle URL http://moodle.example.org" in result.output
    assert "Traceback" not in result.output


# -- certificates --------------------------------------------------------------------------


def test_a_self_signed_certificate_is_named_and_not_retried(self_signed_server: HTTPSServer) -> None:
    sleeps: list[float] = []
    with PowerSchoolClient(self_signed_server.url, "id", "secret", sleep=sleeps.append) as client:
        with pytest.raises(SourceError, match=r"certificate verify failed: self-signed certificate"):
            client.get("/ws/v1/district/school/count", kind="count")
        assert client.stats["retry"] == 0
    assert sleeps == []


def test_a_private_ca_is_trusted_only_when_named(private_ca_server: HTTPSServer, ca_file: str) -> None:
    sleeps: list[float] = []
    with MoodleClient(private_ca_server.url, "t", sleep=sleeps.append) as client:
        with pytest.raises(MoodleTransportError, match=r"certificate verify failed: unable to get local issuer"):
            client.call("core_webservice_get_site_info")
        assert client.stats.total == 0
    assert sleeps == []
    with MoodleClient(private_ca_server.url, "t", ca_file=ca_file) as client:
        assert client.call("core_webservice_get_site_info") == {"userid": 2}
    with PowerSchoolClient(private_ca_server.url, "id", "secret", ca_file=ca_file) as ps:
        assert ps.get("/ws/v1/district/school/count", kind="count") == {"resource": {"count": 3}}


def test_ca_file_is_read_from_the_config_relative_to_it(tmp_path: Path, ca_file: str) -> None:
    (tmp_path / "ca.pem").write_bytes(Path(ca_file).read_bytes())
    config = tmp_path / "ps2moodle.yaml"
    config.write_text(
        "version: 1\nmoodle:\n  url: https://moodle.example.org\n  token: ${MOODLE_TOKEN}\n  ca_file: ca.pem\n"
        "connections:\n  - name: d\n    powerschool:\n      url: https://ps.example.org\n"
        "      client_id: ${PS_ID}\n      client_secret: ${PS_SECRET}\n      ca_file: ./ca.pem\n"
        "    schools: [100]\n",
        encoding="utf-8",
    )
    loaded = load_config(config)
    assert loaded.moodle.ca_file == loaded.connections[0].powerschool.ca_file == str(tmp_path / "ca.pem")


def test_an_unusable_ca_file_is_named() -> None:
    with pytest.raises(SourceError, match=r"cannot use PowerSchool ca_file /nonexistent/ca\.pem"):
        PowerSchoolClient("https://ps.example.org", "id", "secret", ca_file="/nonexistent/ca.pem")
    with pytest.raises(MoodleError, match=r"cannot use Moodle ca_file /nonexistent/ca\.pem"):
        MoodleClient("https://moodle.example.org", "t", ca_file="/nonexistent/ca.pem")


# -- name resolution -----------------------------------------------------------------------


def test_a_host_that_does_not_resolve_is_named_and_not_retried() -> None:
    # .invalid never resolves (RFC 6761).
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=5)
    ps = PowerSchoolClient("https://ps.ps2moodle.invalid", "id", "secret", retry=policy, sleep=sleeps.append)
    with ps, pytest.raises(SourceError, match=r"cannot resolve host ps\.ps2moodle\.invalid"):
        ps.get("/ws/v1/district/school/count", kind="count")
    client = MoodleClient("https://moodle.ps2moodle.invalid", "t", sleep=sleeps.append)
    with client, pytest.raises(MoodleTransportError, match=r"cannot resolve host moodle\.ps2moodle\.invalid"):
        client.call("core_webservice_get_site_info")
    assert sleeps == []
