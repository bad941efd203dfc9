"""TLS for the tests: a throwaway CA with a server certificate for 127.0.0.1, and a small
TLS-terminating proxy that puts a server with that certificate in front of a plain port of the
private mail stack (IMAPS in front of Dovecot, SMTPS in front of Postfix's submission).

The ``certificates`` fixture (module scope) is registered by the conftest.py of each test folder
that uses it (tests/servers, tests/unit/mailbox); it calls `make_certificates`."""

from __future__ import annotations

import ipaddress
import select
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path


@dataclass(frozen=True)
class Certificates:
    """PEM files: the CA's certificate, and the server's certificate and key it signed."""

    ca_file: str
    cert_file: str
    key_file: str


def make_certificates(folder: Path) -> Certificates:
    """A throwaway CA and a server certificate it signed for 127.0.0.1 only, written to
    ``folder``; valid from an hour ago for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ooo test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certificates(
        str(folder / "ca.pem"), str(folder / "server.pem"), str(folder / "server.key")
    )
    Path(paths.ca_file).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    Path(paths.cert_file).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(paths.key_file).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class TlsProxy:
    """Terminates TLS on a loopback port and relays the plain bytes to ``upstream_port`` (e.g.
    Dovecot's IMAP port): a TLS server with a certificate of our choosing in front of the real
    daemon."""

    def __init__(self, upstream_port: int, certificates: Certificates) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certificates.cert_file, certificates.key_file)
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.closing = threading.Event()
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._relay, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _relay(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            conn.close()  # the client refused our certificate: that is what some tests want
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
        # One thread per connection does both directions: an SSL object must not be read
        # and written from two threads at once.
        with tls, upstream:
            tls.setblocking(False)
            upstream.setblocking(False)
            while not self.closing.is_set():
                readable, _, _ = select.select([tls, upstream], [], [], 0.2)
                try:
                    if tls in readable or tls.pending():
                        data = tls.recv(65536)
                        if not data:
                            return
                        upstream.setblocking(True)
                        upstream.sendall(data)
                        upstream.setblocking(False)
                    if upstream in readable:
                        data = upstream.recv(65536)
                        if not data:
                            return
                        tls.setblocking(True)
                        tls.sendall(data)
                        tls.setblocking(False)
                except (ssl.SSLWantReadError, BlockingIOError):
                    continue
                except OSError:
                    return

    def close(self) -> None:
        self.closing.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(5)
