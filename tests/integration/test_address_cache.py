"""Recipient lookups are remembered between messages (daemon/address_cache.hpp), yet
every change made with shicksctl counts at once on the daemon that made it, and
within about a second on another daemon on the same database: a disabled user, a
deleted address or an exact address shadowing a catch-all is never answered from
a stale memory.

Expectations: interface.md (shicksctl user/address), issue 9 (no correctness traded
for speed)."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 15


class AddressCache(unittest.TestCase):
    def daemon(self, **kw):
        d = fx.Daemon(self, **kw)
        d.start()
        return d

    def ctl_ok(self, d, *args, input=None):
        rc, out, err = d.ctl(*args, input=input)
        self.assertEqual(rc, 0, f"shicksctl {' '.join(args)}: {err}")
        return out

    def add_user(self, d, name, *emails):
        args = ["user", "add", name, "--password-stdin"]
        for e in emails:
            args += ["--email", e]
        self.ctl_ok(d, *args, input=f"{name}-password-1\n")

    def test_changes_made_here_count_for_the_next_rcpt(self):
        d = self.daemon()
        self.add_user(d, "alice", "alice@ex.test")
        self.add_user(d, "bob", "bob@ex.test")
        fx.send_mail(d, ["alice@ex.test"], *fx.numbered_messages(1))  # alice is now remembered
        self.assertEqual(fx.rcpt_code(d, "alice@ex.test"), 250)

        self.ctl_ok(d, "user", "disable", "alice")
        self.assertEqual(fx.rcpt_code(d, "alice@ex.test") // 100, 5)
        self.ctl_ok(d, "user", "enable", "alice")
        self.assertEqual(fx.rcpt_code(d, "alice@ex.test"), 250)

        self.ctl_ok(d, "address", "del", "alice@ex.test")
        self.assertEqual(fx.rcpt_code(d, "alice@ex.test") // 100, 5)

        # An alias remembered with its members follows a member's deletion.
        self.ctl_ok(d, "address", "add", "team@ex.test", "--user", "alice", "--user", "bob")
        fx.send_mail(d, ["team@ex.test"], *fx.numbered_messages(1))
        self.ctl_ok(d, "user", "del", "alice")
        fx.send_mail(d, ["team@ex.test"], *fx.numbered_messages(1))
        self.assertEqual(len(d.messages("bob")), 2)

    def test_an_exact_address_shadows_a_remembered_catch_all(self):
        d = self.daemon()
        self.add_user(d, "carol")
        self.add_user(d, "dave")
        self.ctl_ok(d, "address", "add", "@catch.test", "--user", "carol")
        fx.send_mail(d, ["boss@catch.test"], *fx.numbered_messages(1))
        self.assertEqual(len(d.messages("carol")), 1)
        self.ctl_ok(d, "address", "add", "boss@catch.test", "--user", "dave")
        fx.send_mail(d, ["boss@catch.test"], *fx.numbered_messages(1))
        self.assertEqual(len(d.messages("dave")), 1)
        self.assertEqual(len(d.messages("carol")), 1)

    def test_another_daemon_forgets_within_seconds(self):
        d1 = self.daemon()
        d2 = fx.Daemon(self, create_db=False, overrides={"database.name": d1.db_name})
        d2.db_name = d1.db_name
        d2.start()
        self.add_user(d1, "erin", "erin@ex.test")
        fx.send_mail(d2, ["erin@ex.test"], *fx.numbered_messages(1))  # remembered by d2
        self.assertEqual(fx.rcpt_code(d2, "erin@ex.test"), 250)
        self.ctl_ok(d1, "user", "disable", "erin")
        changed = time.monotonic()
        fx.wait_until(lambda: fx.rcpt_code(d2, "erin@ex.test") // 100 == 5, timeout=5, interval=0.1,
                      what="the other daemon to refuse a disabled user")
        self.assertLess(time.monotonic() - changed, 3.0)


if __name__ == "__main__":
    unittest.main()
