"""A client that comes back resumes its TLS session instead of a full handshake: with
TLS 1.3 tickets and with TLS 1.2 session ids and tickets, on SMTPS and POP3S and after
STARTTLS and STLS. A mail client that polls every few minutes, and a relay that
reconnects, then skip the expensive part of the handshake (the server's signature).
An ECDSA certificate (what scripts/run makes by default) serves both versions, with
the ECDHE-ECDSA suite first on TLS 1.2.

Expectations: shicksd(8) TLS; scripts/run --key."""

import os
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


def read_line(sock):
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise EOFError(data)
        data += chunk
    return data


def read_smtp_reply(sock):
    while True:
        line = read_line(sock)
        if line[3:4] != b"-":
            return line


class Resumption(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None)
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def connect(self, service, ctx, session=None):
        """A TLS connection to `service`, its first line read (the greeting, or the
        answer to NOOP after STARTTLS, to CAPA after STLS)."""
        raw = socket.create_connection(("127.0.0.1", self.d.ports[service]), timeout=15)
        if service in ("smtps", "pop3s"):
            s = ctx.wrap_socket(raw, session=session)
            first = read_line(s)
        elif service == "smtp":
            read_smtp_reply(raw)
            raw.sendall(b"EHLO client.example\r\n")
            read_smtp_reply(raw)
            raw.sendall(b"STARTTLS\r\n")
            self.assertTrue(read_smtp_reply(raw).startswith(b"220"))
            s = ctx.wrap_socket(raw, session=session)
            s.sendall(b"NOOP\r\n")
            first = read_smtp_reply(s)
        else:  # pop3, STLS
            read_line(raw)
            raw.sendall(b"STLS\r\n")
            self.assertTrue(read_line(raw).startswith(b"+OK"))
            s = ctx.wrap_socket(raw, session=session)
            s.sendall(b"CAPA\r\n")  # NOOP is for the TRANSACTION state
            first = read_line(s)
        return s, first

    def check(self, service, ok):
        for version in VERSIONS:
            with self.subTest(service=service, version=version.name):
                ctx = fx.unverified_tls_context()
                ctx.minimum_version = ctx.maximum_version = version
                s, first = self.connect(service, ctx)
                self.assertTrue(first.startswith(ok), first)
                self.assertFalse(s.session_reused)
                session = s.session  # with TLS 1.3, the ticket came with the first answer
                s.close()
                self.assertIsNotNone(session)
                for _ in range(2):
                    s, first = self.connect(service, ctx, session=session)
                    self.assertTrue(first.startswith(ok), first)
                    self.assertTrue(s.session_reused, f"{service} {version.name}: a full handshake again")
                    session = s.session
                    s.close()

    def test_smtps(self):
        self.check("smtps", b"220 ")

    def test_starttls(self):
        self.check("smtp", b"250 ")

    def test_pop3s(self):
        self.check("pop3s", b"+OK")

    def test_stls(self):
        self.check("pop3", b"+OK")


class EcdsaCertificate(unittest.TestCase):
    def test_an_ecdsa_pair_serves_tls_1_2_and_1_3(self):
        tmp = tempfile.mkdtemp(prefix="ecdsa.", dir=fx.test_tmp())
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        # the same command as scripts/run --key ecdsa
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        os.chmod(tmp, 0o755)
        d = fx.Daemon(self, overrides={"tls.cert_file": cert, "tls.key_file": key})
        d.start()
        for version, suite in ((ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256"),
                               (ssl.TLSVersion.TLSv1_3, "TLS_AES_128_GCM_SHA256")):
            ctx = fx.unverified_tls_context()
            ctx.minimum_version = ctx.maximum_version = version
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", d.ports["smtps"]), timeout=15)) as s:
                self.assertTrue(read_line(s).startswith(b"220 "))
                self.assertEqual(s.cipher()[0], suite)


if __name__ == "__main__":
    unittest.main(verbosity=2)
