"""`shicksctl user del` while a POP3 session holds the user's maildrop is refused
(exit 1, with the reason), like `mailbox purge`: the session works on a snapshot of
the maildrop and may have message starts cached, so the user and their mail stay
until the session ends. Then the user is deleted.

Expectations: shicksctl(8) "user del"."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 15


class UserDelWhilePop3(unittest.TestCase):
    def test_user_del_is_refused_while_the_maildrop_is_held(self):
        d = fx.Daemon(self, overrides={"pop3.lock_wait_seconds": 0})
        d.start()
        d.add_user("alice", password="alice-pw", addresses=["alice@ex.test"])
        fx.send_mail(d, ["alice@ex.test"], *fx.numbered_messages(3))
        p = fx.RawPop3(d.ports["pop3"], timeout=TIMEOUT)
        self.addCleanup(p.close)
        self.assertTrue(p.login("alice", "alice-pw").startswith("+OK"))
        status, first = p.multi("RETR 1")  # the read-ahead caches the starts of 2 and 3
        self.assertTrue(status.startswith("+OK"), status)

        rc, out, err = d.ctl("user", "del", "alice")
        self.assertEqual(rc, 1, out)
        self.assertIn('the mailbox of "alice" is open in a POP3 session; try again when it ends', err)
        self.assertRegex(d.log(), r"cmd=user\.del .*name=alice .*result=refused")
        # Nothing went: the user, the addresses, the mail.
        self.assertEqual(len(d.messages("alice")), 3)
        self.assertEqual(d.count("users", "name = 'alice'"), 1)
        self.assertEqual(d.count("addresses", "address = 'alice@ex.test'"), 1)
        # The session goes on with what it holds.
        status, body = p.multi("RETR 3")
        self.assertTrue(status.startswith("+OK"), status)
        self.assertIn(b"body 2", body)
        self.assertTrue(p.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(p.cmd("QUIT").startswith("+OK"))

        fx.wait_until(lambda: d.count("mailbox_leases") == 0, TIMEOUT, what="the lease to go")
        rc, out, err = d.ctl("user", "del", "alice")
        self.assertEqual(rc, 0, err)
        self.assertIn("user alice deleted, with 2 messages", out)
        self.assertEqual(d.count("users"), 0)
        self.assertEqual(d.count("mailbox_entries"), 0)


if __name__ == "__main__":
    unittest.main()
