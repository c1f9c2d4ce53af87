"""A login that finds the maildrop locked by another session waits for it
(pop3.lock_wait_seconds) instead of answering -ERR [IN-USE] at once: a session of the
same daemon that gives the lease back wakes it at once, a lease given back through
another daemon is seen by its periodic retries, and the wait ends at its limit, at
shutdown and when the client goes away.

Expectations: RFC 1939 8 (exclusive access), RFC 2449 8.1.1 ([IN-USE]), shicksd.8."""

import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 30


class Pop3LockWait(unittest.TestCase):
    def daemon(self, wait=None, messages=3, **overrides):
        if wait is not None:
            overrides["pop3.lock_wait_seconds"] = wait
        d = fx.Daemon(self, overrides=overrides)
        d.start()
        d.add_user("alice", password="alice-pw", addresses=["alice@ex.test"])
        fx.send_mail(d, ["alice@ex.test"], *fx.numbered_messages(messages))
        return d

    def pop(self, d, login=True):
        p = fx.RawPop3(d.ports["pop3"], timeout=TIMEOUT)
        self.addCleanup(p.close)
        if login:
            r = p.login("alice", "alice-pw")
            self.assertTrue(r.startswith("+OK"), r)
        return p

    def start_waiting(self, d):
        """A session whose PASS is sent while the maildrop is held; returns it once the
        daemon has had time to answer at once and did not."""
        p = self.pop(d, login=False)
        self.assertTrue(p.cmd("USER alice").startswith("+OK"))
        p.send("PASS alice-pw\r\n")
        self.assertNoReply(p, 1.0)
        return p

    def assertNoReply(self, p, seconds):
        p.sock.settimeout(seconds)
        try:
            data = p.sock.recv(4096)
        except (socket.timeout, TimeoutError):
            data = None
        finally:
            p.sock.settimeout(TIMEOUT)
        self.assertIsNone(data, "the daemon answered while the maildrop was held")

    def assertClean(self, d):
        log = d.log()
        self.assertNotRegex(log, r"(?m)^\S+ (error|warn) sid=", log)
        self.assertNotIn("coroutine.failed", log)

    def test_waiter_gets_the_maildrop_when_the_holder_quits(self):
        d = self.daemon(wait=20)
        first = self.pop(d)
        self.assertTrue(first.cmd("DELE 1").startswith("+OK"))
        second = self.start_waiting(d)
        self.assertTrue(first.cmd("QUIT").startswith("+OK"))
        quit_at = time.monotonic()
        r = second.line().decode()
        waited = time.monotonic() - quit_at
        self.assertTrue(r.startswith("+OK"), r)
        self.assertLess(waited, 2.0, "the waiter was not woken by the release")
        # It sees the maildrop as the first session's QUIT left it.
        self.assertEqual(second.cmd("STAT").split()[1], "2")
        status, raw = second.multi("RETR 1")
        self.assertEqual(fx.unstuff(raw).split(b"\r\n\r\n", 1)[1], b"body 1\r\n")
        self.assertTrue(second.cmd("QUIT").startswith("+OK"))
        d.wait_log(r"event=pop3\.login .*user=alice .*waited_ms=\d+")
        self.assertEqual(d.count("mailbox_leases"), 0)
        self.assertClean(d)

    def test_zero_answers_in_use_at_once(self):
        d = self.daemon(wait=0)
        first = self.pop(d)
        second = self.pop(d, login=False)
        self.assertTrue(second.cmd("USER alice").startswith("+OK"))
        t = time.monotonic()
        r = second.cmd("PASS alice-pw")
        self.assertTrue(r.startswith("-ERR [IN-USE]"), r)
        self.assertLess(time.monotonic() - t, 1.0)
        first.cmd("QUIT")
        self.assertTrue(second.login("alice", "alice-pw").startswith("+OK"))
        second.cmd("QUIT")

    def test_in_use_after_the_wait_when_the_holder_stays(self):
        d = self.daemon(wait=2)
        first = self.pop(d)
        second = self.pop(d, login=False)
        self.assertTrue(second.cmd("USER alice").startswith("+OK"))
        t = time.monotonic()
        r = second.cmd("PASS alice-pw")
        waited = time.monotonic() - t
        self.assertTrue(r.startswith("-ERR [IN-USE]"), r)
        self.assertGreaterEqual(waited, 1.9)
        self.assertLess(waited, 4.0)
        m = d.wait_log(r"event=pop3\.in_use user=alice waited_ms=(\d+)")
        self.assertGreaterEqual(int(m.group(1)), 1900)
        # The holder was not disturbed; the waiter may try again.
        self.assertTrue(first.cmd("STAT").startswith("+OK 3 "))
        first.cmd("QUIT")
        self.assertTrue(second.login("alice", "alice-pw").startswith("+OK"))
        second.cmd("QUIT")

    def test_client_that_leaves_while_waiting(self):
        d = self.daemon(wait=20)
        first = self.pop(d)
        second = self.start_waiting(d)
        start = len(d.log())
        second.close()
        m = d.wait_log(r"sid=(\S+) event=pop3\.disconnect reason=client-closed", start=start)
        self.assertEqual(d.count("mailbox_leases"), 1)  # still the first session's
        # The holder goes on as if nothing happened.
        status, raw = first.multi("RETR 3")
        self.assertTrue(status.startswith("+OK"), status)
        self.assertTrue(first.cmd("DELE 3").startswith("+OK"))
        self.assertTrue(first.cmd("QUIT").startswith("+OK"))
        self.assertEqual(len(d.messages("alice")), 2)
        self.assertEqual(d.count("mailbox_leases"), 0)
        third = self.pop(d)
        self.assertEqual(third.cmd("STAT").split()[1], "2")
        third.cmd("QUIT")
        self.assertNotIn(f"sid={m.group(1)} event=pop3.login", d.log())
        self.assertClean(d)

    def test_pipelined_commands_wait_with_the_login(self):
        d = self.daemon(wait=20)
        first = self.pop(d)
        second = self.pop(d, login=False)
        second.send("USER alice\r\nPASS alice-pw\r\nSTAT\r\nRETR 2\r\n")
        self.assertTrue(second.line().startswith(b"+OK"))  # USER is answered before the wait
        self.assertNoReply(second, 1.0)
        second.send("LIST 1\r\n")  # more input while waiting is kept for later
        time.sleep(0.3)
        first.cmd("QUIT")
        self.assertTrue(second.line().startswith(b"+OK"))
        self.assertEqual(second.line().split()[1], b"3")
        self.assertTrue(second.line().startswith(b"+OK"))
        self.assertEqual(fx.unstuff(second.multi_raw()).split(b"\r\n\r\n", 1)[1], b"body 1\r\n")
        self.assertTrue(second.line().startswith(b"+OK 1 "))
        self.assertTrue(second.cmd("QUIT").startswith("+OK"))

    def test_one_of_several_waiters_wins_each_release(self):
        d = self.daemon(wait=30)
        first = self.pop(d)
        waiters = [self.start_waiting(d), self.start_waiting(d)]
        first.cmd("QUIT")
        winners = []
        for w in waiters:
            w.sock.settimeout(3)
            try:
                winners.append((w, w.line().decode()))
            except (socket.timeout, TimeoutError):
                pass
        self.assertEqual(len(winners), 1, winners)
        winner, r = winners[0]
        self.assertTrue(r.startswith("+OK"), r)
        other = waiters[1] if winner is waiters[0] else waiters[0]
        other.sock.settimeout(TIMEOUT)
        winner.sock.settimeout(TIMEOUT)
        self.assertTrue(winner.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(winner.cmd("QUIT").startswith("+OK"))
        r = other.line().decode()
        self.assertTrue(r.startswith("+OK"), r)
        self.assertEqual(other.cmd("STAT").split()[1], "2")
        other.cmd("QUIT")

    def test_shutdown_ends_the_wait(self):
        d = self.daemon(wait=60)
        first = self.pop(d)
        second = self.start_waiting(d)
        t = time.monotonic()
        d.send_signal(15)
        r = second.line().decode()
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.assertTrue(second.closed())
        self.assertEqual(d.wait(), 0)
        self.assertLess(time.monotonic() - t, 10)
        self.assertRegex(d.log(), r"event=pop3\.disconnect reason=shutdown")
        first.close()

    def test_lease_given_back_through_another_daemon(self):
        d1 = self.daemon(wait=0)
        d2 = fx.Daemon(self, create_db=False, overrides={"database.name": d1.db_name, "pop3.lock_wait_seconds": 20})
        d2.db_name = d1.db_name
        d2.start()
        first = self.pop(d1)
        self.assertTrue(first.cmd("DELE 2").startswith("+OK"))
        second = self.start_waiting(d2)
        self.assertTrue(first.cmd("QUIT").startswith("+OK"))
        quit_at = time.monotonic()
        r = second.line().decode()
        self.assertTrue(r.startswith("+OK"), r)
        self.assertLess(time.monotonic() - quit_at, 2.0, "the waiter did not retry the database")
        self.assertEqual(second.cmd("STAT").split()[1], "2")
        second.cmd("QUIT")


if __name__ == "__main__":
    unittest.main()
