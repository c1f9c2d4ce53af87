"""The POP3 maildrop lock lives in the database (design.md 6): two daemons on one
database exclude each other, a live session keeps renewing its lease, and the lease
of a killed daemon expires by itself within its configured lifetime.

Expectations: issue 4 (maildrop semantics), RFC 1939 8."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 15
LEASE = 10
# These tests watch the lease itself: a login answers [IN-USE] at once instead of
# waiting for it (test_pop3_lock_wait).
NO_WAIT = {"pop3.lock_wait_seconds": 0}


class Pop3Lease(unittest.TestCase):
    def first_daemon(self):
        d = fx.Daemon(self, overrides=NO_WAIT)
        d.start()
        d.add_user("alice", password="alice-pw", addresses=["alice@ex.test"])
        d.set_setting("pop3.lease_seconds", LEASE)
        d.stop()
        d.start()
        fx.send_mail(d, ["alice@ex.test"], *fx.numbered_messages(2))
        return d

    def login(self, d):
        p = fx.RawPop3(d.ports["pop3"], timeout=TIMEOUT)
        self.addCleanup(p.close)
        return p, p.login("alice", "alice-pw")

    def test_two_daemons_exclude_each_other_and_renew(self):
        d1 = self.first_daemon()
        d2 = fx.Daemon(self, create_db=False, overrides={"database.name": d1.db_name, **NO_WAIT})
        d2.db_name = d1.db_name
        d2.start()
        p1, r = self.login(d1)
        self.assertTrue(r.startswith("+OK"), r)
        self.assertTrue(p1.cmd("DELE 1").startswith("+OK"))
        # Idle for longer than the lease: the session renews it, so it stays held.
        time.sleep(LEASE + 4)
        p2, r = self.login(d2)
        self.assertTrue(r.startswith("-ERR [IN-USE]"), r)
        self.assertTrue(p1.cmd("QUIT").startswith("+OK"))
        self.assertEqual(len(d1.messages("alice")), 1)
        p2.cmd("USER alice")
        self.assertTrue(p2.cmd("PASS alice-pw").startswith("+OK"))
        self.assertEqual(p2.cmd("STAT").split()[1], "1")
        p2.cmd("QUIT")

    def test_lease_of_a_killed_daemon_expires(self):
        d = self.first_daemon()
        p, r = self.login(d)
        self.assertTrue(r.startswith("+OK"), r)
        p.cmd("DELE 1")
        d.kill()  # SIGKILL: no QUIT, no release
        killed = time.monotonic()
        self.assertEqual(d.count("mailbox_leases"), 1)
        d.start()
        q, r = self.login(d)
        self.assertTrue(r.startswith("-ERR [IN-USE]"), r)
        while True:
            q.cmd("USER alice")
            r = q.cmd("PASS alice-pw")
            if r.startswith("+OK"):
                break
            self.assertTrue(r.startswith("-ERR [IN-USE]"), r)
            self.assertLess(time.monotonic() - killed, LEASE + 5, "the lease outlived its lifetime")
            time.sleep(0.5)
        self.assertGreaterEqual(time.monotonic() - killed, LEASE - 2)
        self.assertEqual(q.cmd("STAT").split()[1], "2")  # the killed session deleted nothing
        q.cmd("QUIT")


if __name__ == "__main__":
    unittest.main()
