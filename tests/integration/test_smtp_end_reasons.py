"""Why an SMTP session ended, as the smtp.disconnect log line says it: QUIT, the
error budget, a client that goes away (in a command or in DATA), the command
timeout. The words are part of the log format operators read (interface.md)."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402


class EndReasons(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None, hostname="mx.test.example", overrides={"smtp.command_timeout_seconds": 2,
                                                                           "smtp.data_timeout_seconds": 2})
        cls.d.start()
        cls.d.add_user("alice", addresses=["alice@ex.test"])

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def session_id(self, c):
        port = c.sock.getsockname()[1]
        return self.d.wait_log(rf"sid=(\S+) event=smtp\.connect service=smtp peer=127\.0\.0\.1:{port}\b").group(1)

    def end_reason(self, sid):
        """(reason, errors) of the session's smtp.disconnect line."""
        return self.d.wait_log(rf"sid={re.escape(sid)} event=smtp\.disconnect reason=(\S+) errors=(\d+)$").groups()

    def test_quit(self):
        with self.d.smtp() as c:
            sid = self.session_id(c)
            c.ehlo()
            self.assertEqual(c.cmd("QUIT").code, 221)
            self.assertTrue(c.closed(10))
        self.assertEqual(self.end_reason(sid), ("quit", "0"))

    def test_too_many_errors(self):
        with self.d.smtp() as c:
            sid = self.session_id(c)
            c.ehlo()
            codes = [c.cmd(f"BOGUS{i}").code for i in range(10)]
            self.assertEqual(codes[9], 421)
            self.assertTrue(c.closed(10))
        self.assertEqual(self.end_reason(sid), ("too-many-errors", "10"))

    def test_client_closes_between_commands(self):
        with self.d.smtp() as c:
            sid = self.session_id(c)
            c.ehlo()
            self.assertEqual(c.cmd("NOOP").code, 250)
        self.assertEqual(self.end_reason(sid), ("client-closed", "0"))

    def test_client_closes_in_data(self):
        with self.d.smtp() as c:
            sid = self.session_id(c)
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<s@remote.test>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@ex.test>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send("Subject: cut short\r\n\r\nhalf a mess")
        self.assertEqual(self.end_reason(sid), ("client-closed", "0"))

    def test_timeout(self):
        with self.d.smtp() as c:
            sid = self.session_id(c)
            c.ehlo()
            r = c.reply()  # nothing sent: the command timeout ends the session
            self.assertEqual((r.code, r.status), (421, "4.4.2"), r)
        self.assertEqual(self.end_reason(sid), ("timeout", "0"))

    def test_timeout_in_data(self):
        with self.d.smtp() as c:
            sid = self.session_id(c)
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<s@remote.test>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@ex.test>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send("Subject: slow\r\n")
            r = c.reply()
            self.assertEqual((r.code, r.status), (421, "4.4.2"), r)
        self.assertEqual(self.end_reason(sid), ("timeout", "0"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
