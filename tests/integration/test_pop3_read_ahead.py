"""RETR and TOP read the starts of the next messages ahead, in one round trip, and
serve them from the session: whatever the order of the commands, deletion marks,
pipelining, message sizes (tiny, past the read-ahead budget, past one 1 MiB chunk)
and contents (lines starting with ".", 8-bit bytes), every response is byte-exact and
its size is the one LIST gives.

Expectations: RFC 1939 7 (RETR, TOP), RFC 2449 6.6 (PIPELINING), design.md 3."""

import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 30
COUNT = 50
BIG = {12: 1_300_000, 31: 2_700_000}  # more than one 1 MiB chunk
MEDIUM = range(20, 27)                 # 200 KiB each: a read-ahead ends at its byte budget
DOTS = 5                               # every line starts with "."
TINY = {3, 4, 40}


def make_body(i):
    rng = random.Random(i)
    if i in BIG:
        size = BIG[i]
    elif i in MEDIUM:
        size = 200 * 1024
    elif i in TINY:
        size = 1
    else:
        size = rng.randrange(50, 20_000)
    alphabet = bytes(range(0x20, 0x7f)) + bytes(range(0x80, 0x100))
    lines, n = [], 0
    while n < size:
        line = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 90)))
        if i == DOTS or rng.random() < 0.05:
            line = b"." + line
        if i == DOTS and len(lines) % 3 == 0:
            line = b"."
        lines.append(line)
        n += len(line) + 2
    return f"Subject: m{i}\r\nFrom: <sender@remote.test>\r\n\r\n".encode() + b"\r\n".join(lines) + b"\r\n"


def expected_retr(entry):
    return b"Return-Path: <" + entry["envelope_from"].encode() + b">\r\n" + entry["body"]


def expected_top(entry, n):
    head, body = expected_retr(entry).split(b"\r\n\r\n", 1)
    lines = body.split(b"\r\n")[:-1]
    return head + b"\r\n\r\n" + b"".join(line + b"\r\n" for line in lines[:n])


class Pop3ReadAhead(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(overrides={"pop3.lock_wait_seconds": 0})
        cls.d.start()
        cls.d.add_user("alice", password="alice-pw", addresses=["alice@ex.test"])
        fx.send_mail(cls.d, ["alice@ex.test"], *[make_body(i) for i in range(COUNT)])
        cls.entries = cls.d.messages("alice")
        assert len(cls.entries) == COUNT, len(cls.entries)
        assert cls.entries[12]["chunk_count"] == 2 and cls.entries[31]["chunk_count"] == 3

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.d.cleanup()

    def setUp(self):
        self.p = fx.RawPop3(self.d.ports["pop3"], timeout=TIMEOUT)
        self.addCleanup(self.p.close)
        r = self.p.login("alice", "alice-pw")
        self.assertTrue(r.startswith("+OK"), r)
        status, listing = self.p.multi("LIST")
        self.sizes = [int(line.split()[1]) for line in listing.split(b"\r\n") if line]
        self.assertEqual(self.sizes, [e["size"] for e in self.entries])

    def tearDown(self):
        # RSET: every test starts from the whole maildrop.
        self.assertTrue(self.p.cmd("RSET").startswith("+OK"))
        self.assertTrue(self.p.cmd("QUIT").startswith("+OK"))
        self.assertEqual(len(self.d.messages("alice")), COUNT)
        self.assertNotIn("pop3.retrieve_broken", self.d.log())

    def check_retr(self, n, status, raw):
        e = self.entries[n - 1]
        self.assertEqual(status, f"+OK {e['size']} octets", f"RETR {n}")
        got = fx.unstuff(raw)
        self.assertEqual(len(got), self.sizes[n - 1], f"RETR {n}: size")
        self.assertEqual(got, expected_retr(e), f"RETR {n}: content")

    def retr(self, n):
        status, raw = self.p.multi(f"RETR {n}")
        self.check_retr(n, status, raw)

    def top(self, n, lines):
        status, raw = self.p.multi(f"TOP {n} {lines}")
        self.assertTrue(status.startswith("+OK"), status)
        self.assertEqual(fx.unstuff(raw), expected_top(self.entries[n - 1], lines), f"TOP {n} {lines}")

    def test_in_order(self):
        for n in range(1, COUNT + 1):
            self.retr(n)

    def test_in_order_twice(self):
        # A message sent once leaves the read-ahead; asked for again it is read again.
        for n in range(1, 11):
            self.retr(n)
        for n in range(1, 11):
            self.retr(n)

    def test_out_of_order(self):
        order = list(range(1, COUNT + 1))
        random.Random(7).shuffle(order)
        for n in [40, 3, 41, 2, 50, 1, 13, 12, 32, 31] + order:
            self.retr(n)

    def test_top_then_retr(self):
        for n in range(1, COUNT + 1):
            self.top(n, [0, 1, 3, 10][n % 4])
        self.top(32, 100000)  # more lines than the message has: all of it
        self.top(6, 4)        # the dot-stuffed one
        for n in (1, 2, 6, 13, 32, 33):
            self.retr(n)

    def test_retr_around_deletion_marks(self):
        self.retr(1)  # reads ahead 2, 3, ...
        self.assertTrue(self.p.cmd("DELE 2").startswith("+OK"))
        self.assertTrue(self.p.cmd("RETR 2").startswith("-ERR"))
        self.retr(3)
        # Marked before the read-ahead: skipped by it, and still refused.
        for n in (16, 18):
            self.assertTrue(self.p.cmd(f"DELE {n}").startswith("+OK"))
        self.retr(15)
        self.assertTrue(self.p.cmd("RETR 16").startswith("-ERR"))
        self.retr(17)
        self.assertTrue(self.p.cmd("RETR 18").startswith("-ERR"))
        self.retr(19)
        # RSET clears the marks: those messages are read again.
        self.assertTrue(self.p.cmd("RSET").startswith("+OK"))
        for n in (2, 16, 18, 20):
            self.retr(n)

    def test_pipelined(self):
        order = list(range(1, COUNT + 1)) + [7, 6, 5, 32, 1]
        cmds = []
        for n in order:
            cmds.append(f"RETR {n}\r\n")
            if n % 5 == 0:
                cmds.append(f"TOP {n} 2\r\n")
        self.p.send("".join(cmds))
        for c in cmds:
            parts = c.split()
            n = int(parts[1])
            status = self.p.line().decode()
            raw = self.p.multi_raw()
            if parts[0] == "RETR":
                self.check_retr(n, status, raw)
            else:
                self.assertTrue(status.startswith("+OK"), status)
                self.assertEqual(fx.unstuff(raw), expected_top(self.entries[n - 1], 2))


class Pop3ReadAheadGone(unittest.TestCase):
    def test_entry_gone_from_the_database(self):
        d = fx.Daemon(self)
        d.start()
        d.add_user("bob", password="bob-pw", addresses=["bob@ex.test"])
        fx.send_mail(d, ["bob@ex.test"], *[make_body(i) for i in range(6)])
        entries = d.messages("bob")
        p = fx.RawPop3(d.ports["pop3"], timeout=TIMEOUT)
        self.addCleanup(p.close)
        self.assertTrue(p.login("bob", "bob-pw").startswith("+OK"))
        # Removed behind the session's back (as no Shicks path does while the lease is
        # held): a message not yet read is reported as unreadable, its neighbours are not.
        d.sql(f"DELETE FROM mailbox_entries WHERE id = {entries[3]['entry_id']}")
        status, raw = p.multi("RETR 3")  # reads ahead 4 (gone), 5, 6
        self.assertEqual(fx.unstuff(raw), expected_retr(entries[2]))
        self.assertTrue(p.cmd("RETR 4").startswith("-ERR [SYS/TEMP]"))
        for n in (5, 6, 1):
            status, raw = p.multi(f"RETR {n}")
            self.assertTrue(status.startswith("+OK"), status)
            self.assertEqual(fx.unstuff(raw), expected_retr(entries[n - 1]))
        self.assertTrue(p.cmd("RETR 4").startswith("-ERR [SYS/TEMP]"))  # also when asked first
        self.assertIn("event=pop3.retrieve_failed", d.log())
        self.assertTrue(p.cmd("QUIT").startswith("+OK"))


if __name__ == "__main__":
    unittest.main()
