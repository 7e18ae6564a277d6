"""TLS on a pinned connection (services/outbound/http.py): the socket goes to the checked address while
SNI and the certificate check use the URL's name. An HTTPS loopback receiver serves certificates
from a throwaway CA that `outbound` trusts for these tests only."""
import ssl
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.receiver import Receiver
from webapp.services import outbound

NAME = "hooks.example.test"


def _certificate(name: str, issuer_key=None, issuer_name=None, *, ca=False):
    """(certificate, key) for `name`, signed by the issuer (self-signed when none)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name or subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256()), key


def _write(tmp_path, stem, certificate, key):
    cert_file, key_file = tmp_path / f"{stem}.pem", tmp_path / f"{stem}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def app_config():
    return {"TOCSIN_ALLOWED_NETWORKS": "127.0.0.0/8"}


@pytest.fixture(autouse=True)
def resolver(monkeypatch):
    """`hooks.example.test` exists only here: a request can arrive only through the pinned address."""
    monkeypatch.setattr(outbound.targets, "resolve_host", lambda host, port: ["127.0.0.1"] if host == NAME else [])


@pytest.fixture
def ca(tmp_path, monkeypatch):
    """A test CA, trusted by outbound for this test; returns a signer of server certificates."""
    ca_certificate, ca_key = _certificate("Tocsin test CA", ca=True)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca_certificate.public_bytes(serialization.Encoding.PEM))
    monkeypatch.setattr(outbound.http, "TLS_VERIFY", str(ca_file))
    return lambda name: _write(tmp_path, name, *_certificate(name, ca_key, ca_certificate.subject))


@pytest.fixture
def https_receiver():
    """A loopback receiver serving TLS with the certificate given to `serve(cert, key)`;
    `.server_names` lists the SNI names clients sent."""
    receiver = Receiver()
    receiver.server_names = []

    def serve(cert_file, key_file):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        context.sni_callback = lambda _socket, name, _context: receiver.server_names.append(name)
        receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
        return receiver.start()

    receiver.serve = serve
    yield receiver
    if receiver.thread.is_alive():
        receiver.stop()


def _send_test(api, port) -> dict:
    created = api.post("/endpoints", json={"name": "TLS", "url": f"https://{NAME}:{port}/hook"})
    assert created.status_code == 201, created.json
    return api.post(f"/endpoints/{created.json['id']}/test").json


def test_pinned_tls_connection_sends_sni_and_checks_the_certificate_for_the_name(api, ca, https_receiver):
    https_receiver.serve(*ca(NAME))
    outcome = _send_test(api, https_receiver.port)
    assert outcome["outcome"] == "success", outcome
    [request] = https_receiver.wait_for(1)
    assert request.headers["host"] == f"{NAME}:{https_receiver.port}"
    assert https_receiver.server_names == [NAME]


def test_certificate_for_another_name_is_a_tls_error(api, ca, https_receiver):
    https_receiver.serve(*ca("other.example.test"))
    outcome = _send_test(api, https_receiver.port)
    assert outcome["outcome"] == "tls"
    assert outcome["error"] == f"TLS error: hostname '{NAME}' doesn't match 'other.example.test'"
    assert https_receiver.requests == []


def test_certificate_from_an_unknown_issuer_is_a_tls_error(api, ca, https_receiver, tmp_path):
    https_receiver.serve(*_write(tmp_path, "self-signed", *_certificate(NAME)))
    outcome = _send_test(api, https_receiver.port)
    assert outcome["outcome"] == "tls"
    assert outcome["error"].startswith("TLS error: certificate verify failed")
    assert https_receiver.requests == []
