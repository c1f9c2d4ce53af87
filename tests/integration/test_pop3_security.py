"""POP3 security and limits: STLS (RFC 2595) with the plaintext-injection defence,
POP3S, plaintext login policy, failed-login throttling shared with SMTP AUTH, line
length limit, error budget, autologout (RFC 1939 3) and shutdown: none of which may
delete anything.

Expectations: interface.md, design.md 8, RFC 1939/2449/2595/3206, issue 4."""

import base64
import os
import signal
import smtplib
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 15


class Pop3Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(overrides={"pop3.max_errors": 4, "pop3.max_line_bytes": 300})
        cls.d.start()
        cls.d.add_user("alice", password="alice-pw", addresses=["alice@ex.test"])
        fx.send_mail(cls.d, ["alice@ex.test"], *fx.numbered_messages(2))

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.d.cleanup()

    def raw(self, service="pop3", tls=False):
        p = fx.RawPop3(self.d.ports[service], tls=tls, timeout=TIMEOUT)
        self.addCleanup(p.close)
        return p

    def test_stls_then_login(self):
        p = self.raw()
        self.assertTrue(p.cmd("STLS").startswith("+OK"))
        p.starttls()
        self.assertIn(p.sock.version(), ("TLSv1.2", "TLSv1.3"))
        status, caps = p.multi("CAPA")
        self.assertNotIn(b"STLS", caps)
        self.assertTrue(p.cmd("STLS").startswith("-ERR"))  # not twice
        self.assertTrue(p.login("alice", "alice-pw").startswith("+OK"))
        self.assertEqual(p.cmd("STAT").split()[1], "2")
        p.cmd("QUIT")

    def test_stls_not_after_login(self):
        p = self.raw()
        self.assertTrue(p.login("alice", "alice-pw").startswith("+OK"))
        self.assertTrue(p.cmd("STLS").startswith("-ERR"))
        p.cmd("QUIT")

    def test_plaintext_behind_stls_is_never_executed(self):
        p = self.raw()
        # "USER/PASS" pipelined behind STLS in the same packet must be discarded, not
        # run inside the TLS session (CVE-2011-0411 style injection).
        p.send(b"STLS\r\nUSER alice\r\nPASS alice-pw\r\n")
        self.assertTrue(p.line().startswith(b"+OK"))
        p.starttls()
        r = p.cmd("STAT")
        self.assertTrue(r.startswith("-ERR"), r)  # still in AUTHORIZATION
        self.assertTrue(p.login("alice", "alice-pw").startswith("+OK"))
        p.cmd("QUIT")
        self.assertIn("pop3.stls_injection", self.d.log())

    def test_pop3s_login(self):
        p = self.raw("pop3s", tls=True)
        self.assertTrue(p.greeting.startswith(b"+OK"))
        self.assertTrue(p.login("alice", "alice-pw").startswith("+OK"))
        p.cmd("QUIT")

    def test_line_too_long(self):
        p = self.raw()
        r = p.cmd("USER " + "a" * 1000)
        self.assertTrue(r.startswith("-ERR"), r)
        self.assertTrue(p.cmd("NOOP").startswith("-ERR"))  # NOOP needs TRANSACTION; the session lives on
        self.assertTrue(p.login("alice", "alice-pw").startswith("+OK"))
        p.cmd("QUIT")

    def test_error_budget_closes(self):
        p = self.raw()
        for _ in range(3):
            self.assertTrue(p.cmd("BOGUS").startswith("-ERR"))
        self.assertTrue(p.cmd("BOGUS").startswith("-ERR"))
        self.assertTrue(p.closed())

    def test_binary_garbage_is_answered(self):
        p = self.raw()
        p.send(b"\x00\xff\xfe garbage\r\n")
        self.assertTrue(p.line().startswith(b"-ERR"))
        p.send(b"\r\n")
        self.assertTrue(p.line().startswith(b"-ERR"))
        self.assertTrue(p.cmd("QUIT").startswith("+OK"))


class Pop3Policy(unittest.TestCase):
    """Settings that change the daemon's behaviour: one daemon per test."""

    def daemon(self, **overrides):
        d = fx.Daemon(self, overrides=overrides)
        d.start()
        d.add_user("bob", password="bob-pw", addresses=["bob@ex.test"])
        return d

    def test_plaintext_login_refused_without_tls_when_disabled(self):
        d = self.daemon()
        d.set_setting("auth.allow_plaintext_on_loopback", "false")
        d.stop()
        d.start()
        p = fx.RawPop3(d.ports["pop3"], timeout=TIMEOUT)
        self.addCleanup(p.close)
        self.assertTrue(p.cmd("USER bob").startswith("-ERR [AUTH]"))
        token = base64.b64encode(b"\0bob\0bob-pw").decode()
        self.assertTrue(p.cmd(f"AUTH PLAIN {token}").startswith("-ERR [AUTH]"))
        _, caps = p.multi("CAPA")
        self.assertIn(b"STLS", caps)
        self.assertTrue(p.cmd("STLS").startswith("+OK"))
        p.starttls()
        self.assertTrue(p.login("bob", "bob-pw").startswith("+OK"))
        p.cmd("QUIT")

    def test_failed_logins_are_throttled_across_smtp_and_pop3(self):
        d = self.daemon()
        d.set_setting("auth.max_failures", "3")
        d.set_setting("auth.ban_seconds", "60")
        d.stop()
        d.start()
        # Two failures over SMTP AUTH, one over POP3: the address is banned for both.
        for _ in range(2):
            s = smtplib.SMTP("127.0.0.1", d.ports["submission"], timeout=TIMEOUT)
            s.ehlo()
            token = base64.b64encode(b"\0bob\0wrong").decode()
            code, _ = s.docmd("AUTH", "PLAIN " + token)
            self.assertEqual(code, 535)
            s.close()
        p = fx.RawPop3(d.ports["pop3"], timeout=TIMEOUT)
        self.addCleanup(p.close)
        p.cmd("USER bob")
        r = p.cmd("PASS wrong")
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        p.cmd("USER bob")
        r = p.cmd("PASS bob-pw")  # right password, but banned
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.assertIn("pop3.auth_banned", d.log())

    def test_autologout_removes_nothing(self):
        d = self.daemon(**{"pop3.autologout_seconds": 2})
        fx.send_mail(d, ["bob@ex.test"], *fx.numbered_messages(2))
        p = fx.RawPop3(d.ports["pop3"], timeout=TIMEOUT)
        self.addCleanup(p.close)
        self.assertTrue(p.login("bob", "bob-pw").startswith("+OK"))
        self.assertTrue(p.cmd("DELE 1").startswith("+OK"))
        start = time.monotonic()
        line = p.line()
        self.assertTrue(line.startswith(b"-ERR"), line)
        self.assertTrue(p.closed())
        self.assertLess(time.monotonic() - start, 10)
        self.assertEqual(len(d.messages("bob")), 2)
        fx.wait_until(lambda: d.count("mailbox_leases") == 0, 10, what="lease released after autologout")
        q = fx.RawPop3(d.ports["pop3"], timeout=TIMEOUT)
        self.addCleanup(q.close)
        self.assertTrue(q.login("bob", "bob-pw").startswith("+OK"))
        q.cmd("QUIT")

    def test_shutdown_tells_the_client_and_removes_nothing(self):
        d = self.daemon()
        fx.send_mail(d, ["bob@ex.test"], *fx.numbered_messages(2))
        p = fx.RawPop3(d.ports["pop3"], timeout=TIMEOUT)
        self.addCleanup(p.close)
        self.assertTrue(p.login("bob", "bob-pw").startswith("+OK"))
        self.assertTrue(p.cmd("DELE 1").startswith("+OK"))
        d.stop(signal.SIGTERM)
        line = p.line()
        self.assertTrue(line.startswith(b"-ERR [SYS/TEMP]"), line)
        self.assertEqual(len(d.messages("bob")), 2)
        self.assertEqual(d.count("mailbox_leases"), 0)  # given back on the way out

    def test_connection_cap_per_address(self):
        d = self.daemon(**{"pop3.max_connections_per_ip": 2})
        held = [fx.RawPop3(d.ports["pop3"], timeout=TIMEOUT) for _ in range(2)]
        for h in held:
            self.addCleanup(h.close)
        extra = fx.RawPop3(d.ports["pop3"], timeout=TIMEOUT, greeting=False)
        self.addCleanup(extra.close)
        line = extra.line()
        self.assertTrue(line.startswith(b"-ERR [SYS/TEMP]"), line)
        self.assertTrue(extra.closed())
        held[0].cmd("QUIT")
        time.sleep(0.3)
        again = fx.RawPop3(d.ports["pop3"], timeout=TIMEOUT)
        self.addCleanup(again.close)
        self.assertTrue(again.greeting.startswith(b"+OK"))

    def test_client_that_stops_reading_is_dropped(self):
        d = self.daemon(**{"pop3.autologout_seconds": 3})
        big = "Subject: big\r\n\r\n" + ("y" * 998 + "\r\n") * 8000
        fx.send_mail(d, ["bob@ex.test"], big.encode(), sender="sender@remote.test", timeout=TIMEOUT, mail_options=())
        sock = socket.create_connection(("127.0.0.1", d.ports["pop3"]), timeout=TIMEOUT)
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"USER bob\r\nPASS bob-pw\r\nRETR 1\r\n")
        # Never read: the daemon's write deadline must end the session and free the lease.
        fx.wait_until(lambda: "pop3.disconnect" in d.log(), 20, what="session ended by the write deadline")
        fx.wait_until(lambda: d.count("mailbox_leases") == 0, 10, what="lease released")
        self.assertEqual(len(d.messages("bob")), 1)


if __name__ == "__main__":
    unittest.main()
