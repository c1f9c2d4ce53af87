"""The TLS policy of every listener and of the relay client: TLS 1.2 offers only
AEAD suites with ECDHE (no CBC), the server's order of preference decides, and the
relay client refuses a smarthost that offers only CBC suites.

Expectations: shicksd(8) TLS."""

import os
import poplib
import smtplib
import socket
import ssl
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

CBC = ["AES128-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384"]
# Offered by the client in the reverse of the server's order.
CLIENT_ORDER = "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"
SERVER_CHOICE = "ECDHE-RSA-AES128-GCM-SHA256"


def tls12_context(ciphers):
    ctx = fx.unverified_tls_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
    return ctx


class Listeners(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon()
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def handshake(self, service, ciphers):
        """The negotiated (cipher, version) over implicit TLS; raises ssl.SSLError."""
        raw = socket.create_connection(("127.0.0.1", self.d.ports[service]), timeout=15)
        with tls12_context(ciphers).wrap_socket(raw) as s:
            return s.cipher()[0], s.version()

    def test_cbc_suites_are_refused_on_smtps_and_pop3s(self):
        for service in ("smtps", "pop3s"):
            for cipher in CBC:
                with self.subTest(service=service, cipher=cipher):
                    with self.assertRaises(ssl.SSLError):
                        self.handshake(service, cipher)

    def test_aead_suites_are_accepted(self):
        for service in ("smtps", "pop3s"):
            for cipher in ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"):
                with self.subTest(service=service, cipher=cipher):
                    self.assertEqual(self.handshake(service, cipher), (cipher, "TLSv1.2"))

    def test_the_server_order_decides(self):
        for service in ("smtps", "pop3s"):
            with self.subTest(service=service):
                self.assertEqual(self.handshake(service, CLIENT_ORDER), (SERVER_CHOICE, "TLSv1.2"))

    def test_starttls_and_stls_use_the_same_policy(self):
        with smtplib.SMTP("127.0.0.1", self.d.ports["submission"], timeout=15) as s:
            s.ehlo("client.example")
            with self.assertRaises(ssl.SSLError):
                s.starttls(context=tls12_context("ECDHE-RSA-AES128-SHA"))
        with smtplib.SMTP("127.0.0.1", self.d.ports["submission"], timeout=15) as s:
            s.ehlo("client.example")
            s.starttls(context=tls12_context(CLIENT_ORDER))
            self.assertEqual(s.sock.cipher()[0], SERVER_CHOICE)
        p = poplib.POP3("127.0.0.1", self.d.ports["pop3"], timeout=15)
        try:
            with self.assertRaises(ssl.SSLError):
                p.stls(context=tls12_context("AES128-SHA"))
        finally:
            p.sock.close()
        p = poplib.POP3("127.0.0.1", self.d.ports["pop3"], timeout=15)
        try:
            p.stls(context=tls12_context(CLIENT_ORDER))
            self.assertEqual(p.sock.cipher()[0], SERVER_CHOICE)
            p.quit()
        finally:
            p.close()

    def test_tls13_still_works(self):
        raw = socket.create_connection(("127.0.0.1", self.d.ports["smtps"]), timeout=15)
        with fx.unverified_tls_context().wrap_socket(raw) as s:
            self.assertEqual(s.version(), "TLSv1.3")
            self.assertTrue(s.recv(100).startswith(b"220 "))


class RelayClient(unittest.TestCase):
    def test_a_smarthost_offering_only_cbc_is_refused(self):
        d = fx.Daemon(self)
        d.start()
        d.add_user("alice", "pw", addresses=["alice@ex.test"])
        self.assertEqual(d.ctl("config", "set", "relay.retry_initial_seconds", "3600")[0], 0)
        sink = fx.SmtpSink(self, tls="implicit")
        sink.ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        sink.ctx.set_ciphers("ECDHE-RSA-AES128-SHA:AES128-SHA")
        fx.relay_to(d, sink, tls="tls", verify=False)
        fx.send_mail(d, ["bob@far.example"], b"Subject: cbc\r\n\r\nhello\r\n", sender="alice@ex.test", mail_options=())
        fx.wait_until(lambda: sink.messages or (d.relay_queue() and d.relay_queue()[0]["attempts"] == 1), 20,
                      what="the attempt")
        self.assertEqual(sink.messages, [])
        err = d.ctl_json("queue", "list")["entries"][0]["last_error"]
        self.assertIn("TLS handshake with the relay failed", err)
        self.assertEqual(sink.messages, [])

        # The same sink with an AEAD suite is fine.
        sink.ctx.set_ciphers("ECDHE-RSA-AES256-GCM-SHA384")
        self.assertEqual(d.ctl("queue", "flush")[0], 0)
        m = sink.wait_messages(1)[0]
        self.assertTrue(m["tls"])


if __name__ == "__main__":
    unittest.main()
