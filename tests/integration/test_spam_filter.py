"""The spam-keyword filter against the real daemon and MariaDB: keywords added with
shicksctl tag mail sent over SMTP, read back over POP3 (the Subject starts with
"[SPAM] ", an X-Shicks-Spam header, LIST size = RETR octets, everything else byte for
byte); RFC 2047 B and Q and folded subjects; case folding beyond ASCII; word
boundaries; an existing [SPAM] tag is neither a reason nor tagged twice; the
sender's X-Shicks-Spam goes; reject and off modes; hit counts and last hit in
`spam list`; removal stops tagging at once; `spam test`; the spam.hit event and
counters.

Expectations: interface.md (Spam, shicksctl spam), man/shicksd.8 SPAM FILTER, issue 7."""

import base64
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 15
PASSWORD = "spam-filter-secret"
SENDER = "sender@remote.test"


def b_word(text, charset="utf-8"):
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def message(subject_line, text="hello there", extra=b""):
    """A message (bytes, CRLF): `subject_line` is the whole raw Subject field
    (bytes or str, without its CRLF), or None for no Subject."""
    head = b"From: <sender@remote.test>\r\nTo: <rcpt@local.test>\r\n" + extra
    if subject_line is not None:
        head += (subject_line.encode() if isinstance(subject_line, str) else subject_line) + b"\r\n"
    return head + b"Message-ID: <m1@remote.test>\r\n\r\n" + text.encode() + b"\r\n.dot line\r\n"


def stuffed(body):
    """`body` as DATA on the wire: dot-stuffed (RFC 5321 4.5.2) and terminated."""
    return body.replace(b"\r\n.", b"\r\n..") + b".\r\n"


class SpamCase(unittest.TestCase):
    """One daemon for the class; every test has its own user (mailbox)."""

    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None)
        try:
            cls.d.start()
        except BaseException:
            cls.d.cleanup()
            raise
        cls.users = 0

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def ctl_ok(self, *args):
        rc, out, err = self.d.ctl(*args)
        self.assertEqual(rc, 0, f"shicksctl {' '.join(args)}: {out}{err}")
        return out

    def new_user(self):
        type(self).users += 1
        name = f"u{type(self).users}"
        self.d.add_user(name, PASSWORD, addresses=[f"{name}@local.test"])
        return name

    def send(self, user, body):
        fx.send_mail(self.d, [f"{user}@local.test"], body, sender=SENDER, timeout=TIMEOUT)

    def deliver(self, body):
        """Sends `body` to a fresh user; returns (POP3 message bytes, mailbox entry)."""
        user = self.new_user()
        self.send(user, body)
        [(size, got)] = fx.pop3_fetch_all(self.d.ports["pop3"], user, PASSWORD)
        self.assertEqual(size, len(got), "LIST size must equal the RETR octets")
        [entry] = self.d.messages(user)
        self.assertEqual(entry["size"], len(got))
        return got, entry

    def client_part(self, got):
        """What follows the Return-Path and Received lines we add."""
        self.assertTrue(got.startswith(b"Return-Path: <" + SENDER.encode() + b">\r\n"), got[:200])
        rest = got.split(b"\r\n", 1)[1]
        return fx.split_received(rest)[1]

    def assert_tagged(self, body, keyword, subject_line):
        """`body` is stored tagged: the X-Shicks-Spam line first, the Subject field
        replaced by `subject_line` (bytes), every other byte as sent."""
        got, entry = self.deliver(body)
        part = self.client_part(got)
        header = b'X-Shicks-Spam: yes; keyword="' + keyword.encode() + b'"\r\n'
        self.assertTrue(part.startswith(header), part[:300])
        part = part[len(header):]
        subjects = fx.header_values(body, "Subject")
        if subjects:
            original = b"Subject:" + subjects[0]
            self.assertEqual(part, body.replace(original, subject_line, 1))
        else:
            self.assertEqual(part, subject_line + b"\r\n" + body)
        self.assertEqual(entry["spam"], 1)
        return got, entry

    def assert_clean(self, body, stored=None):
        got, entry = self.deliver(body)
        self.assertEqual(self.client_part(got), stored if stored is not None else body)
        self.assertEqual(fx.header_values(got, "X-Shicks-Spam"), [])
        self.assertEqual(entry["spam"], 0)
        return got, entry

    def keyword_row(self, keyword):
        doc = self.d.ctl_json("spam", "list")
        for k in doc["keywords"]:
            if k["keyword"] == keyword:
                return k
        self.fail(f"no keyword {keyword!r} in {doc}")


class Tagging(SpamCase):
    def test_keyword_added_with_shicksctl_tags_mail_read_over_pop3(self):
        self.ctl_ok("spam", "add-keyword", "viagra")
        got, entry = self.assert_tagged(message("Subject: Buy VIAGRA now!!"), "viagra",
                                        b"Subject: [SPAM] Buy VIAGRA now!!")
        self.assertEqual(fx.header_values(got, "X-Shicks-Spam"), [b' yes; keyword="viagra"'])
        self.assertEqual(fx.header_values(got, "Subject"), [b" [SPAM] Buy VIAGRA now!!"])
        self.assertEqual(self.d.sql(f"SELECT spam_keyword FROM messages WHERE id = {entry['message_id']}").strip(),
                         "viagra")
        # shicksctl mailbox list shows the flag.
        doc = self.d.ctl_json("mailbox", "list", entry["user"])
        self.assertIs(doc["messages"][0]["spam"], True)
        self.assertRegex(self.ctl_ok("mailbox", "list", entry["user"]), r"(?m)\byes$")
        # Log line, event and counters.
        self.d.wait_log(r"event=spam\.hit keyword=viagra action=tag from=sender@remote\.test")
        status = self.d.ctl_json("status")
        self.assertGreaterEqual(status["counters"]["spam_hits"], 1)
        self.assertIn("spam_rejected", status["counters"])

    def test_encoded_and_folded_subjects(self):
        self.ctl_ok("spam", "add-keyword", "lottery winner")
        cases = [
            b_word("You are our LOTTERY   winner"),
            "=?iso-8859-1?Q?Gro=DFer_Lottery_Winner_=E9t=E9?=",
            "=?UTF-8?q?lottery?= =?UTF-8?q?_winner?=",  # split across two encoded-words
            b_word("Re: lottery", "utf-8") + "\r\n " + b_word(" winner!", "utf-8"),
            "your lottery\r\n\twinner is here",
        ]
        for raw in cases:
            with self.subTest(raw=raw):
                line = "Subject: " + raw
                self.assert_tagged(message(line), "lottery winner", ("Subject: [SPAM] " + raw).encode())

    def test_cyrillic_keyword_matches_uppercase_subject(self):
        self.ctl_ok("spam", "add-keyword", "казино")
        raw = b_word("КАЗИНО онлайн — бонус")
        self.assert_tagged(message("Subject: " + raw), "казино", ("Subject: [SPAM] " + raw).encode())
        # Raw UTF-8 in the header (RFC 6532) too.
        subject = "Subject: Лучшее КАЗИНО".encode()
        self.assert_tagged(message(subject), "казино", "Subject: [SPAM] Лучшее КАЗИНО".encode())

    def test_word_boundaries(self):
        self.ctl_ok("spam", "add-keyword", "sex")
        self.assert_clean(message("Subject: Meeting at the Essex office"))
        self.assert_clean(message("Subject: sexy new shoes"))
        self.assert_tagged(message("Subject: free SEX pics"), "sex", b"Subject: [SPAM] free SEX pics")

    def test_wildcard(self):
        self.ctl_ok("spam", "add-keyword", "c*alis")
        self.assert_tagged(message("Subject: cheap C1ALIS"), "c*alis", b"Subject: [SPAM] cheap C1ALIS")
        self.assert_clean(message("Subject: c alis is not one word"))

    def test_existing_tag_is_no_reason_and_not_repeated(self):
        self.ctl_ok("spam", "add-keyword", "rolex")
        # Already tagged by someone, no keyword: stays as it is, not flagged.
        self.assert_clean(message("Subject: [SPAM] hello friend"))
        # A keyword hit on a tagged Subject: the header, but no second tag.
        self.assert_tagged(message("Subject: [SPAM] cheap rolex"), "rolex", b"Subject: [SPAM] cheap rolex")
        self.assert_tagged(message("Subject: " + b_word("[SPAM] rolex")), "rolex",
                           ("Subject: " + b_word("[SPAM] rolex")).encode())

    def test_no_subject_is_clean(self):
        # No Subject: nothing to match, stored as sent.
        self.assert_clean(message(None))

    def test_sender_x_shicks_spam_header_is_removed(self):
        self.ctl_ok("spam", "add-keyword", "replica watches")
        forged = b"X-Shicks-Spam: yes; keyword=\"forged\"\r\nx-shicks-spam : no\r\n  folded\r\n"
        clean = message("Subject: lunch?", extra=forged)
        self.assert_clean(clean, stored=message("Subject: lunch?"))
        spam = message("Subject: replica watches", extra=forged)
        got, _ = self.assert_tagged(message("Subject: replica watches"), "replica watches",
                                    b"Subject: [SPAM] replica watches")
        got2, _ = self.deliver(spam)
        self.assertEqual(self.client_part(got2), self.client_part(got))
        self.assertEqual(fx.header_values(got2, "X-Shicks-Spam"), [b' yes; keyword="replica watches"'])

    def test_keyword_with_quote_is_escaped(self):
        self.ctl_ok("spam", "add-keyword", 'say "cheese" now')
        self.assert_tagged(message('Subject: please SAY "cheese" NOW'), 'say \\"cheese\\" now',
                           b'Subject: [SPAM] please SAY "cheese" NOW')

    def test_hit_counts_and_last_hit(self):
        self.ctl_ok("spam", "add-keyword", "weight loss")
        row = self.keyword_row("weight loss")
        self.assertEqual((row["hits"], row["last_hit_at"]), (0, None))
        self.assertRegex(self.ctl_ok("spam", "list"), r"(?m)^weight loss\s+0\s+never$")
        user = self.new_user()
        for _ in range(3):
            self.send(user, message("Subject: fast WEIGHT LOSS"))
        self.send(user, message("Subject: weight of the loss"))
        row = self.keyword_row("weight loss")
        self.assertEqual(row["hits"], 3)
        self.assertRegex(row["last_hit_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertRegex(self.ctl_ok("spam", "list"),
                         r"(?m)^weight loss\s+3\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")

    def test_removal_stops_tagging_at_once(self):
        self.ctl_ok("spam", "add-keyword", "miracle cure")
        self.assert_tagged(message("Subject: a miracle cure"), "miracle cure", b"Subject: [SPAM] a miracle cure")
        self.ctl_ok("spam", "del-keyword", "miracle cure")
        self.assert_clean(message("Subject: a miracle cure"))  # no waiting for the poll
        # Import also refreshes at once.
        rc, out, err = self.d.ctl("spam", "import", "-", input="# list\nmiracle cure\n")
        self.assertEqual(rc, 0, err)
        self.assert_tagged(message("Subject: a miracle cure"), "miracle cure", b"Subject: [SPAM] a miracle cure")


class SpamTest(SpamCase):
    def test_table_and_json(self):
        self.ctl_ok("spam", "add-keyword", "free money", "казино")
        out = self.ctl_ok("spam", "test", "Get FREE   money today")
        self.assertRegex(out, r"^verdict:\s+spam\n")
        self.assertRegex(out, r"(?m)^keyword:\s+free money$")
        self.assertRegex(out, r"(?m)^action:\s+tag$")
        raw = b_word("Лучшее КАЗИНО")
        out = self.ctl_ok("spam", "test", raw)
        self.assertRegex(out, r"(?m)^keyword:\s+казино$")
        self.assertRegex(out, r"(?m)^subject:\s+Лучшее КАЗИНО$")
        out = self.ctl_ok("spam", "test", "Essex money")
        self.assertRegex(out, r"^verdict:\s+not spam\n")
        self.assertRegex(out, r"(?m)^keyword:\s+-$")
        doc = self.d.ctl_json("spam", "test", "=?utf-8?Q?free_MONEY?=")
        self.assertEqual((doc["spam"], doc["keyword"], doc["decoded"], doc["action"]),
                         (True, "free money", "free MONEY", "tag"))
        self.assertEqual(doc["subject"], "=?utf-8?Q?free_MONEY?=")
        doc = self.d.ctl_json("spam", "test", "hello")
        self.assertEqual((doc["spam"], doc["keyword"]), (False, None))
        rc, out, err = self.d.ctl("spam", "test")
        self.assertEqual(rc, 2, out + err)
        # Testing counts no hit.
        self.assertEqual(self.keyword_row("free money")["hits"], 0)


class Actions(SpamCase):
    def test_reject_and_off(self):
        self.ctl_ok("spam", "add-keyword", "casino bonus")
        user = self.new_user()
        self.ctl_ok("config", "set", "spam.action", "reject")
        try:
            before = self.d.count("messages")
            with fx.RawSmtp(self.d.ports["smtp"]) as c:
                self.assertEqual(c.ehlo().code, 250)
                self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
                self.assertEqual(c.cmd(f"RCPT TO:<{user}@local.test>").code, 250)
                self.assertEqual(c.cmd("DATA").code, 354)
                c.send(stuffed(message("Subject: Your CASINO bonus")))
                r = c.reply()
                self.assertEqual((r.code, r.status), (550, "5.7.1"), r)
                # The session goes on: clean mail is accepted.
                self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
                self.assertEqual(c.cmd(f"RCPT TO:<{user}@local.test>").code, 250)
                self.assertEqual(c.cmd("DATA").code, 354)
                c.send(stuffed(message("Subject: minutes")))
                self.assertEqual(c.reply().code, 250)
                c.cmd("QUIT")
            self.assertEqual(self.d.count("messages"), before + 1)
            [entry] = self.d.messages(user)
            self.assertEqual(entry["subject"], "minutes")
            self.assertEqual(self.keyword_row("casino bonus")["hits"], 1)  # rejected hits count
            self.d.wait_log(r'event=spam\.hit keyword="casino bonus" action=reject from=sender@remote\.test')
            self.assertGreaterEqual(self.d.ctl_json("status")["counters"]["spam_rejected"], 1)
            doc = self.d.ctl_json("spam", "test", "casino bonus")
            self.assertEqual((doc["spam"], doc["action"]), (True, "reject"))

            self.ctl_ok("config", "set", "spam.action", "off")
            self.assert_clean(message("Subject: casino bonus"))
            self.assertEqual(self.keyword_row("casino bonus")["hits"], 1)  # off: not checked
            self.assertRegex(self.ctl_ok("spam", "test", "casino bonus"), r"(?m)^action:\s+none \(spam\.action = off\)$")
            # The sender's X-Shicks-Spam goes in every mode.
            self.assert_clean(message("Subject: x", extra=b"X-Shicks-Spam: no\r\n"), stored=message("Subject: x"))
        finally:
            self.ctl_ok("config", "set", "spam.action", "tag")
        self.assert_tagged(message("Subject: casino bonus"), "casino bonus", b"Subject: [SPAM] casino bonus")


class DefaultList(unittest.TestCase):
    def test_imported_on_first_start_only(self):
        path = os.path.join(fx.source_dir(), "src", "server", "spam", "spam-keywords.txt")
        with open(path, encoding="utf-8") as f:
            shipped = [l.strip() for l in f if l.strip() and not l.strip().startswith("#")]
        d = fx.Daemon(self, overrides={"spam.default_keywords_file": path})
        d.start()
        d.wait_log(r"event=spam\.defaults file=\S+ imported=%d" % len(shipped))
        keywords = [k["keyword"] for k in d.ctl_json("spam", "list")["keywords"]]
        self.assertEqual(sorted(keywords), sorted(shipped))
        self.assertEqual(d.ctl_json("spam", "test", "you have WON a prize")["keyword"], "you have won")
        rc, out, err = d.ctl("spam", "del-keyword", "viagra", "you have won")
        self.assertEqual(rc, 0, err)
        self.assertEqual(d.stop(), 0)
        d.start()
        keywords = [k["keyword"] for k in d.ctl_json("spam", "list")["keywords"]]
        self.assertEqual(len(keywords), len(shipped) - 2)
        self.assertNotIn("viagra", keywords)
        self.assertNotIn("spam.defaults", d.log())
        self.assertEqual(d.stop(), 0)

    def test_missing_default_file_is_no_error(self):
        d = fx.Daemon(self, overrides={"spam.default_keywords_file": "no-such-list.txt"})
        d.start()
        d.wait_log(r"event=spam\.defaults_missing file=\S*no-such-list\.txt")
        self.assertEqual(d.ctl_json("spam", "list")["keywords"], [])
        self.assertEqual(d.stop(), 0)


class TwoDaemons(unittest.TestCase):
    def test_keyword_change_seen_by_another_daemon_within_the_poll(self):
        a = fx.Daemon(self)
        b = fx.Daemon(self, create_db=False, overrides={"database.name": a.db_name})
        a.start()
        b.start()
        self.assertIs(b.ctl_json("spam", "test", "cheap pills")["spam"], False)
        rc, out, err = a.ctl("spam", "add-keyword", "cheap pills")
        self.assertEqual(rc, 0, err)
        fx.wait_until(lambda: b.ctl_json("spam", "test", "cheap pills")["spam"], 12, 0.2,
                      "the other daemon to see the new keyword")
        a.add_user("bob", PASSWORD, addresses=["bob@local.test"])  # the same database
        fx.send_mail(b, ["bob@local.test"], message("Subject: cheap PILLS"), sender=SENDER, timeout=TIMEOUT,
                     mail_options=())
        [entry] = a.messages("bob")
        self.assertEqual(entry["spam"], 1)
        rc, out, err = a.ctl("spam", "del-keyword", "cheap pills")
        self.assertEqual(rc, 0, err)
        fx.wait_until(lambda: not b.ctl_json("spam", "test", "cheap pills")["spam"], 12, 0.2,
                      "the other daemon to see the removal")
        self.assertEqual(b.stop(), 0)
        self.assertEqual(a.stop(), 0)


if __name__ == "__main__":
    fx.main()
