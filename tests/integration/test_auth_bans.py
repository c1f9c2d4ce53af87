"""The failed-login limit under concurrency, and the bans through shicksctl.

With auth.max_failures at 5, 20 connections from one address that send a wrong
password at the same moment get no more than 5 passwords checked (the counter
auth_checks of `status`), SMTP AUTH and POP3 alike; the address is then banned, the
right password included, until `shicksctl auth unban` lifts the ban. `auth bans`
lists it.

Expectations: shicksd(8) "Failed logins", shicksctl(8) "Failed-login bans"."""

import base64
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 30
PARALLEL = 20
LIMIT = 5


class AuthBans(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(overrides={"smtp.max_connections_per_ip": 40, "pop3.max_connections_per_ip": 40})
        cls.d.start()
        cls.d.add_user("alice", password="alice-pw", addresses=["alice@ex.test"])
        for i in range(PARALLEL):
            cls.d.add_user(f"dev{i}", password=f"dev{i}-pw", addresses=[f"dev{i}@ex.test"])
        cls.d.set_setting("auth.max_failures", LIMIT)
        cls.d.set_setting("auth.ban_seconds", 120)
        cls.d.stop()
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def checks(self):
        return self.d.ctl_json("status")["counters"]["auth_checks"]

    def bans(self):
        return self.d.ctl_json("auth", "bans")["bans"]

    def unban(self):
        rc, out, err = self.d.ctl("auth", "unban", "127.0.0.1")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "127.0.0.1 is no longer banned\n")

    def race(self, connect, attempt):
        """Opens PARALLEL connections, then lets each send its wrong password at the
        same moment; returns the replies."""
        conns = [connect() for _ in range(PARALLEL)]
        for c in conns:
            self.addCleanup(c.close)
        gate = threading.Barrier(PARALLEL)
        replies = [None] * PARALLEL

        def run(i):
            gate.wait(TIMEOUT)
            try:
                replies[i] = attempt(conns[i])
            except Exception as e:  # reported below
                replies[i] = f"error: {e!r}"

        threads = [threading.Thread(target=run, args=(i,)) for i in range(PARALLEL)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT + 10)
        return replies

    def assert_limit_held(self, before, replies, checked_reply, refused_reply):
        checked = self.checks() - before
        self.assertLessEqual(checked, LIMIT, f"{checked} passwords checked with the limit at {LIMIT}: {replies}")
        # Every attempt got an answer: a checked wrong password, or a refusal unchecked.
        n_checked = sum(1 for r in replies if r.startswith(checked_reply))
        n_refused = sum(1 for r in replies if r.startswith(refused_reply))
        self.assertEqual(n_checked + n_refused, PARALLEL, replies)
        self.assertEqual(n_checked, checked, replies)
        # The failures that were checked used up the limit: banned.
        self.assertEqual(checked, LIMIT, replies)
        bans = self.bans()
        self.assertEqual([b["ip"] for b in bans], ["127.0.0.1"], bans)
        self.assertEqual(bans[0]["failures"], LIMIT)
        self.assertTrue(0 < bans[0]["retry_after_seconds"] <= 120, bans)

    def test_1_smtp_auth_race(self):
        self.assertEqual(self.bans(), [])
        rc, out, err = self.d.ctl("auth", "bans")
        self.assertEqual((rc, out), (0, "no banned addresses\n"), err)
        before = self.checks()

        def connect():
            c = self.d.smtp("submission", timeout=TIMEOUT)
            c.ehlo()
            return c

        def attempt(c):
            r = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0wrong-pw").decode())
            return f"{r.code} {r.status}"

        replies = self.race(connect, attempt)
        self.assert_limit_held(before, replies, "535 5.7.8", "454 4.7.0")

        # The ban holds the right password too.
        with self.d.smtp("submission", timeout=TIMEOUT) as c:
            c.ehlo()
            r = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0alice-pw").decode())
            self.assertEqual((r.code, r.status), (454, "4.7.0"), r)
        rc, out, err = self.d.ctl("auth", "bans")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^ADDRESS +FAILURES +BANNED FOR\n127\.0\.0\.1 +5 +\S")

        self.unban()
        with self.d.smtp("submission", timeout=TIMEOUT) as c:
            c.ehlo()
            r = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0alice-pw").decode())
            self.assertEqual((r.code, r.status), (235, "2.7.0"), r)
        self.assertEqual(self.bans(), [])

    def test_2_pop3_race(self):
        before = self.checks()

        def connect():
            p = fx.RawPop3(self.d.ports["pop3"], timeout=TIMEOUT)
            r = p.cmd("USER alice")
            self.assertTrue(r.startswith("+OK"), r)
            return p

        replies = self.race(connect, lambda p: p.cmd("PASS wrong-pw"))
        self.assert_limit_held(before, replies, "-ERR [AUTH]", "-ERR [SYS/TEMP]")
        p = fx.RawPop3(self.d.ports["pop3"], timeout=TIMEOUT)
        self.addCleanup(p.close)
        self.assertTrue(p.login("alice", "alice-pw").startswith("-ERR [SYS/TEMP]"))
        self.unban()
        r = p.login("alice", "alice-pw")
        self.assertTrue(r.startswith("+OK"), r)
        p.cmd("QUIT")

    def test_4_right_passwords_race(self):
        """Many devices behind one address log in at once: each waits for the attempts
        in flight instead of being refused, so all get in and nothing is banned."""
        self.assertEqual(self.bans(), [])
        before = self.checks()

        def smtp_connect():
            c = self.d.smtp("submission", timeout=TIMEOUT)
            c.ehlo()
            return c

        def smtp_attempt(c):
            r = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0alice-pw").decode())
            return f"{r.code} {r.status}"

        replies = self.race(smtp_connect, smtp_attempt)
        self.assertEqual(replies, ["235 2.7.0"] * PARALLEL)

        users = iter(range(PARALLEL))

        def pop3_connect():
            p = fx.RawPop3(self.d.ports["pop3"], timeout=TIMEOUT)
            p.user_index = next(users)
            r = p.cmd(f"USER dev{p.user_index}")
            self.assertTrue(r.startswith("+OK"), r)
            return p

        replies = self.race(pop3_connect, lambda p: p.cmd(f"PASS dev{p.user_index}-pw")[:3])
        self.assertEqual(replies, ["+OK"] * PARALLEL)
        self.assertEqual(self.checks() - before, 2 * PARALLEL)
        self.assertEqual(self.bans(), [])

    def test_3_unban_refusals(self):
        rc, out, err = self.d.ctl("auth", "unban", "192.0.2.7")
        self.assertEqual(rc, 1)
        self.assertIn("192.0.2.7 is not banned", err)
        rc, out, err = self.d.ctl("auth", "unban", "not-an-ip")
        self.assertEqual(rc, 1)
        self.assertIn('"not-an-ip" is not an IP address', err)
        # IPv4-mapped IPv6 is the IPv4 address the throttle counts.
        rc, out, err = self.d.ctl("auth", "unban", "::ffff:192.0.2.7")
        self.assertEqual(rc, 1)
        self.assertIn("192.0.2.7 is not banned", err)
        r = self.d.ctl_json("status")
        self.assertIn("auth_checks", r["counters"])
        self.assertIn("event=control.request", self.d.log())
        self.assertRegex(self.d.log(), r"cmd=auth\.unban .*ip=not-an-ip .*result=refused")


if __name__ == "__main__":
    unittest.main()
