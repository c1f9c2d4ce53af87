"""What DATA may hold, against the real daemon: LF-only messages (curl -T with a
file of LF line ends) on submission and SMTPS after AUTH are stored with CRLF line
ends, while the MX port still refuses a bare LF with 550 5.5.2 (the SMTP smuggling
defence) and only CRLF.CRLF ends DATA everywhere; the runtime setting
smtp.submission_bare_lf = reject turns the normalisation off. A NUL in a message is
refused with 554 5.6.0 at its end on every listener, nothing is stored, and the
session goes on.

Expectations: shicksd(8) "Message transfer", RFC 5321 2.3.8, 4.1.1.4, 4.5.2,
RFC 5322 2.3, RFC 6152."""

import base64
import os
import smtplib
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

HOST = "mx.test.example"
TIMEOUT = 15
PLAIN = base64.b64encode(b"\0sender\0sender-pw").decode()

# A file as an editor writes it: LF line ends, a dot line, leading dots.
LF_FILE = (b"From: <sender@ex.test>\nTo: <reader@ex.test>\nSubject: {subject}\n\n"
           b"line one\nline two\n\nlast line\n")


def has_bare_lf(data):
    return any(data[i] == 0x0A and (i == 0 or data[i - 1] != 0x0D) for i in range(len(data)))


class DataContent(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None, hostname=HOST)
        cls.d.start()
        cls.d.add_user("sender", password="sender-pw", addresses=["sender@ex.test"])
        cls.d.add_user("reader", password="reader-pw", addresses=["reader@ex.test"])
        cls.d.add_user("other", password="other-pw", addresses=["other@ex.test"])

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    # ---- helpers
    def stored(self, subject):
        return self.d.messages(where=f"m.subject = {fx.sql_quote(subject)}")

    def curl(self, service, path, rcpt="reader@ex.test", login=True):
        """curl -T path to `service`; returns the process (stderr holds the dialogue)."""
        args = ["curl", "-v", "-sS", "--max-time", "30", f"smtp://127.0.0.1:{self.d.ports[service]}/client.example",
                "--mail-from", "sender@ex.test", "--mail-rcpt", rcpt, "-T", path]
        if login:
            args += ["--user", "sender:sender-pw"]
        return subprocess.run(args, capture_output=True, text=True, timeout=60)

    def lf_file(self, name, subject, content=None):
        path = os.path.join(self.d.dir, name)
        with open(path, "wb") as f:
            f.write(content if content is not None else LF_FILE.replace(b"{subject}", subject.encode()))
        return path

    def raw_session(self, service, tls=False):
        c = self.d.smtp(service, tls=tls)
        self.addCleanup(c.close)
        self.assertEqual(c.ehlo().code, 250)
        r = c.cmd("AUTH PLAIN " + PLAIN)
        self.assertEqual(r.code, 235, r)
        return c

    def open_data(self, c, rcpt="reader@ex.test"):
        c.open_data("sender@ex.test", [rcpt])

    # ---- bare LF: submission normalises, the MX port refuses
    def test_curl_lf_file_on_submission_stored_with_crlf(self):
        path = self.lf_file("lf-sub.eml", "data-curl-lf-submission")
        p = self.curl("submission", path, rcpt="other@ex.test")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stderr, r"< 250 2\.0\.0 Ok: queued as")
        [entry] = self.stored("data-curl-lf-submission")
        header, rest = fx.split_received(entry["body"])
        # curl ends a file that does not end in CRLF with CRLF.CRLF: one empty line more.
        with open(path, "rb") as f:
            self.assertEqual(rest, f.read().replace(b"\n", b"\r\n") + b"\r\n")
        self.assertIn("authenticated as sender", header)
        # And so it reaches the reader's mail client.
        [(size, message)] = fx.pop3_fetch_all(self.d.ports["pop3"], "other", "other-pw")
        self.assertFalse(has_bare_lf(message), message)
        self.assertTrue(message.endswith(b"\r\nline one\r\nline two\r\n\r\nlast line\r\n\r\n"), message)
        self.assertEqual(size, len(message))
        with open(path, "rb") as f:
            lines = f.read().count(b"\n")
        self.d.wait_log(rf"event=smtp\.bare_lf_normalised lines={lines}$")

    def test_lf_dot_lf_inside_the_body_does_not_end_data(self):
        # "\n.\n" and "\n.\r\n" followed by a smuggled transaction: all of it is the
        # one message; only the real CRLF.CRLF at the end ends it. (curl would stuff the
        # dot of "\r\n.\n"; that one is sent raw below.)
        body = (b"Subject: data-lf-smuggle\n\nhello\n.\nMAIL FROM:<evil@x.test>\nRCPT TO:<other@ex.test>\n"
                b"DATA\nSubject: data-lf-smuggled\n\nevil\n.\r\nRSET\r\nend\n")
        path = self.lf_file("lf-smuggle.eml", None, body)
        p = self.curl("submission", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        [entry] = self.stored("data-lf-smuggle")
        _, rest = fx.split_received(entry["body"])
        # Each fake dot line is kept as an empty line (its dot deleted as at any line start).
        self.assertEqual(rest, b"Subject: data-lf-smuggle\r\n\r\nhello\r\n\r\nMAIL FROM:<evil@x.test>\r\n"
                               b"RCPT TO:<other@ex.test>\r\nDATA\r\nSubject: data-lf-smuggled\r\n\r\nevil\r\n\r\n"
                               b"RSET\r\nend\r\n\r\n")
        self.assertEqual(self.stored("data-lf-smuggled"), [])
        # Over a raw session: no reply until the real end; the next reply is NOOP's.
        c = self.raw_session("submission")
        self.open_data(c)
        c.send(b"Subject: data-lf-smuggle-raw\r\n\r\na\n.\nNOOP\n\r\n.\nb\n.\r\nc\r\n.\r\nNOOP\r\n")
        r = c.reply()
        self.assertEqual((r.code, r.status), (250, "2.0.0"), r)
        self.assertIn("queued as", r.text)
        r = c.reply()
        self.assertEqual(r.text, "2.0.0 Ok", r)
        [entry] = self.stored("data-lf-smuggle-raw")
        _, rest = fx.split_received(entry["body"])
        self.assertEqual(rest, b"Subject: data-lf-smuggle-raw\r\n\r\na\r\n\r\nNOOP\r\n\r\n\r\nb\r\n\r\nc\r\n")

    def test_dot_unstuffing_after_a_bare_lf(self):
        # A line after a bare LF is a line: its first dot is deleted (RFC 5321 4.5.2),
        # as curl --crlf or any client that stuffs its LF lines expects.
        c = self.raw_session("submission")
        self.open_data(c)
        r = c.cmd(b"Subject: data-lf-dots\n\n..one dot\n...two dots\n.\r\n.")
        self.assertEqual(r.code, 250, r)
        [entry] = self.stored("data-lf-dots")
        _, rest = fx.split_received(entry["body"])
        self.assertEqual(rest, b"Subject: data-lf-dots\r\n\r\n.one dot\r\n..two dots\r\n\r\n")

    def test_lf_on_smtps_after_auth_normalised(self):
        c = self.raw_session("smtps", tls=True)
        self.open_data(c)
        r = c.cmd(b"Subject: data-lf-smtps\n\nover TLS\nend\r\n.")
        self.assertEqual(r.code, 250, r)
        [entry] = self.stored("data-lf-smtps")
        _, rest = fx.split_received(entry["body"])
        self.assertEqual(rest, b"Subject: data-lf-smtps\r\n\r\nover TLS\r\nend\r\n")

    def test_bare_cr_on_submission_still_refused(self):
        c = self.raw_session("submission")
        for body in (b"a\rb\r\n", b"a\n\r.\r\n", b"a\r\r\n"):
            self.open_data(c)
            r = c.cmd(b"Subject: data-bare-cr\r\n\r\n" + body + b".")
            self.assertEqual((r.code, r.status), (550, "5.5.2"), f"{body!r}: {r}")
        self.assertEqual(c.cmd("NOOP").code, 250)
        self.assertEqual(self.stored("data-bare-cr"), [])

    def test_curl_lf_file_on_mx_port_refused(self):
        path = self.lf_file("lf-mx.eml", "data-curl-lf-mx")
        for login in (False, True):  # authenticated or not, the MX port stays strict
            p = self.curl("smtp", path, login=login)
            self.assertNotEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stderr, r"< 550 5\.5\.2 ", p.stderr)
        self.assertEqual(self.stored("data-curl-lf-mx"), [])

    def test_setting_reject_refuses_on_submission(self):
        rc, out, err = self.d.ctl("config", "set", "smtp.submission_bare_lf", "sometimes")
        self.assertEqual(rc, 1, out)
        self.assertIn("smtp.submission_bare_lf must be one of normalise, reject", err + out)
        self.assertEqual(self.d.setting("smtp.submission_bare_lf"), "normalise")  # the default, written at start

        rc, out, err = self.d.ctl("config", "set", "smtp.submission_bare_lf", "reject")
        self.assertEqual(rc, 0, err)
        self.addCleanup(self.d.ctl, "config", "set", "smtp.submission_bare_lf", "normalise")
        path = self.lf_file("lf-reject.eml", "data-curl-lf-reject")
        p = self.curl("submission", path)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stderr, r"< 550 5\.5\.2 ", p.stderr)
        c = self.raw_session("smtps", tls=True)
        self.open_data(c)
        r = c.cmd(b"Subject: data-curl-lf-reject\n\nx\r\n.")
        self.assertEqual((r.code, r.status), (550, "5.5.2"), r)
        self.assertEqual(self.stored("data-curl-lf-reject"), [])

        rc, out, err = self.d.ctl("config", "set", "smtp.submission_bare_lf", "normalise")
        self.assertEqual(rc, 0, err)
        p = self.curl("submission", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.stored("data-curl-lf-reject")), 1)

    # ---- NUL
    def check_nul(self, connect, tag, login):
        """On one session: a message with NUL in its header, one with NUL in its body
        (each 554 5.6.0, nothing stored), then one that is stored."""
        before = self.d.count("messages")
        s = connect()
        try:
            s.ehlo()
            if login:
                s.login("sender", "sender-pw")
            for where, msg in (("header", f"Subject: data-nul-{tag}-h\0eader\r\n\r\nbody\r\n".encode()),
                               ("body", f"Subject: data-nul-{tag}-body\r\n\r\nbo\0dy\r\n".encode())):
                with self.assertRaises(smtplib.SMTPDataError, msg=where) as e:
                    s.sendmail("sender@ex.test", ["reader@ex.test"], msg)
                self.assertEqual(e.exception.smtp_code, 554, where)
                self.assertTrue(e.exception.smtp_error.startswith(b"5.6.0 "), e.exception.smtp_error)
            s.sendmail("sender@ex.test", ["reader@ex.test"], f"Subject: data-nul-{tag}-next\r\n\r\nok\r\n".encode())
        finally:
            s.quit()
        self.assertEqual(self.d.count("messages"), before + 1)
        self.assertEqual(len(self.stored(f"data-nul-{tag}-next")), 1)
        self.assertEqual(self.d.sql("SELECT COUNT(*) FROM message_chunks WHERE LOCATE(X'00', data) > 0").strip(), "0")

    def test_nul_refused_on_mx(self):
        self.check_nul(lambda: smtplib.SMTP("127.0.0.1", self.d.ports["smtp"], timeout=TIMEOUT), "mx", False)
        self.d.wait_log(r"event=smtp\.message_refused reason=nul ")

    def test_nul_refused_on_submission(self):
        self.check_nul(lambda: smtplib.SMTP("127.0.0.1", self.d.ports["submission"], timeout=TIMEOUT), "sub", True)

    def test_nul_refused_on_smtps(self):
        self.check_nul(lambda: smtplib.SMTP_SSL("127.0.0.1", self.d.ports["smtps"], timeout=TIMEOUT,
                                                context=fx.unverified_tls_context()), "smtps", True)


if __name__ == "__main__":
    fx.main()
