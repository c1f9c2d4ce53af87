"""Hostile and edge-case SMTP input against the real daemon: long command and text
lines, over-long lines without unbounded buffering, pipelining (RFC 2920, swaks),
SMTP smuggling (only CRLF.CRLF ends DATA; bare CR/LF refused with 550 5.5.2),
size and recipient limits, control bytes in commands, the error budget, command and
data timeouts, and the per-IP connection cap.

Expectations: interface.md, design.md 8, RFC 5321 (2.3.8, 4.1.1.4, 4.5.3),
RFC 1870, RFC 2920, issue 3."""

import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

HOST = "mx.test.example"
TIMEOUT = 15


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sanitized(pid):
    """True when shicksd runs under ASan/LSan (its heap does not shrink the same way)."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return any("libasan" in line or "libtsan" in line for line in f)
    except OSError:
        return False


def populate(d):
    d.add_user("alice", addresses=["alice@ex.test"])
    d.add_user("bob", addresses=["bob@ex.test"])
    d.add_user("carol", addresses=["carol@ex.test"])
    d.add_user("dave", addresses=["dave@ex.test"])


class HostileCase(unittest.TestCase):
    d = None

    def entries(self, subject):
        return self.d.messages(where=f"m.subject = {fx.sql_quote(subject)}")

    def subjects_like(self, pattern):
        return self.d.sql(f"SELECT subject FROM messages WHERE subject LIKE {fx.sql_quote(pattern)}").split("\n")[:-1]

    def open_transaction(self, c, rcpts=("alice@ex.test",)):
        self.assertEqual(c.ehlo().code, 250)
        c.open_data("sender@x.test", rcpts)


class Hostile(HostileCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None, hostname=HOST)
        cls.d.start()
        populate(cls.d)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    # ---- line lengths
    def test_long_command_lines_accepted(self):
        with self.d.smtp() as c:
            c.ehlo()
            for total in (511, 512, 513, 900, 1000, 2000):  # octets before CRLF
                r = c.cmd("NOOP " + "x" * (total - 5))
                self.assertEqual(r.code, 250, f"a NOOP line of {total} octets: {r}")
            self.assertEqual(c.cmd("MAIL FROM:<sender@x.test>").code, 250)
            # ~900 octets: a syntax problem (local part over 64 octets), not a line problem.
            r = c.cmd("RCPT TO:<" + "a" * 880 + "@ex.test>")
            self.assertEqual(r.code, 553, r)
            self.assertEqual(c.cmd("RCPT TO:<alice@ex.test>").code, 250)

    def test_over_long_line_500_552_and_memory_bounded(self):
        with self.d.smtp() as c:
            c.ehlo()
            r = c.cmd(b"NOOP " + b"x" * (100 * 1024))
            self.assertEqual((r.code, r.status), (500, "5.5.2"), r)
            self.assertEqual(c.cmd("NOOP").code, 250, "the session goes on after an over-long line")
            before = rss_kib(self.d.pid)
            chunk = b"y" * (1 << 20)
            for _ in range(32):  # 32 MiB without a line end
                c.send(chunk)
            r = c.cmd(b"")
            self.assertEqual((r.code, r.status), (500, "5.5.2"), r)
            grown = rss_kib(self.d.pid) - before
            if not sanitized(self.d.pid):
                self.assertLess(grown, 16 * 1024, f"shicksd grew by {grown} KiB while a 32 MiB line arrived")
            self.assertEqual(c.cmd("NOOP").code, 250)
            self.assertEqual(c.cmd("MAIL FROM:<sender@x.test>").code, 250)

    def test_long_text_lines_stored_intact(self):
        body = (b"short line\r\n" + b"A" * 998 + b"\r\n" + b"B" * 2000 + b"\r\n" + b"C" * 10000 + b"\r\n"
                + b"." + b"D" * 1999 + b"\r\nend\r\n")
        msg = b"From: <sender@x.test>\r\nSubject: hostile-longlines\r\n\r\n" + body
        with fx.smtp_client(self.d, timeout=TIMEOUT) as s:
            s.ehlo()
            s.mail("sender@x.test")
            s.rcpt("alice@ex.test")
            code, text = s.data(msg)
            self.assertEqual(code, 250, text)
        es = self.entries("hostile-longlines")
        self.assertEqual(len(es), 1)
        _, rest = fx.split_received(es[0]["body"])
        self.assertEqual(rest, msg, "text lines over 1000 octets must not be truncated or split")

    # ---- pipelining
    def test_pipelined_transaction_in_one_write(self):
        with self.d.smtp() as c:
            self.assertEqual(c.ehlo().code, 250)
            c.send(b"MAIL FROM:<sender@x.test>\r\nRCPT TO:<alice@ex.test>\r\nRCPT TO:<nobody@ex.test>\r\n"
                   b"RCPT TO:<bob@ex.test>\r\nDATA\r\n")
            codes = [c.reply().code for _ in range(5)]
            self.assertEqual(codes, [250, 250, 550, 250, 354])
            c.send(b"Subject: hostile-pipelined\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n")
            r = c.reply()
            self.assertEqual(r.code, 250, r)
            self.assertEqual(c.reply().code, 250)
            self.assertEqual(c.reply().code, 221)
        self.assertEqual(sorted(e["user"] for e in self.entries("hostile-pipelined")), ["alice", "bob"])

    def test_swaks_pipelining(self):
        p = subprocess.run(["swaks", "--pipeline", "--server", f"127.0.0.1:{self.d.ports['smtp']}",
                            "--helo", "swaks.example", "--to", "bob@ex.test", "--from", "sender@x.test",
                            "--header", "Subject: hostile-swaks-pipelining", "--timeout", "20"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("PIPELINING", p.stdout)
        # swaks marks the commands it sent in one batch: MAIL, RCPT and DATA together.
        self.assertRegex(p.stdout, r"-> MAIL FROM:<sender@x\.test>\n -> RCPT TO:<bob@ex\.test>\n -> DATA\n", p.stdout)
        self.assertEqual([e["user"] for e in self.entries("hostile-swaks-pipelining")], ["bob"])

    # ---- smuggling and bare line ends
    def smuggle(self, tag, sep):
        """DATA whose body holds `sep` (a fake end of data) and a smuggled transaction."""
        smuggled = (b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<bob@ex.test>\r\nDATA\r\n"
                    b"Subject: hostile-smuggled-" + tag.encode() + b"\r\n\r\nevil\r\n")
        body = (b"Subject: hostile-smuggle-" + tag.encode() + b"\r\n\r\nhello\r\n" + b"text" + sep + smuggled)
        with self.d.smtp() as c:
            self.open_transaction(c, ("alice@ex.test",))
            c.send(body + b".\r\nNOOP\r\n")
            r = c.reply()
            self.assertEqual((r.code, r.status), (550, "5.5.2"), f"{sep!r}: {r}")
            r = c.reply()
            self.assertEqual((r.code, r.status), (250, "2.0.0"), f"{sep!r}: the next reply is NOOP's: {r}")
            self.assertEqual(c.cmd("RCPT TO:<alice@ex.test>").code, 503, "the refused transaction is over")
            self.assertEqual(c.cmd("QUIT").code, 221)
        self.assertEqual(self.subjects_like(f"hostile-smuggle%-{tag}"), [], f"{sep!r}: something was stored")

    def test_smuggling_lf_dot_lf(self):
        self.smuggle("lf", b"\n.\n")

    def test_smuggling_cr_dot_cr(self):
        self.smuggle("cr", b"\r.\r")

    def test_smuggling_crlf_dot_lf(self):
        self.smuggle("crlf-lf", b"\r\n.\n")

    def test_smuggling_lf_dot_crlf(self):
        self.smuggle("lf-crlf", b"\n.\r\n")

    def test_smuggling_cr_dot_crlf(self):
        self.smuggle("cr-crlf", b"\r.\r\n")

    def test_bare_lf_and_bare_cr_refused(self):
        for tag, body in (("lf", b"line one\nline two\r\n"), ("cr", b"line one\rline two\r\n"),
                          ("lf-before-end", b"last line\n\r\n")):
            with self.d.smtp() as c:
                self.open_transaction(c)
                r = c.cmd(b"Subject: hostile-bare-" + tag.encode() + b"\r\n\r\n" + body + b".")
                self.assertEqual((r.code, r.status), (550, "5.5.2"), f"{body!r}: {r}")
                self.assertEqual(c.cmd("NOOP").code, 250)
        self.assertEqual(self.subjects_like("hostile-bare-%"), [])

    def swaks_data(self, name, data):
        """swaks --data FILE --no-data-fixup: the file is sent as it is, then CRLF
        (so `data` ends with the final "." of CRLF.CRLF)."""
        path = os.path.join(self.d.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return subprocess.run(["swaks", "--server", f"127.0.0.1:{self.d.ports['smtp']}", "--helo", "swaks.example",
                               "--to", "alice@ex.test", "--from", "sender@x.test", "--data", "@" + path,
                               "--no-data-fixup", "--timeout", "20"],
                              capture_output=True, text=True, timeout=60)

    def test_swaks_bare_lf_no_data_fixup(self):
        p = self.swaks_data("bare-lf.eml", b"Subject: hostile-swaks-bare\r\n\r\nline one\nline two\r\n.")
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertRegex(p.stdout, r"<\*\* +550 5\.5\.2", p.stdout)
        self.assertRegex(p.stdout, r"<-  221 ", "QUIT is answered in step")
        self.assertEqual(self.subjects_like("hostile-swaks-bare%"), [])

    def test_swaks_smuggling_no_data_fixup(self):
        p = self.swaks_data("smuggle.eml", b"Subject: hostile-swaks-smuggle\r\n\r\nhello\n.\n"
                                           b"MAIL FROM:<evil@x.test>\nRCPT TO:<bob@ex.test>\nDATA\n"
                                           b"Subject: hostile-swaks-smuggled\n\nevil\n.\n\r\n.")
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertRegex(p.stdout, r"<\*\* +550 5\.5\.2", p.stdout)
        self.assertRegex(p.stdout, r"<-  221 ", "QUIT is answered in step")
        self.assertEqual(self.subjects_like("hostile-swaks-smuggle%"), [])

    # ---- control bytes and the error budget
    def test_control_bytes_in_commands_501(self):
        with self.d.smtp() as c:
            c.ehlo()
            for line in (b"NOOP a\x00b", b"MAIL FROM:<a\x00b@x.test>", b"\x00", b"NOOP \x01", b"EHLO a\x7fb",
                         b"NOOP a\rb"):
                r = c.cmd(line)
                self.assertEqual(r.code, 501, f"{line!r}: {r}")
            self.assertEqual(c.cmd("NOOP").code, 250)

    def test_error_budget_421(self):
        with self.d.smtp() as c:
            c.ehlo()
            codes = [c.cmd(f"BOGUS{i}").code for i in range(10)]
            self.assertEqual(codes[:9], [500] * 9)
            self.assertEqual(codes[9], 421, "the 10th error ends the session")
            self.assertTrue(c.closed(10), "the connection is closed after 421")


class Limits(HostileCase):
    """max_message_size_bytes = 100000, max_recipients = 3."""

    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None, hostname=HOST, overrides={"smtp.max_message_size_bytes": 100000,
                                                          "smtp.max_recipients": 3})
        cls.d.start()
        populate(cls.d)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_size_announced_and_refused_at_mail(self):
        with self.d.smtp() as c:
            r = c.ehlo()
            self.assertIn("SIZE 100000", r.lines)
            r = c.cmd("MAIL FROM:<sender@x.test> SIZE=200000")
            self.assertEqual((r.code, r.status), (552, "5.3.4"), r)
            r = c.cmd("MAIL FROM:<sender@x.test> SIZE=90000")
            self.assertEqual(r.code, 250, r)

    def test_message_over_the_limit_552_nothing_stored(self):
        with self.d.smtp() as c:
            self.open_transaction(c)
            line = b"z" * 98 + b"\r\n"
            big = b"Subject: hostile-too-big\r\n\r\n" + line * 2000  # ~200 kB
            r = c.cmd(big + b".")
            self.assertEqual((r.code, r.status), (552, "5.3.4"), r)
            self.assertEqual(c.cmd("NOOP").code, 250, "the session goes on")
            # The same session can still send a message within the limit.
            self.assertEqual(c.cmd("MAIL FROM:<sender@x.test>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@ex.test>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            ok = b"Subject: hostile-fits\r\n\r\n" + line * 900  # ~90 kB
            r = c.cmd(ok + b".")
            self.assertEqual(r.code, 250, r)
        self.assertEqual(self.subjects_like("hostile-too-big"), [])
        es = self.entries("hostile-fits")
        self.assertEqual(len(es), 1)
        self.assertEqual(fx.split_received(es[0]["body"])[1], ok)

    def test_max_recipients_452(self):
        with self.d.smtp() as c:
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<sender@x.test>").code, 250)
            for rcpt in ("alice@ex.test", "bob@ex.test", "carol@ex.test"):
                self.assertEqual(c.cmd(f"RCPT TO:<{rcpt}>").code, 250)
            r = c.cmd("RCPT TO:<dave@ex.test>")
            self.assertEqual((r.code, r.status), (452, "4.5.3"), r)
            self.assertEqual(c.cmd("DATA").code, 354)
            r = c.cmd(b"Subject: hostile-rcpt-limit\r\n\r\nbody\r\n.")
            self.assertEqual(r.code, 250, r)
        self.assertEqual(sorted(e["user"] for e in self.entries("hostile-rcpt-limit")), ["alice", "bob", "carol"])


class Caps(HostileCase):
    """smtp.command_timeout_seconds = 2, data_timeout_seconds = 2, max_connections_per_ip = 3."""

    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None, hostname=HOST, overrides={"smtp.command_timeout_seconds": 2,
                                                          "smtp.data_timeout_seconds": 2,
                                                          "smtp.max_connections_per_ip": 3})
        cls.d.start()
        populate(cls.d)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def setUp(self):
        # Sessions of the previous test have timed out (2 s) and been released.
        time.sleep(0.2)

    def test_idle_client_gets_421_442(self):
        with self.d.smtp() as c:
            c.ehlo()
            t0 = time.monotonic()
            r = c.reply()  # nothing sent: the timeout reply
            elapsed = time.monotonic() - t0
            self.assertEqual((r.code, r.status), (421, "4.4.2"), r)
            self.assertGreater(elapsed, 1.5)
            self.assertLess(elapsed, 10)
            self.assertTrue(c.closed(5), "disconnected after the timeout")

    def test_stalled_data_times_out_nothing_stored(self):
        with self.d.smtp() as c:
            self.open_transaction(c)
            c.send(b"Subject: hostile-stalled\r\n\r\nhalf a mess")
            t0 = time.monotonic()
            r = c.reply()
            self.assertEqual((r.code, r.status), (421, "4.4.2"), r)
            self.assertLess(time.monotonic() - t0, 10)
            self.assertTrue(c.closed(5))
        self.assertEqual(self.subjects_like("hostile-stalled"), [])

    def test_per_ip_connection_cap(self):
        conns = []
        try:
            for _ in range(3):
                conns.append(self.d.smtp())
                self.assertEqual(conns[-1].greeting.code, 220)
            extra = fx.RawSmtp(self.d.ports["smtp"], greeting=False)
            conns.append(extra)
            r = extra.reply()
            self.assertEqual((r.code, r.status), (421, "4.7.0"), r)
            self.assertTrue(extra.closed(5))
        finally:
            for c in conns:
                c.close()

        # Once the sessions are gone, connections are accepted again.
        def accepted():
            with fx.RawSmtp(self.d.ports["smtp"], greeting=False) as c:
                return c.reply().code == 220
        fx.wait_until(accepted, 10, 0.2, "a connection to be accepted again")


if __name__ == "__main__":
    fx.main()
