"""The POP3 maildrop lock lives in the database (design.md 6): two daemons on one
database exclude each other; the daemon renews the leases of its live sessions
together, however long a session waits for its client (idle, or not reading what it
is sent); a daemon restarted after kill -9 voids the leases of its earlier run at
once, and for the other daemons the lease of a killed one expires within its
configured lifetime; a session whose lease was lost ends without deleting anything.

Expectations: shicksd(8) "Maildrop, locking and deletion", RFC 1939 8."""

import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 15
LEASE = 3  # pop3.lease_seconds: renewed every second
# These tests watch the lease itself: a login answers [IN-USE] at once instead of
# waiting for it (test_pop3_lock_wait).
NO_WAIT = {"pop3.lock_wait_seconds": 0}


class Pop3Lease(unittest.TestCase):
    def first_daemon(self, lease=LEASE, messages=None):
        d = fx.Daemon(self, overrides=NO_WAIT)
        d.start()
        d.add_user("alice", password="alice-pw", addresses=["alice@ex.test"])
        d.set_setting("pop3.lease_seconds", lease)
        d.stop()
        d.start()
        fx.send_mail(d, ["alice@ex.test"], *(messages or fx.numbered_messages(2)))
        return d

    def second_daemon(self, d1):
        d2 = fx.Daemon(self, create_db=False, overrides={"database.name": d1.db_name, **NO_WAIT})
        d2.db_name = d1.db_name
        d2.start()
        return d2

    def login(self, d):
        p = fx.RawPop3(d.ports["pop3"], timeout=TIMEOUT)
        self.addCleanup(p.close)
        return p, p.login("alice", "alice-pw")

    def expires_at(self, d):
        return d.sql("SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) FROM mailbox_leases").split()

    def test_two_daemons_exclude_each_other_and_renew(self):
        d1 = self.first_daemon()
        d2 = self.second_daemon(d1)
        p1, r = self.login(d1)
        self.assertTrue(r.startswith("+OK"), r)
        self.assertTrue(p1.cmd("DELE 1").startswith("+OK"))
        # Idle for twice the lease: the daemon renews it, so it stays held.
        time.sleep(2 * LEASE)
        left = self.expires_at(d1)
        self.assertEqual(len(left), 1)
        self.assertLessEqual(int(left[0]), LEASE * 1_000_000)
        p2, r = self.login(d2)
        self.assertTrue(r.startswith("-ERR [IN-USE]"), r)
        self.assertTrue(p1.cmd("QUIT").startswith("+OK"))
        self.assertEqual(len(d1.messages("alice")), 1)
        self.assertTrue(p2.login("alice", "alice-pw").startswith("+OK"))
        self.assertEqual(p2.cmd("STAT").split()[1], "1")
        p2.cmd("QUIT")

    def test_a_session_that_does_not_read_keeps_its_lease(self):
        # More than the socket buffers hold: the session waits in a write.
        line = b"x" * 76 + b"\r\n"
        big = b"Subject: big\r\n\r\n" + line * (10 * 1024 * 1024 // len(line))
        d1 = self.first_daemon(messages=[big])
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(TIMEOUT)
        s.connect(("127.0.0.1", d1.ports["pop3"]))
        self.addCleanup(s.close)
        f = s.makefile("rb")
        self.assertTrue(f.readline().startswith(b"+OK"))
        s.sendall(b"USER alice\r\nPASS alice-pw\r\n")
        self.assertTrue(f.readline().startswith(b"+OK"))
        self.assertTrue(f.readline().startswith(b"+OK"))
        s.sendall(b"RETR 1\r\n")
        self.assertTrue(f.readline().startswith(b"+OK"))
        # Not reading for twice the lease: still held.
        time.sleep(2 * LEASE)
        p2, r = self.login(d1)
        self.assertTrue(r.startswith("-ERR [IN-USE]"), r)
        got = 0
        while True:
            chunk = f.readline()
            self.assertTrue(chunk, "connection closed inside RETR")
            if chunk == b".\r\n":
                break
            got += len(chunk)
        self.assertGreater(got, len(big))  # plus Return-Path
        s.sendall(b"QUIT\r\n")
        self.assertTrue(f.readline().startswith(b"+OK"))
        self.assertTrue(p2.login("alice", "alice-pw").startswith("+OK"))
        p2.cmd("QUIT")

    def test_restart_after_kill_voids_the_earlier_run_leases(self):
        d = self.first_daemon(lease=600)  # a long lease: only the restart can free it
        p, r = self.login(d)
        self.assertTrue(r.startswith("+OK"), r)
        self.assertTrue(p.cmd("DELE 1").startswith("+OK"))
        d.kill()  # SIGKILL: no QUIT, no release
        self.assertEqual(d.count("mailbox_leases"), 1)
        d.start()
        self.assertRegex(d.log(), r"event=pop3\.leases_released reason=earlier-run .*leases=1")
        q, r = self.login(d)
        self.assertTrue(r.startswith("+OK"), r)
        self.assertEqual(q.cmd("STAT").split()[1], "2")  # the killed session deleted nothing
        q.cmd("QUIT")

    def test_lease_of_a_killed_daemon_expires_for_the_others(self):
        lease = 6
        d1 = self.first_daemon(lease=lease)
        d2 = self.second_daemon(d1)
        p, r = self.login(d1)
        self.assertTrue(r.startswith("+OK"), r)
        p.cmd("DELE 1")
        d1.kill()
        killed = time.monotonic()
        # d2 does not void the leases of another daemon: they run out.
        q, r = self.login(d2)
        self.assertTrue(r.startswith("-ERR [IN-USE]"), r)
        while True:
            r = q.login("alice", "alice-pw")
            if r.startswith("+OK"):
                break
            self.assertTrue(r.startswith("-ERR [IN-USE]"), r)
            self.assertLess(time.monotonic() - killed, lease + 4, "the lease outlived its lifetime")
            time.sleep(0.25)
        self.assertEqual(q.cmd("STAT").split()[1], "2")
        q.cmd("QUIT")

    def test_a_session_whose_lease_was_lost_ends_and_deletes_nothing(self):
        d = self.first_daemon()
        p, r = self.login(d)
        self.assertTrue(r.startswith("+OK"), r)
        self.assertTrue(p.cmd("DELE 1").startswith("+OK"))
        # Another daemon's session took the maildrop (as after a database outage
        # longer than the lease).
        d.sql("UPDATE mailbox_leases SET owner = 'elsewhere/0/1/p1/00000000'")
        self.assertTrue(p.closed(timeout=LEASE + 5), "the session went on without its lease")
        self.assertIn(b"-ERR [SYS/TEMP] The maildrop lock was lost", p.buf)
        d.wait_log(r"event=pop3\.lease_lost user=alice")
        d.wait_log(r"event=pop3\.disconnect reason=lease-lost")
        self.assertEqual(len(d.messages("alice")), 2)
        # The other owner's lease is left alone.
        self.assertEqual(d.sql("SELECT owner FROM mailbox_leases").strip(), "elsewhere/0/1/p1/00000000")

    def test_a_lease_of_this_run_without_a_session_is_removed(self):
        d = self.first_daemon()
        d.add_user("bob", password="bob-pw")
        p, r = self.login(d)  # a live session: the renewals run
        self.assertTrue(r.startswith("+OK"), r)
        # What a session whose release failed leaves behind: a lease of this run
        # ("MACHINE/INSTANCE/PID/...") that no session holds.
        h = 2166136261
        for c in os.path.abspath(d.control_socket).encode():
            h = ((h ^ c) * 16777619) & 0xFFFFFFFF
        owner = f"{socket.gethostname()[:64]}/{h:08x}/{d.pid}/p999/deadbeef"
        d.sql(f"INSERT INTO mailbox_leases (user_id, owner, acquired_at, expires_at) SELECT id, '{owner}', "
              f"UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL 1 HOUR FROM users WHERE name = 'bob'")
        fx.wait_until(lambda: d.count("mailbox_leases") == 1, LEASE + 5, what="the orphaned lease to go")
        d.wait_log(r"event=pop3\.leases_released reason=session-gone leases=1")
        q, r = self.login(d)
        self.assertTrue(r.startswith("-ERR [IN-USE]"), r)  # alice's own stays
        p.cmd("QUIT")


if __name__ == "__main__":
    unittest.main()
