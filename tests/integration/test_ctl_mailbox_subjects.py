"""`shicksctl mailbox list` shows a Subject as a mail reader shows it: RFC 2047
encoded-words decoded the way the spam filter decodes them, and the "[SPAM]" tag
of mail the filter tagged, in the table and in --json (with the keyword); an
encoded From is decoded too.

Expectations: shicksctl(8) mailbox list."""

import base64
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 15


def b_words(text, size=30):
    """`text` as folded B encoded-words of at most `size` characters each."""
    parts = [text[i:i + size] for i in range(0, len(text), size)]
    return "\r\n ".join("=?utf-8?B?" + base64.b64encode(p.encode()).decode() + "?=" for p in parts)


class MailboxListSubjects(unittest.TestCase):
    def setUp(self):
        self.d = fx.Daemon(self)
        self.d.start()
        self.d.add_user("sub", addresses=["sub@local.test"])
        rc, out, err = self.d.ctl("spam", "add-keyword", "lottery")
        self.assertEqual(rc, 0, err)

    def send(self, subject_line, from_line="From: <s@remote.test>"):
        body = f"{from_line}\r\nTo: <sub@local.test>\r\n{subject_line}\r\n\r\nhello\r\n".encode()
        fx.send_mail(self.d, ["sub@local.test"], body, sender="s@remote.test", timeout=TIMEOUT, mail_options=())

    def test_encoded_subjects_are_decoded_and_tagged_mail_shows_the_tag(self):
        long_text = "Einladung zur Jahresversammlung der Gartenfreunde Süd am Donnerstag, " \
                    "mit Grüßen vom Vorstand und einer Bitte um Rückmeldung bis Ende des Monats"
        self.send("Subject: =?utf-8?B?w7xiZXI=?=", from_line="From: =?utf-8?Q?J=C3=BCrgen?= <j@remote.test>")
        self.send("Subject: =?utf-8?Q?gro=C3=9Fe?= lottery win")
        self.send("Subject: " + b_words(long_text))
        self.send("Subject: plain text")

        rc, out, err = self.d.ctl("mailbox", "list", "sub", json=True)
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        msgs = doc["messages"]
        self.assertEqual([m["subject"] for m in msgs],
                         ["über", "[SPAM] große lottery win", long_text, "plain text"])
        self.assertEqual([m["spam"] for m in msgs], [False, True, False, False])
        self.assertEqual([m["spam_keyword"] for m in msgs], [None, "lottery", None, None])
        self.assertEqual(msgs[0]["from"], "Jürgen <j@remote.test>")
        # The stored message carries the same tag a reader sees.
        self.assertIn(b"Subject: [SPAM] =?utf-8?Q?gro=C3=9Fe?= lottery win\r\n",
                      self.d.messages("sub")[1]["body"])

        table = self.ok("mailbox", "list", "sub")
        self.assertNotIn("=?", table)
        lines = table.splitlines()
        self.assertEqual(len(lines), 6, table)  # header, 4 messages, total
        self.assertRegex(lines[1], r"\bJürgen <j@remote\.test>\s+über$")
        self.assertRegex(lines[2], r"\s\[SPAM\] große lottery win\s+yes$")
        self.assertRegex(lines[3], r"\sEinladung zur Jahresversammlung der Gartenfre\.\.\.$")
        self.assertRegex(lines[4], r"\splain text$")

    def ok(self, *args):
        rc, out, err = self.d.ctl(*args)
        self.assertEqual(rc, 0, f"shicksctl {' '.join(args)}: {err}")
        return out


if __name__ == "__main__":
    unittest.main()
