"""shicksctl's wording: an unknown command is named, with the commands that exist
(exit 2); `status` is a short summary and `status --verbose` shows every listener
and counter, while `status --json` keeps every field.

Expectations: shicksctl(8) Status, EXIT STATUS."""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 15
TOP_COMMANDS = "status, ping, reload, user, address, mailbox, relay, spam, queue, session, auth, config"
USER_COMMANDS = "add, del, list, show, passwd, disable, enable"


def shicksctl(*args):
    p = subprocess.run([fx.shicksctl_path(), "--socket", "/nonexistent/c.sock", *args], capture_output=True,
                       text=True, timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr


class UnknownCommands(unittest.TestCase):
    def usage_error(self, *args):
        rc, out, err = shicksctl(*args)
        self.assertEqual((rc, out), (2, ""), err)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertNotIn("A subcommand is required", err)
        return err

    def test_the_word_not_understood_is_named_with_the_commands(self):
        err = self.usage_error("frobnicate")
        self.assertEqual(err, f'shicksctl: unknown command "frobnicate"; the commands are: {TOP_COMMANDS} '
                              f'(see shicksctl --help)\n')
        err = self.usage_error("user", "frob")
        self.assertEqual(err, f'shicksctl: unknown command "user frob"; the user commands are: {USER_COMMANDS} '
                              f'(see shicksctl user --help)\n')
        self.assertIn('unknown command "user frob"', self.usage_error("--json", "user", "frob", "alice"))
        self.assertEqual(self.usage_error("user"),
                         f'shicksctl: "user" needs a command: {USER_COMMANDS} (see shicksctl user --help)\n')
        self.assertIn(f"no command given; the commands are: {TOP_COMMANDS}", self.usage_error())
        self.assertIn('unknown command "config frob"; the config commands are: list, get, set',
                      self.usage_error("config", "frob"))

    def test_other_usage_errors_keep_their_messages(self):
        rc, out, err = shicksctl("status", "--bogus")
        self.assertEqual(rc, 2)
        self.assertIn("--bogus", err)
        rc, out, err = shicksctl("relay", "set", "--port", "25")
        self.assertEqual(rc, 2)
        self.assertIn("--host is required", err)


class Status(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None)
        try:
            cls.d.start()
            cls.d.add_user("st", addresses=["st@local.test"])
            fx.send_mail(cls.d, ["st@local.test"], b"Subject: hi\r\n\r\nhello\r\n", sender="s@remote.test")
        except BaseException:
            cls.d.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def ok(self, *args):
        rc, out, err = self.d.ctl(*args)
        self.assertEqual((rc, err), (0, ""), out)
        return out

    def test_default_is_a_short_summary(self):
        out = self.ok("status")
        lines = out.splitlines()
        self.assertLessEqual(len(lines), 12, out)
        self.assertRegex(lines[0], r"^shicksd \S+ on mx\.test\.example, up ")
        self.assertRegex(out, rf"(?m)^database\s+external {self.d.db_name}, up - ")
        self.assertRegex(out, r"(?m)^relay queue\s+0 entries$")
        self.assertRegex(out, rf"(?m)^listeners\s+smtp {self.d.address('smtp')}, submission ")
        for svc in ("smtp", "submission", "smtps", "pop3", "pop3s"):
            self.assertIn(f"{svc} {self.d.address(svc)}", out)
        self.assertRegex(out, rf"(?m)^control\s+{self.d.control_socket}$")
        self.assertRegex(out, r"(?m)^connections\s+\d+ open, \d+ since start$")
        self.assertRegex(out, r"(?m)^mail in\s+1 accepted, 0 refused$")
        self.assertRegex(out, r"(?m)^mail out\s+0 retrieved over POP3, 0 relayed, 0 deferred, 0 bounced$")
        self.assertRegex(out, r"(?m)^spam\s+0 hits, 0 refused$")
        self.assertNotIn("counters", out)
        self.assertNotIn("smtp_bytes_received", out)
        for line in lines:
            self.assertLessEqual(len(line), 80, line)

    def test_verbose_shows_every_counter(self):
        counters = self.d.ctl_json("status")["counters"]
        self.assertGreaterEqual(len(counters), 19)
        for flag in ("--verbose", "-v"):
            out = self.ok("status", flag)
            self.assertRegex(out, r"(?m)^counters\s+\S+\s+\d+$")
            for name in counters:
                self.assertRegex(out, rf"(?m)^(counters)?\s+{name}\s+\d+$")
            self.assertRegex(out, r"(?m)^\s+smtp_messages_accepted\s+1$")
            self.assertRegex(out, rf"(?m)^listeners\s+smtp\s+{self.d.address('smtp')}$")
            self.assertRegex(out, rf"(?m)^database\s+external {self.d.db_name}\s+up")

    def test_json_keeps_every_field(self):
        rc, out, err = self.d.ctl("status", "--verbose", json=True)
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        self.assertEqual(json.loads(self.d.ctl("status", json=True)[1]).keys(), doc.keys())
        for key in ("version", "hostname", "uptime_seconds", "listeners", "database", "connections_open",
                    "connections_total", "counters"):
            self.assertIn(key, doc)
        self.assertEqual(doc["counters"]["smtp_messages_accepted"], 1)


if __name__ == "__main__":
    unittest.main()
