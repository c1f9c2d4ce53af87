"""POP3 against the real daemon and MariaDB: every RFC 1939 command, CAPA (RFC 2449),
exact sizes, byte-stuffing, byte-exact round trips (8-bit, 5 MiB), the maildrop
snapshot, and the rule that only QUIT deletes.

Expectations: interface.md, design.md 3, RFC 1939/2449, issue 4."""

import os
import poplib
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 15
REQUIRED_CAPA = ["TOP", "USER", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "SASL", "STLS",
                 "IMPLEMENTATION"]


def message(subject, text="hello"):
    return f"From: <sender@remote.test>\r\nSubject: {subject}\r\n\r\n{text}\r\n".encode()


def expected_retr(entry):
    """What RETR must send for a stored entry (before stuffing): Return-Path + body."""
    return b"Return-Path: <" + entry["envelope_from"].encode() + b">\r\n" + entry["body"]


def pop(d, user=None, password=None, testcase=None):
    p = fx.RawPop3(d.ports["pop3"], timeout=TIMEOUT)
    if testcase is not None:
        testcase.addCleanup(p.close)
    if user:
        r = p.login(user, password)
        assert r.startswith("+OK"), r
    return p


class Pop3Commands(unittest.TestCase):
    """One daemon; each test uses its own user so tests do not share maildrops."""

    @classmethod
    def setUpClass(cls):
        # A held maildrop answers [IN-USE] at once here; waiting for it is
        # test_pop3_lock_wait's subject.
        cls.d = fx.Daemon(overrides={"pop3.lock_wait_seconds": 0})
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.d.cleanup()

    def pop(self, user=None, password=None):
        return pop(self.d, user, password, testcase=self)

    def user_with_mail(self, name, n=3, bodies=None):
        self.d.add_user(name, password=f"{name}-pw", addresses=[f"{name}@ex.test"])
        bodies = bodies or [message(f"{name} {i}", f"text {i}") for i in range(n)]
        fx.send_mail(self.d, [f"{name}@ex.test"], *bodies)
        return self.d.messages(name)

    def test_greeting_has_no_apop_timestamp(self):
        p = self.pop()
        self.assertTrue(p.greeting.startswith(b"+OK"), p.greeting)
        self.assertNotRegex(p.greeting.decode(), r"<[^>]*@[^>]*>")  # APOP is not offered
        self.assertTrue(p.cmd("APOP someone 0123456789abcdef0123456789abcdef").startswith("-ERR"))
        p.close()

    def test_capa_lists_capabilities(self):
        p = self.pop()
        status, body = p.multi("CAPA")
        self.assertTrue(status.startswith("+OK"))
        caps = [l.split(b" ")[0].decode() for l in body.split(b"\r\n") if l]
        for c in REQUIRED_CAPA:
            self.assertIn(c, caps)
        self.assertIn(b"SASL PLAIN", body)
        p.close()
        ps = fx.RawPop3(self.d.ports["pop3s"], tls=True, timeout=TIMEOUT)
        self.addCleanup(ps.close)
        status, body = ps.multi("CAPA")
        self.assertNotIn(b"STLS", body)  # already encrypted
        self.assertIn(b"USER", body)
        ps.close()

    def test_every_command_with_poplib(self):
        entries = self.user_with_mail("carol", 3)
        p = poplib.POP3("127.0.0.1", self.d.ports["pop3"], timeout=TIMEOUT)
        self.addCleanup(p.close)
        self.assertIn(b"+OK", p.user("carol"))
        self.assertTrue(p.pass_("carol-pw").startswith(b"+OK"))
        total = sum(e["size"] for e in entries)
        self.assertEqual(p.stat(), (3, total))
        resp, listing, _ = p.list()
        self.assertEqual(listing, [f"{i + 1} {e['size']}".encode() for i, e in enumerate(entries)])
        self.assertEqual(p.list(2), f"+OK 2 {entries[1]['size']}".encode())
        resp, uidls, _ = p.uidl()
        self.assertEqual(uidls, [f"{i + 1} {e['uidl']}".encode() for i, e in enumerate(entries)])
        self.assertEqual(p.uidl(3), f"+OK 3 {entries[2]['uidl']}".encode())
        resp, lines, octets = p.retr(1)
        self.assertEqual(b"\r\n".join(lines) + b"\r\n", expected_retr(entries[0]))
        resp, lines, _ = p.top(2, 0)
        header = expected_retr(entries[1]).split(b"\r\n\r\n", 1)[0]
        self.assertEqual(b"\r\n".join(lines), header + b"\r\n")
        resp, lines, _ = p.top(2, 1)
        self.assertEqual(lines[-1], b"text 1")
        self.assertTrue(p.noop().startswith(b"+OK"))
        self.assertTrue(p.dele(1).startswith(b"+OK"))
        self.assertEqual(p.stat()[0], 2)
        with self.assertRaises(poplib.error_proto):
            p.retr(1)  # marked as deleted
        with self.assertRaises(poplib.error_proto):
            p.dele(1)
        with self.assertRaises(poplib.error_proto):
            p.list(4)
        self.assertTrue(p.rset().startswith(b"+OK"))
        self.assertEqual(p.stat(), (3, total))
        self.assertTrue(p.quit().startswith(b"+OK"))
        self.assertEqual(len(self.d.messages("carol")), 3)  # RSET undid the mark

    def test_sizes_equal_octets_sent(self):
        bodies = [message("short"), message("long", "x" * 5000),
                  b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\nend\r\n",
                  b"Subject: empty body\r\n\r\n"]
        entries = self.user_with_mail("dave", bodies=bodies)
        p = self.pop("dave", "dave-pw")
        status, listing = p.multi("LIST")
        sizes = [int(l.split()[1]) for l in listing.split(b"\r\n") if l]
        stat = p.cmd("STAT").split()
        self.assertEqual(int(stat[2]), sum(sizes))
        for i, e in enumerate(entries):
            status, raw = p.multi(f"RETR {i + 1}")
            self.assertEqual(status, f"+OK {e['size']} octets")
            got = fx.unstuff(raw)
            self.assertEqual(len(got), sizes[i], f"message {i + 1}")
            self.assertEqual(got, expected_retr(e))
        p.cmd("QUIT")

    def test_dot_stuffing_on_the_wire(self):
        text = ".\r\n..\r\n.leading\r\nmiddle . dot\r\n. space\r\n"
        entries = self.user_with_mail("erin", bodies=[b"Subject: stuffing\r\n\r\n" + text.encode()])
        stored = entries[0]["body"]
        self.assertTrue(stored.endswith(text.encode()), "SMTP must have unstuffed what the client stuffed")
        p = self.pop("erin", "erin-pw")
        status, raw = p.multi("RETR 1")
        self.assertIn(b"\r\n..\r\n...\r\n..leading\r\nmiddle . dot\r\n.. space\r\n", raw)
        self.assertEqual(fx.unstuff(raw), expected_retr(entries[0]))
        status, raw = p.multi("TOP 1 2")
        self.assertTrue(raw.endswith(b"\r\n\r\n..\r\n...\r\n"), raw)
        p.cmd("QUIT")

    def test_8bit_round_trip_is_byte_exact(self):
        high = bytes(b for b in range(0x80, 0x100))
        body = (b"Subject: =?utf-8?q?8bit?=\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Transfer-Encoding: 8bit\r\n\r\n"
                + "Grüße, ça va? Привет 日本語\r\n".encode()
                + high + b"\r\n" + b"\x01\x7f tab\there\r\n")
        # Every other octet: NUL is refused at end of DATA with 554 5.6.0 (shicksd(8)).
        entries = self.user_with_mail("frank", bodies=[body])
        self.assertTrue(entries[0]["body"].endswith(body))
        p = self.pop("frank", "frank-pw")
        status, raw = p.multi("RETR 1")
        self.assertEqual(fx.unstuff(raw), expected_retr(entries[0]))
        p.cmd("QUIT")

    def test_5mib_round_trip_is_byte_exact(self):
        line = b"".join(bytes([33 + (i % 90)]) for i in range(76))
        lines = [(b"." if i % 7 == 0 else b"") + line[: 20 + i % 57] for i in range(5 * 1024 * 1024 // 45)]
        body = b"Subject: big\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
        self.assertGreater(len(body), 5 * 1024 * 1024)
        entries = self.user_with_mail("grace", bodies=[body])
        self.assertGreater(entries[0]["chunk_count"], 4)
        p = self.pop("grace", "grace-pw")
        self.assertEqual(p.cmd("LIST 1"), f"+OK 1 {entries[0]['size']}")
        status, raw = p.multi("RETR 1")
        got = fx.unstuff(raw)
        self.assertEqual(len(got), entries[0]["size"])
        self.assertEqual(got, expected_retr(entries[0]))
        # TOP of a large message stops early and is still well-formed.
        status, raw = p.multi("TOP 1 3")
        self.assertEqual(raw.count(b"\r\n"), expected_retr(entries[0]).split(b"\r\n\r\n", 1)[0].count(b"\r\n") + 5)
        p.cmd("QUIT")

    def test_dele_quit_removes_and_drop_keeps(self):
        entries = self.user_with_mail("heidi", 3)
        before_bodies = self.d.count("messages")
        # DELE then a dropped connection: nothing is removed.
        p = self.pop("heidi", "heidi-pw")
        self.assertTrue(p.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(p.cmd("DELE 2").startswith("+OK"))
        p.close()
        fx.wait_until(lambda: self.d.count("mailbox_leases") == 0, 10, what="lease released after drop")
        self.assertEqual(len(self.d.messages("heidi")), 3)
        # DELE then QUIT: removed, with their bodies (no other reference).
        p = self.pop("heidi", "heidi-pw")
        p.cmd("DELE 1")
        p.cmd("DELE 3")
        r = p.cmd("QUIT")
        self.assertTrue(r.startswith("+OK"), r)
        self.assertTrue(p.closed())
        left = self.d.messages("heidi")
        self.assertEqual([e["uidl"] for e in left], [entries[1]["uidl"]])
        self.assertEqual(self.d.count("messages"), before_bodies - 2)
        self.assertEqual(self.d.count("message_chunks", f"message_id IN ({entries[0]['message_id']}, "
                                                         f"{entries[2]['message_id']})"), 0)

    def test_shared_body_survives_until_last_entry(self):
        for n in ("ivan", "judy"):
            self.d.add_user(n, password=f"{n}-pw", addresses=[f"{n}@ex.test"])
        fx.send_mail(self.d, ["ivan@ex.test", "judy@ex.test"], message("shared"))
        mid = self.d.messages("ivan")[0]["message_id"]
        self.assertEqual(self.d.messages("judy")[0]["message_id"], mid)
        p = self.pop("ivan", "ivan-pw")
        p.cmd("DELE 1")
        p.cmd("QUIT")
        self.assertEqual(self.d.count("messages", f"id = {mid}"), 1)  # judy still has it
        p = self.pop("judy", "judy-pw")
        status, raw = p.multi("RETR 1")
        self.assertTrue(status.startswith("+OK"))
        p.cmd("DELE 1")
        p.cmd("QUIT")
        self.assertEqual(self.d.count("messages", f"id = {mid}"), 0)
        self.assertEqual(self.d.count("message_chunks", f"message_id = {mid}"), 0)

    def test_in_use_until_quit(self):
        self.user_with_mail("kim", 1)
        first = self.pop("kim", "kim-pw")
        second = self.pop()
        self.assertTrue(second.cmd("USER kim").startswith("+OK"))
        r = second.cmd("PASS kim-pw")
        self.assertTrue(r.startswith("-ERR [IN-USE]"), r)
        first.cmd("QUIT")
        self.assertTrue(second.login("kim", "kim-pw").startswith("+OK"))
        second.cmd("QUIT")

    def test_snapshot_ignores_new_mail_and_keeps_it(self):
        entries = self.user_with_mail("leo", 2)
        p = self.pop("leo", "leo-pw")
        fx.send_mail(self.d, ["leo@ex.test"], message("arrived later"))
        self.assertEqual(p.cmd("STAT").split()[1], "2")
        p.cmd("DELE 1")
        p.cmd("DELE 2")
        self.assertTrue(p.cmd("QUIT").startswith("+OK"))
        left = self.d.messages("leo")
        self.assertEqual(len(left), 1)
        self.assertEqual(left[0]["subject"], "arrived later")
        p = self.pop("leo", "leo-pw")
        self.assertEqual(p.cmd("STAT").split()[1], "1")
        self.assertNotIn(left[0]["uidl"], [e["uidl"] for e in entries])
        p.cmd("QUIT")

    def test_uidls_are_stable_and_unique(self):
        self.user_with_mail("mia", 4)
        p = self.pop("mia", "mia-pw")
        _, first = p.multi("UIDL")
        p.cmd("DELE 2")
        p.cmd("QUIT")
        p = self.pop("mia", "mia-pw")
        _, second = p.multi("UIDL")
        p.cmd("QUIT")
        u1 = [l.split()[1] for l in first.split(b"\r\n") if l]
        u2 = [l.split()[1] for l in second.split(b"\r\n") if l]
        self.assertEqual(len(set(u1)), 4)
        self.assertEqual(u2, [u1[0], u1[2], u1[3]])
        for u in u1:
            self.assertRegex(u.decode(), r"^[\x21-\x7e]{1,70}$")

    def test_login_with_address_and_wrong_password(self):
        self.user_with_mail("nina", 1)
        p = self.pop()
        p.cmd("USER nina")
        self.assertTrue(p.cmd("PASS wrong").startswith("-ERR [AUTH]"))
        self.assertTrue(p.login("Nina@EX.test", "nina-pw").startswith("+OK"))
        p.cmd("QUIT")

    def test_disabled_user_cannot_log_in(self):
        self.user_with_mail("oscar", 1)
        self.d.set_user_enabled("oscar", False)
        p = self.pop()
        p.cmd("USER oscar")
        self.assertTrue(p.cmd("PASS oscar-pw").startswith("-ERR [AUTH]"))
        p.close()

    def test_auth_plain(self):
        import base64
        self.user_with_mail("pat", 1)
        token = base64.b64encode(b"\0pat\0pat-pw").decode()
        p = self.pop()
        self.assertTrue(p.cmd(f"AUTH PLAIN {token}").startswith("+OK"))
        self.assertEqual(p.cmd("STAT").split()[1], "1")
        p.cmd("QUIT")
        p = self.pop()
        self.assertEqual(p.cmd("AUTH PLAIN"), "+ ")
        self.assertTrue(p.cmd(token).startswith("+OK"))
        p.cmd("QUIT")
        p = self.pop()
        bad = base64.b64encode(b"\0pat\0nope").decode()
        self.assertTrue(p.cmd(f"AUTH PLAIN {bad}").startswith("-ERR [AUTH]"))
        p.close()

    def test_pipelined_commands(self):
        entries = self.user_with_mail("quinn", 3)
        p = self.pop()
        p.send("USER quinn\r\nPASS quinn-pw\r\nSTAT\r\nRETR 1\r\nRETR 2\r\nUIDL 3\r\nQUIT\r\n")
        self.assertTrue(p.line().startswith(b"+OK"))
        self.assertTrue(p.line().startswith(b"+OK"))
        self.assertEqual(p.line().split()[1], b"3")
        for i in (0, 1):
            self.assertTrue(p.line().startswith(b"+OK"))
            self.assertEqual(fx.unstuff(p.multi_raw()), expected_retr(entries[i]))
        self.assertEqual(p.line().decode(), f"+OK 3 {entries[2]['uidl']}")
        self.assertTrue(p.line().startswith(b"+OK"))
        self.assertTrue(p.closed())

    def test_commands_sent_one_byte_at_a_time(self):
        entries = self.user_with_mail("rita", 1)
        p = self.pop()
        for b in b"USER rita\r\nPASS rita-pw\r\nRETR 1\r\n":
            p.send(bytes([b]))
        self.assertTrue(p.line().startswith(b"+OK"))
        self.assertTrue(p.line().startswith(b"+OK"))
        self.assertTrue(p.line().startswith(b"+OK"))
        self.assertEqual(fx.unstuff(p.multi_raw()), expected_retr(entries[0]))
        p.cmd("QUIT")

    def test_counters_in_status(self):
        before = self.d.ctl_json("status")["counters"]
        self.user_with_mail("sam", 2)
        p = self.pop("sam", "sam-pw")
        p.multi("RETR 1")
        p.cmd("DELE 2")
        p.cmd("QUIT")
        after = self.d.ctl_json("status")["counters"]
        self.assertGreaterEqual(after["pop3_sessions"], before["pop3_sessions"] + 1)
        self.assertGreaterEqual(after["pop3_logins"], before["pop3_logins"] + 1)
        self.assertGreaterEqual(after["pop3_retrievals"], before["pop3_retrievals"] + 1)
        self.assertGreaterEqual(after["pop3_deletions"], before["pop3_deletions"] + 1)
        self.assertGreater(after["pop3_bytes_sent"], before["pop3_bytes_sent"])


if __name__ == "__main__":
    unittest.main()
