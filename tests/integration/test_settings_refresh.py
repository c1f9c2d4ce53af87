"""A runtime setting changed with `shicksctl config set` is in force when the command
answers and is never seen to go back: the periodic re-read of the settings table
(every 5 s) that began before the change committed must not put the old value back
when it ends after it (reads and writes are ordered by the 'settings' change counter).

Expectations: shicksctl(8) config set."""

import os
import smtplib
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 15
KEYWORD = "flipflop"
REFRESH_SECONDS = 5  # SettingsCache's period in daemon.cpp
MIN_FLIPS = 8
# Rows the daemon does not know (as a newer Shicks could leave behind) make every
# read of the table take a while, so that the writes below fall inside reads.
FILLER_ROWS = 150000


class ConfigSetNeverGoesBack(unittest.TestCase):
    def setUp(self):
        self.d = fx.Daemon(self)
        self.d.start()
        self.d.add_user("rcpt", addresses=["rcpt@local.test"])
        rc, out, err = self.d.ctl("spam", "add-keyword", KEYWORD)
        self.assertEqual(rc, 0, err)
        self.d.sql("INSERT INTO settings (name, value, updated_at) SELECT CONCAT('test.filler.', seq), "
                   f"'unused', UTC_TIMESTAMP(6) FROM seq_1_to_{FILLER_ROWS}")

    def spam_action_in_force(self):
        """What the SMTP sessions do with a message whose Subject has the keyword."""
        body = (f"From: <s@remote.test>\r\nTo: <rcpt@local.test>\r\nSubject: {KEYWORD} now\r\n\r\nhi\r\n").encode()
        try:
            fx.send_mail(self.d, ["rcpt@local.test"], body, sender="s@remote.test", timeout=TIMEOUT, mail_options=())
        except smtplib.SMTPDataError as e:
            self.assertEqual(e.smtp_code, 550, e)
            return "reject"
        return "tag"

    def test_every_acknowledged_value_stays_in_force(self):
        self.assertEqual(self.spam_action_in_force(), "tag")
        # Each value is held a little longer than a read of the table takes, so that a
        # periodic read that saw the previous value ends while this one is probed.
        start = time.monotonic()
        rc, out, err = self.d.ctl("config", "set", "spam.action", "tag")
        self.assertEqual(rc, 0, err)
        hold = max(0.5, 2 * (time.monotonic() - start))
        value, flips = "tag", 0
        # At least three periodic reads and at least MIN_FLIPS changes, however slow
        # the machine is (each change is held for `hold`, which grows with the load).
        deadline = time.monotonic() + 3 * REFRESH_SECONDS + 1
        while time.monotonic() < deadline or flips < MIN_FLIPS:
            value = "reject" if value == "tag" else "tag"
            rc, out, err = self.d.ctl("config", "set", "spam.action", value)
            self.assertEqual((rc, out, err), (0, f"spam.action = {value}\n", ""))
            flips += 1
            until = time.monotonic() + hold
            while True:
                self.assertEqual(self.spam_action_in_force(), value,
                                 f"spam.action went back after `config set spam.action {value}` was answered")
                if time.monotonic() >= until:
                    break
        self.assertEqual(self.d.setting("spam.action"), value)

if __name__ == "__main__":
    unittest.main()
