"""The relay client's TLS and AUTH against a sink on loopback: STARTTLS with
certificate verification (refused for an unverifiable certificate, accepted when
relay.tls_verify is false or the certificate is trusted, refused for a name
mismatch), implicit TLS, AUTH PLAIN, no AUTH over plaintext (refused at `relay set`
and `config set`, allowed to a loopback relay or with --allow-plaintext-auth), and
`shicksctl relay test` reporting each step.

Expectations: issue 6, design.md 8, interface.md (shicksctl relay test)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

PASSWORD = "Relay-Pw-0f-the-sink"


def send(d, rcpts, sender="alice@ex.test"):
    fx.send_mail(d, rcpts, b"From: <alice@ex.test>\r\nSubject: tls test\r\n\r\nhello\r\n", sender=sender,
                 mail_options=())


class TlsCase(unittest.TestCase):
    env = {}

    def setUp(self):
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            self.d = fx.Daemon(self)
            self.d.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.d.add_user("alice", "pw", addresses=["alice@ex.test"])
        self.ok("config", "set", "relay.retry_initial_seconds", "3600")

    def ok(self, *args, **kw):
        rc, out, err = self.d.ctl(*args, **kw)
        self.assertEqual(rc, 0, f"shicksctl {' '.join(args)}: {err}")
        return out

    def deferred_error(self):
        fx.wait_until(lambda: self.d.relay_queue() and self.d.relay_queue()[0]["attempts"] == 1, 20,
                      what="a failed attempt")
        return self.d.ctl_json("queue", "list")["entries"][0]["last_error"]

    def delivered(self, sink, n=1):
        msgs = sink.wait_messages(n)
        fx.wait_until(lambda: self.d.count("relay_queue") == 0, 15, what="the queue to empty")
        return msgs


class StartTls(TlsCase):
    def test_unverifiable_certificate_refused_then_accepted_without_verification(self):
        sink = fx.SmtpSink(self, tls="starttls")
        fx.relay_to(self.d, sink, tls="starttls")
        send(self.d, ["bob@far.example"])
        err = self.deferred_error()
        self.assertIn("TLS handshake with the relay failed", err)
        self.assertIn("certificate verify failed", err)
        self.assertEqual(sink.messages, [])
        self.assertNotIn("MAIL FROM:<alice@ex.test>", " ".join(sink.commands))
        self.ok("config", "set", "relay.tls_verify", "false")
        self.ok("queue", "flush")
        m = self.delivered(sink)[0]
        self.assertTrue(m["tls"])
        self.assertEqual(m["rcpts"], ["bob@far.example"])

    def test_no_starttls_offered_is_a_failure_not_plaintext(self):
        sink = fx.SmtpSink(self)  # plaintext only
        fx.relay_to(self.d, sink, tls="starttls", verify=False)
        send(self.d, ["bob@far.example"])
        self.assertEqual(self.deferred_error(), "the relay does not offer STARTTLS (relay.tls is starttls)")
        self.assertEqual(sink.messages, [])

    def test_auth_plain_after_starttls(self):
        sink = fx.SmtpSink(self, tls="starttls", auth=("relayuser", PASSWORD))
        fx.relay_to(self.d, sink, tls="starttls", verify=False)
        self.ok("relay", "set", "--host", sink.host, "--username", "relayuser", "--password-stdin",
                input=PASSWORD + "\n")
        send(self.d, ["bob@far.example"])
        m = self.delivered(sink)[0]
        self.assertEqual(m["auth_user"], "relayuser")
        self.assertTrue(m["tls"])
        self.assertNotIn(PASSWORD, self.d.log())


    def test_relay_test_reports_each_step(self):
        rc, out, err = self.d.ctl("relay", "test")
        self.assertEqual(rc, 1)
        self.assertIn("no relay is configured", err)
        sink = fx.SmtpSink(self, tls="starttls", auth=("relayuser", PASSWORD))
        fx.relay_to(self.d, sink, tls="starttls")
        self.ok("relay", "set", "--host", sink.host, "--username", "relayuser", "--password-stdin",
                input=PASSWORD + "\n")
        # Verification on: the self-signed certificate fails the test.
        rc, out, err = self.d.ctl("relay", "test")
        self.assertEqual(rc, 1, out + err)
        self.assertRegex(out, r"(?m)^connect\s+ok\s+connected to 127\.0\.0\.1:\d+$")
        self.assertRegex(out, r"(?m)^greeting\s+ok\s+220 sink\.test ESMTP$")
        self.assertRegex(out, r"(?m)^STARTTLS\s+ok\s+220 2\.0\.0 Ready to start TLS$")
        self.assertRegex(out, r"(?m)^relay test FAILED: TLS handshake with the relay failed: .*certificate verify failed")
        # Verification off: every step passes.
        self.ok("config", "set", "relay.tls_verify", "false")
        rc, out, err = self.d.ctl("relay", "test")
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"(?m)^EHLO mx\.test\.example\s+ok\s+250-sink\.test$")
        self.assertRegex(out, r"(?m)^TLS\s+ok\s+TLSv1\.[23] ")
        self.assertRegex(out, r"(?m)^\s+certificate not verified \(relay\.tls_verify is false\)$")
        self.assertRegex(out, r"(?m)^AUTH PLAIN \(credentials hidden\)\s+ok\s+235 2\.7\.0")
        self.assertRegex(out, r"(?m)^QUIT\s+ok\s+221 2\.0\.0 Bye$")
        self.assertTrue(out.endswith("relay test passed\n"), out)
        rc, js, err = self.d.ctl("relay", "test", json=True)
        self.assertEqual(rc, 0)
        import json
        doc = json.loads(js)
        self.assertTrue(doc["passed"])
        self.assertEqual([s["step"] for s in doc["steps"]],
                         ["connect", "greeting", "EHLO mx.test.example", "STARTTLS", "TLS", "EHLO mx.test.example",
                          "AUTH PLAIN (credentials hidden)", "QUIT"])
        for text in (out, js, self.d.log()):
            self.assertNotIn(PASSWORD, text)
        self.assertEqual(sink.messages, [])
        # A wrong password fails at AUTH, with the relay's answer.
        self.ok("relay", "set", "--host", sink.host, "--username", "relayuser", "--password-stdin", input="wrong\n")
        rc, out, err = self.d.ctl("relay", "test")
        self.assertEqual(rc, 1)
        self.assertIn("relay test FAILED: authentication failed: 535 5.7.8", out)


def refusal(host):
    return (f"refusing to send the relay password without TLS to {host}, which is not a loopback address: use "
            "--tls starttls or tls, or --allow-plaintext-auth for a relay on a trusted network")


def loopback_name():
    """A host name other than "localhost" that resolves to a loopback address (this
    machine's name usually does, through /etc/hosts), or None."""
    import socket
    name = socket.gethostname()
    if not name or name.lower().rstrip(".") == "localhost":
        return None
    try:
        addrs = {a[4][0] for a in socket.getaddrinfo(name, 25, socket.AF_INET, socket.SOCK_STREAM)}
    except OSError:
        return None
    return name if addrs and all(a.startswith("127.") for a in addrs) else None


class PlaintextAuth(TlsCase):
    def refused(self, *args, input=None):
        rc, out, err = self.d.ctl(*args, input=input)
        self.assertEqual(rc, 1, out + err)
        self.assertEqual(err.count("\n"), 1, err)
        return err.rstrip("\n").removeprefix("shicksctl: ")

    def relay(self):
        return self.d.ctl_json("relay", "show")

    def test_refused_at_relay_set_and_config_set(self):
        host = "smtp.isp.example"
        self.assertEqual(self.refused("relay", "set", "--host", host, "--tls", "none", "--username", "u",
                                      "--password-stdin", input=PASSWORD + "\n"), refusal(host))
        self.assertFalse(self.relay()["enabled"])  # nothing was written
        self.assertEqual(self.relay()["username"], "")
        # The same settings with TLS are fine; switching TLS off afterwards is refused.
        self.ok("relay", "set", "--host", host, "--tls", "starttls", "--username", "u", "--password-stdin",
                input=PASSWORD + "\n")
        self.assertEqual(self.refused("config", "set", "relay.tls", "none"), refusal(host))
        self.assertEqual(self.relay()["tls"], "starttls")
        # The admin allows it for a relay on a trusted network.
        out = self.ok("relay", "set", "--host", host, "--tls", "none", "--allow-plaintext-auth")
        self.assertRegex(out, r"(?m)^plaintext AUTH allowed:\s+true$")
        self.assertEqual(self.relay()["allow_plaintext_auth"], "true")
        self.assertRegex(self.ok("relay", "show"), r"(?m)^plaintext AUTH allowed:\s+true$")
        # Not kept: a later relay set without the flag is refused and changes nothing.
        self.assertEqual(self.refused("relay", "set", "--host", host, "--port", "2525"), refusal(host))
        self.assertEqual((self.relay()["port"], self.relay()["allow_plaintext_auth"]), ("25", "true"))
        # Piecewise: withdrawing the permission, or moving the host, is checked too.
        self.assertEqual(self.refused("config", "set", "relay.allow_plaintext_auth", "false"), refusal(host))
        self.ok("config", "set", "relay.host", "relay.lan.example")  # the permission stands
        self.ok("config", "set", "relay.tls", "starttls")
        self.ok("config", "set", "relay.allow_plaintext_auth", "false")
        self.assertEqual(self.refused("config", "set", "relay.tls", "none"), refusal("relay.lan.example"))
        # Without a username there is no password to protect.
        self.ok("relay", "set", "--host", host, "--username", "")
        self.ok("config", "set", "relay.tls", "none")
        self.assertEqual(self.refused("config", "set", "relay.username", "u"), refusal(host))
        # relay clear forgets the permission with the rest.
        self.ok("relay", "set", "--host", host, "--allow-plaintext-auth")
        self.ok("relay", "clear")
        self.assertEqual(self.relay()["allow_plaintext_auth"], "false")
        log = self.d.log()
        self.assertRegex(log, r"event=control\.request .*cmd=relay\.set .*result=refused reason=\"refusing to send")
        self.assertNotIn(PASSWORD, log)

    def test_loopback_relay_gets_auth_without_tls(self):
        for host in ("localhost", "[::1]", "127.0.0.2"):
            self.ok("relay", "set", "--host", host, "--tls", "none", "--username", "u", "--password-stdin",
                    input=PASSWORD + "\n")
        sink = fx.SmtpSink(self, auth=("relayuser", PASSWORD), auth_plaintext=True)
        self.ok("relay", "set", "--host", sink.host, "--port", str(sink.port), "--tls", "none", "--username",
                "relayuser", "--password-stdin", input=PASSWORD + "\n")
        self.assertEqual(self.relay()["allow_plaintext_auth"], "false")
        rc, out, err = self.d.ctl("relay", "test")
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"(?m)^AUTH PLAIN \(credentials hidden\)\s+ok\s+235 2\.7\.0")
        send(self.d, ["bob@far.example"])
        m = self.delivered(sink)[0]
        self.assertEqual((m["tls"], m["auth_user"]), (False, "relayuser"))
        self.assertNotIn(PASSWORD, self.d.log())

    def test_allowed_plaintext_auth_to_a_named_host(self):
        name = loopback_name()
        if name is None:
            self.skipTest("this machine's name does not resolve to a loopback address")
        sink = fx.SmtpSink(self, auth=("relayuser", PASSWORD), auth_plaintext=True)
        args = ("relay", "set", "--host", name, "--port", str(sink.port), "--tls", "none", "--username", "relayuser",
                "--password-stdin")
        self.assertEqual(self.refused(*args, input=PASSWORD + "\n"), refusal(name))
        self.ok(*args, "--allow-plaintext-auth", input=PASSWORD + "\n")
        rc, out, err = self.d.ctl("relay", "test")
        self.assertEqual(rc, 0, out + err)
        send(self.d, ["bob@far.example"])
        m = self.delivered(sink)[0]
        self.assertEqual((m["tls"], m["auth_user"]), (False, "relayuser"))

    def test_stored_settings_that_cannot_work_fail_clearly(self):
        # Written before relay set refused them (an older version), straight into the table.
        sink = fx.SmtpSink(self, auth=("relayuser", PASSWORD), auth_plaintext=True)
        self.d.stop()
        for k, v in (("relay.host", "smtp.isp.example"), ("relay.port", sink.port), ("relay.tls", "none"),
                     ("relay.username", "relayuser"), ("relay.password", PASSWORD)):
            self.d.set_setting(k, v)
        self.d.start()
        rc, out, err = self.d.ctl("relay", "test")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("relay test FAILED: " + refusal("smtp.isp.example") + "\n", out)
        self.assertNotRegex(out, r"(?m)^connect ")  # no connection is tried
        send(self.d, ["bob@far.example"])
        self.assertEqual(self.deferred_error(), refusal("smtp.isp.example"))
        self.d.wait_log(r"event=relay\.session_failed relay=smtp\.isp\.example .*error=\"refusing to send")
        self.assertEqual(sink.sessions, 0)
        self.assertNotIn(PASSWORD, self.d.log())


class ImplicitTls(TlsCase):
    def test_implicit_tls_with_auth(self):
        sink = fx.SmtpSink(self, tls="implicit", auth=("u1", PASSWORD))
        fx.relay_to(self.d, sink, tls="tls", verify=False)
        self.ok("relay", "set", "--host", sink.host, "--username", "u1", "--password-stdin", input=PASSWORD + "\n")
        send(self.d, ["bob@far.example", "carol@far.example"])
        m = self.delivered(sink)[0]
        self.assertEqual((m["tls"], m["auth_user"], m["rcpts"]), (True, "u1", ["bob@far.example", "carol@far.example"]))


class TrustedCertificate(TlsCase):
    # The daemon trusts the tests' certificate (OpenSSL reads SSL_CERT_FILE).
    env = {"SSL_CERT_FILE": fx.tls_pair()[0]}

    def test_verified_certificate_and_name(self):
        sink = fx.SmtpSink(self, tls="starttls")
        self.ok("relay", "set", "--host", "localhost", "--port", str(sink.port), "--tls", "starttls")
        rc, out, err = self.d.ctl("relay", "test")
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"(?m)^\s+certificate verified for localhost$")
        send(self.d, ["bob@far.example"])
        self.assertTrue(self.delivered(sink)[0]["tls"])

    def test_name_mismatch_refused(self):
        # The certificate names localhost and 127.0.0.1, not 127.0.0.2.
        sink = fx.SmtpSink(self, tls="starttls", host="127.0.0.2")
        fx.relay_to(self.d, sink, tls="starttls")
        send(self.d, ["bob@far.example"])
        self.assertIn("certificate verify failed", self.deferred_error())
        self.assertEqual(sink.messages, [])


if __name__ == "__main__":
    fx.main()
