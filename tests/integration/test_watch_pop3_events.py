"""POP3 activity reaches the watch stream (and so shicks-top's Events view) as the
SMTP side's does: a login, each RETR and TOP, and the QUIT with the number of
messages it deleted.

Expectations: shicks-top(1) Events, design.md 7 (watch)."""

import json
import os
import poplib
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 15


class Pop3Events(unittest.TestCase):
    def setUp(self):
        self.d = fx.Daemon(self)
        self.d.start()
        self.d.add_user("alice", password="secret", addresses=["alice@example.org"])
        for subject in ("one", "two"):
            fx.send_mail(self.d, ["alice@example.org"], f"Subject: {subject}\r\n\r\nhi\r\n",
                         sender="bob@sender.example", timeout=TIMEOUT, mail_options=())

    def watch(self):
        """Opens a watch that starts after the events so far; returns its line reader."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.settimeout(TIMEOUT)
        s.connect(self.d.control_socket)
        f = s.makefile("rb")
        self.addCleanup(f.close)
        s.sendall(b'{"v":1,"id":1,"cmd":"watch","args":{"interval_seconds":0.2}}\n')
        self.assertIs(json.loads(f.readline())["ok"], True)
        return f

    def activity(self, f, count):
        """The next `count` activity lines as (type, {field: value})."""
        out = []
        deadline = time.monotonic() + TIMEOUT
        while len(out) < count and time.monotonic() < deadline:
            line = json.loads(f.readline())
            if line["event"] == "activity":
                out.append((line["type"], dict(line["fields"])))
        return out

    def test_login_retrievals_and_quit_are_events(self):
        f = self.watch()
        p = poplib.POP3("127.0.0.1", self.d.ports["pop3"], timeout=TIMEOUT)
        p.user("alice")
        p.pass_("secret")
        resp, lines, octets = p.retr(2)
        p.top(1, 0)
        p.dele(1)
        p.dele(2)
        p.quit()
        events = self.activity(f, 4)
        self.assertEqual([t for t, _ in events], ["pop3.login", "pop3.retrieved", "pop3.top", "pop3.quit"], events)
        self.assertEqual(events[0][1], {"user": "alice", "peer": "127.0.0.1", "messages": "2"})
        self.assertEqual((events[1][1]["user"], events[1][1]["message"]), ("alice", "2"))
        self.assertGreater(int(events[1][1]["octets"]), octets)  # as sent: with the CRLFs and the final dot
        self.assertEqual((events[2][1]["user"], events[2][1]["message"]), ("alice", "1"))
        self.assertEqual(events[3][1], {"user": "alice", "deleted": "2"})

        # A session that deletes nothing still ends with its QUIT event.
        p = poplib.POP3("127.0.0.1", self.d.ports["pop3"], timeout=TIMEOUT)
        p.user("alice")
        p.pass_("secret")
        p.quit()
        events = self.activity(f, 2)
        self.assertEqual(events, [("pop3.login", {"user": "alice", "peer": "127.0.0.1", "messages": "0"}),
                                  ("pop3.quit", {"user": "alice", "deleted": "0"})])


if __name__ == "__main__":
    unittest.main()
