"""SMTP AUTH and TLS: submission (AUTH required), SMTPS (implicit TLS), STARTTLS
(RFC 3207: state reset, no second STARTTLS, plaintext pipelined behind it never
executed), AUTH PLAIN and LOGIN (RFC 4954), sender ownership, the Received header
of authenticated mail, plaintext AUTH policy and failed-login throttling.

Expectations: interface.md, design.md 8, RFC 3207/4954/6409, issue 3."""

import base64
import os
import smtplib
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

HOST = "mx.test.example"
TIMEOUT = 15


def message(subject, sender, to):
    return (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n").encode()


def plain_smtp(d, service="submission"):
    return fx.smtp_client(d, service, timeout=TIMEOUT)


def tls_smtp(d, service="submission"):
    s = plain_smtp(d, service)
    s.ehlo()
    s.starttls(context=fx.unverified_tls_context())
    s.ehlo()
    return s


def smtps(d):
    return smtplib.SMTP_SSL("127.0.0.1", d.ports["smtps"], local_hostname="client.example", timeout=TIMEOUT,
                            context=fx.unverified_tls_context())


def auth(s, mech, user, password, initial=True):
    """(code, text) of AUTH mech through smtplib (with or without an initial response)."""
    s.user, s.password = user, password
    obj = {"PLAIN": s.auth_plain, "LOGIN": s.auth_login}[mech]
    try:
        code, text = s.auth(mech, obj, initial_response_ok=initial)
    except smtplib.SMTPAuthenticationError as e:
        code, text = e.smtp_code, e.smtp_error
    return code, text.decode() if isinstance(text, bytes) else text


def populate(d):
    d.add_user("alice", password="alice-pw", addresses=["alice@ex.test", "@alice.test"])
    d.add_user("bob", password="bob-pw", addresses=["bob@ex.test"])


class Submission(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None, hostname=HOST)
        cls.d.start()
        populate(cls.d)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def entries(self, subject):
        return self.d.messages(where=f"m.subject = {fx.sql_quote(subject)}")

    def send_ok(self, s, subject, sender="alice@ex.test", to="bob@ex.test"):
        code, text = fx.smtp_transaction(s, sender, [to], message(subject, sender, to))
        self.assertEqual(code, 250, text)
        return fx.queue_id(text)

    def test_submission_requires_auth_530(self):
        with self.d.smtp("submission") as c:
            c.ehlo()
            r = c.cmd("MAIL FROM:<alice@ex.test>")
            self.assertEqual((r.code, r.status), (530, "5.7.0"), r)
            self.assertEqual(c.cmd("STARTTLS").code, 220)
            c.starttls()
            c.ehlo()
            r = c.cmd("MAIL FROM:<alice@ex.test>")
            self.assertEqual((r.code, r.status), (530, "5.7.0"), r)

    def test_auth_plain_after_starttls_and_received_esmtpsa(self):
        for initial in (True, False):
            with tls_smtp(self.d) as s:
                self.assertIn("auth", s.esmtp_features)
                code, text = auth(s, "PLAIN", "alice", "alice-pw", initial)
                self.assertEqual(code, 235, text)
                self.assertTrue(text.startswith("2.7.0"), text)
                subject = f"auth-plain-{initial}"
                qid = self.send_ok(s, subject)
            es = self.entries(subject)
            self.assertEqual([e["user"] for e in es], ["bob"])
            header, rest = fx.split_received(es[0]["body"])
            self.assertEqual(rest, message(subject, "alice@ex.test", "bob@ex.test"))
            self.assertRegex(header, rf"with ESMTPSA id {qid}\b")
            self.assertIn("authenticated as alice", header)

    def test_auth_login_after_starttls(self):
        for initial in (True, False):
            with tls_smtp(self.d) as s:
                code, text = auth(s, "LOGIN", "alice", "alice-pw", initial)
                self.assertEqual(code, 235, text)
                self.send_ok(s, f"auth-login-{initial}")
            self.assertEqual(len(self.entries(f"auth-login-{initial}")), 1)

    def test_smtplib_login_picks_a_mechanism(self):
        with tls_smtp(self.d) as s:
            code, text = s.login("bob", "bob-pw")
            self.assertEqual(code, 235, text)
            self.send_ok(s, "auth-smtplib-login", sender="bob@ex.test", to="alice@ex.test")

    def test_wrong_password_535_578(self):
        with tls_smtp(self.d) as s:
            code, text = auth(s, "PLAIN", "alice", "wrong")
            self.assertEqual((code, text[:5]), (535, "5.7.8"), text)
            r = s.mail("alice@ex.test")
            self.assertEqual(r[0], 530, "still not authenticated")
        # A good login afterwards works (and clears the failure count for later tests).
        with tls_smtp(self.d) as s:
            self.assertEqual(auth(s, "PLAIN", "alice", "alice-pw")[0], 235)

    def test_unknown_user_535(self):
        with tls_smtp(self.d) as s:
            code, text = auth(s, "LOGIN", "nobody", "whatever")
            self.assertEqual((code, text[:5]), (535, "5.7.8"), text)
        with tls_smtp(self.d) as s:
            self.assertEqual(auth(s, "PLAIN", "bob", "bob-pw")[0], 235)

    def test_sender_must_be_owned(self):
        self.assertEqual(self.d.setting("smtp.sender_must_match_auth"), "true")
        with tls_smtp(self.d) as s:
            self.assertEqual(auth(s, "PLAIN", "alice", "alice-pw")[0], 235)
            code, text = s.mail("bob@ex.test")
            self.assertEqual((code, text.decode()[:5]), (553, "5.7.1"), text)
            code, text = s.mail("stranger@elsewhere.example")
            self.assertEqual((code, text.decode()[:5]), (553, "5.7.1"), text)
            self.assertEqual(s.mail("ALICE@ex.test")[0], 250, "owned address, any case")
            s.rset()
            self.assertEqual(s.mail("anything@alice.test")[0], 250, "the user's catch-all domain")
            s.rset()
            self.send_ok(s, "auth-owned-sender")

    def test_login_with_an_address_as_name(self):
        with tls_smtp(self.d) as s:
            code, text = auth(s, "PLAIN", "alice@ex.test", "alice-pw")
            self.assertEqual(code, 235, text)
            self.send_ok(s, "auth-address-login")
        header, _ = fx.split_received(self.entries("auth-address-login")[0]["body"])
        self.assertIn("authenticated as alice", header)

    def test_smtps_implicit_tls_requires_auth(self):
        with smtps(self.d) as s:
            code, text = s.ehlo()
            self.assertEqual(code, 250)
            self.assertNotIn("starttls", s.esmtp_features)
            code, text = s.mail("alice@ex.test")
            self.assertEqual((code, text.decode()[:5]), (530, "5.7.0"), text)
            self.assertEqual(auth(s, "PLAIN", "alice", "alice-pw")[0], 235)
            qid = self.send_ok(s, "auth-smtps")
        header, _ = fx.split_received(self.entries("auth-smtps")[0]["body"])
        self.assertRegex(header, rf"with ESMTPSA id {qid}\b")
        self.assertIn("authenticated as alice", header)

    def test_state_reset_after_starttls(self):
        with self.d.smtp("submission") as c:
            c.ehlo()
            # Plaintext AUTH from loopback is allowed by default; TLS must forget it.
            r = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0alice-pw").decode())
            self.assertEqual(r.code, 235, r)
            r = c.cmd("STARTTLS")
            self.assertEqual(r.code, 220, r)
            c.starttls()
            r = c.cmd("MAIL FROM:<alice@ex.test>")
            self.assertEqual((r.code, r.status), (503, "5.5.1"), f"EHLO is needed again after TLS: {r}")
            r = c.ehlo()
            self.assertEqual(r.code, 250)
            kw = [l.split()[0].upper() for l in r.lines[1:]]
            self.assertIn("AUTH", kw, f"AUTH advertised again: {r}")
            self.assertNotIn("STARTTLS", kw, r)
            r = c.cmd("MAIL FROM:<alice@ex.test>")
            self.assertEqual((r.code, r.status), (530, "5.7.0"), f"the AUTH before TLS is forgotten: {r}")

    def test_starttls_twice_503(self):
        with self.d.smtp("smtp") as c:
            c.ehlo()
            self.assertEqual(c.cmd("STARTTLS").code, 220)
            c.starttls()
            c.ehlo()
            r = c.cmd("STARTTLS")
            self.assertEqual(r.code, 503, r)
            self.assertEqual(c.cmd("NOOP").code, 250, "the TLS session goes on")

    def test_plaintext_injected_behind_starttls_is_not_executed(self):
        mark = len(self.d.log())
        with self.d.smtp("smtp") as c:
            c.ehlo()
            c.send(b"STARTTLS\r\nMAIL FROM:<x@y.test>\r\n")
            r = c.reply()
            self.assertEqual(r.code, 220, r)
            # Whatever happens, no reply to the injected MAIL may come in plaintext.
            self.assertEqual(c.buf, b"", "a reply to the injected command arrived in plaintext")
            c.starttls()
            r = c.ehlo()
            # This must be the EHLO reply, not a late reply to the injected MAIL.
            self.assertEqual(r.code, 250, r)
            self.assertEqual(r.lines[0], HOST, r)
            self.assertGreater(len(r.lines), 1, r)
            r = c.cmd("RCPT TO:<bob@ex.test>")
            self.assertEqual((r.code, r.status), (503, "5.5.1"), f"the injected MAIL ran: {r}")
        self.d.wait_log(r"event=smtp\.starttls_injection", start=mark)


class RestrictedAuth(unittest.TestCase):
    """auth.allow_plaintext_on_loopback = false and auth.max_failures = 2."""

    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None, hostname=HOST)
        cls.d.start()
        populate(cls.d)
        cls.d.set_setting("auth.allow_plaintext_on_loopback", "false")
        cls.d.set_setting("auth.max_failures", "2")
        cls.d.set_setting("auth.ban_seconds", "60")
        cls.d.stop()
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_1_no_plaintext_auth_when_disabled(self):
        with self.d.smtp("submission") as c:
            r = c.ehlo()
            kw = [l.split()[0].upper() for l in r.lines[1:]]
            self.assertNotIn("AUTH", kw, f"AUTH offered without TLS: {r}")
            self.assertIn("STARTTLS", kw)
            r = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0alice-pw").decode())
            self.assertTrue(r.code in (538, 530, 503) and r.status.startswith("5."), r)
            r = c.cmd("MAIL FROM:<alice@ex.test>")
            self.assertEqual((r.code, r.status), (530, "5.7.0"), r)
            self.assertEqual(c.cmd("STARTTLS").code, 220)
            c.starttls()
            r = c.ehlo()
            kw = [l.split()[0].upper() for l in r.lines[1:]]
            self.assertIn("AUTH", kw, r)
            r = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0alice-pw").decode())
            self.assertEqual(r.code, 235, r)

    def test_2_failed_logins_are_throttled_then_banned(self):
        times = []
        for i in range(2):
            with tls_smtp(self.d) as s:  # a new connection each time: the count is per IP
                t0 = time.monotonic()
                code, text = auth(s, "PLAIN", "alice", f"wrong-{i}")
                times.append(time.monotonic() - t0)
                self.assertEqual(code, 535, text)
        self.assertGreaterEqual(times[1], 0.9, f"the second attempt is delayed (1 s): {times}")
        with tls_smtp(self.d) as s:
            t0 = time.monotonic()
            code, text = auth(s, "PLAIN", "alice", "alice-pw")
            self.assertEqual((code, text[:5]), (454, "4.7.0"), f"banned even with the right password: {text}")
            self.assertLess(time.monotonic() - t0, 10)
        self.assertIn("event=smtp.auth_banned", self.d.log())


if __name__ == "__main__":
    fx.main()
