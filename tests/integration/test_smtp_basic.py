"""SMTP receiver basics against the real daemon and the shared test MariaDB: greeting,
EHLO keywords, local delivery stored byte-exact after our Received: header, address
resolution (case, aliases, catch-all, unknown, disabled, foreign), relaying rules,
the simple commands, sequencing errors, 8BITMIME/SMTPUTF8, <Postmaster>, and real
clients (python smtplib, curl smtp://).

Expectations: interface.md, RFC 5321/2034/3207/4954/6531, issue 3."""

import os
import re
import smtplib
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

HOST = "mx.test.example"
TIMEOUT = 15
DATE_RX = r"; (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} " \
          r"\d\d:\d\d:\d\d [+-]\d{4}$"


def message(subject, body=b"Hello.\r\n", sender="sender@x.test", to="alice@ex.test", extra=b""):
    head = (f"From: Sender <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@x.test>\r\n").encode("utf-8")
    return head + extra + b"\r\n" + body


def populate(d):
    d.add_user("alice", addresses=["alice@ex.test", f"postmaster@{HOST}"])
    d.add_user("bob", addresses=["bob@ex.test"])
    d.add_user("carol", addresses=["carol@ex.test"])
    d.add_user("dave", addresses=["@catch.test"])
    d.add_user("frank", addresses=["special@catch.test"])
    d.add_user("eve", enabled=False, addresses=["eve@ex.test"])
    d.add_user("juergen", addresses=["jürgen@ex.test"])
    d.add_address("team@ex.test", "alice", "bob", "carol")
    d.add_address("mixed@ex.test", "bob", "eve")


class SmtpCase(unittest.TestCase):
    d = None

    def entries(self, subject):
        return self.d.messages(where=f"m.subject = {fx.sql_quote(subject)}")

    def deliver(self, rcpts, subject, service="smtp", sender="sender@x.test", body=b"Hello.\r\n"):
        """smtplib transaction; returns (queue id, message bytes sent)."""
        msg = message(subject, body=body, sender=sender, to=rcpts[0])
        with fx.smtp_client(self.d, service, timeout=TIMEOUT) as s:
            s.ehlo()
            code, text = fx.smtp_transaction(s, sender, rcpts, msg)
            self.assertEqual(code, 250, text)
        return fx.queue_id(text), msg

    def rcpt_reply(self, rcpt, service="smtp"):
        with self.d.smtp(service) as c:
            self.assertEqual(c.ehlo().code, 250)
            r = c.cmd("MAIL FROM:<sender@x.test>")
            self.assertEqual(r.code, 250, r)
            return c.cmd(f"RCPT TO:<{rcpt}>")


class Basics(SmtpCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None, hostname=HOST)
        cls.d.start()
        populate(cls.d)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    # ---- greeting and EHLO
    def test_greeting_220_without_enhanced_code(self):
        with self.d.smtp() as c:
            g = c.greeting
            self.assertEqual(g.code, 220, g)
            self.assertEqual(len(g.raw_lines), 1, g)
            self.assertTrue(g.lines[0].startswith(HOST + " "), g)
            self.assertIn("ESMTP", g.text)
            self.assertNotRegex(g.lines[0], r"^\d\.\d{1,3}\.\d{1,3}", "RFC 2034: no enhanced code in the greeting")
            self.assertEqual(c.cmd("QUIT").code, 221)
            self.assertTrue(c.closed())

    def test_ehlo_keywords_mx(self):
        with fx.smtp_client(self.d, timeout=TIMEOUT) as s:
            code, text = s.ehlo()
            self.assertEqual(code, 250)
            self.assertEqual(text.decode().splitlines()[0], HOST)
            f = s.esmtp_features
            for k in ("pipelining", "8bitmime", "enhancedstatuscodes", "smtputf8", "starttls"):
                self.assertIn(k, f, text)
            self.assertEqual(f["size"].strip(), "26214400")
            # Plaintext AUTH from loopback is allowed by default (interface.md).
            self.assertIn("auth", f, text)
            self.assertTrue({"PLAIN", "LOGIN"} <= set(f["auth"].upper().split()), f["auth"])
            s.starttls(context=fx.unverified_tls_context())
            code, text = s.ehlo()
            self.assertEqual(code, 250)
            self.assertNotIn("starttls", s.esmtp_features, "STARTTLS is not offered inside TLS")
            self.assertIn("auth", s.esmtp_features)
            self.assertIn("pipelining", s.esmtp_features)

    def test_ehlo_keywords_submission_and_smtps(self):
        with fx.smtp_client(self.d, "submission", timeout=TIMEOUT) as s:
            s.ehlo()
            for k in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "smtputf8", "starttls", "auth"):
                self.assertIn(k, s.esmtp_features)
        with smtplib.SMTP_SSL("127.0.0.1", self.d.ports["smtps"], local_hostname="client.example",
                              timeout=TIMEOUT, context=fx.unverified_tls_context()) as s:
            s.ehlo()
            self.assertNotIn("starttls", s.esmtp_features)
            for k in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "smtputf8", "auth"):
                self.assertIn(k, s.esmtp_features)

    def test_replies_carry_enhanced_codes(self):
        with self.d.smtp() as c:
            for line, code, status in (("EHLO client.example", 250, None), ("NOOP", 250, "2.0.0"),
                                       ("MAIL FROM:<a@x.test>", 250, "2.1.0"), ("RCPT TO:<bob@ex.test>", 250, "2.1.5"),
                                       ("RSET", 250, "2.0.0"), ("BOGUS", 500, "5.5.2"), ("QUIT", 221, "2.0.0")):
                r = c.cmd(line)
                self.assertEqual(r.code, code, f"{line}: {r}")
                if status:
                    self.assertEqual(r.status, status, f"{line}: {r}")

    # ---- delivery
    def test_deliver_local_byte_exact(self):
        body = (b"Hello Alice.\r\n.leading dot\r\n..two dots\r\n.\r\n \r\n\ttabbed\r\n"
                b"trailing blanks   \r\n\r\n\r\nend\r\n")
        qid, msg = self.deliver(["alice@ex.test"], "basic-exact", body=body)
        es = self.entries("basic-exact")
        self.assertEqual(len(es), 1, es)
        e = es[0]
        self.assertEqual(e["user"], "alice")
        header, rest = fx.split_received(e["body"])
        self.assertEqual(rest, msg, "the client's bytes, dot-unstuffed, follow the Received header exactly")
        self.assertTrue(header.startswith("Received: from client.example ([127.0.0.1])"), header)
        self.assertIn(f"by {HOST}", header)
        self.assertRegex(header, rf"with ESMTP id {qid}\b")
        self.assertIn("for <alice@ex.test>", header)
        self.assertRegex(header, DATE_RX)
        self.assertEqual(e["message_size"], len(e["body"]))
        self.assertEqual(e["size"], len(b"Return-Path: <sender@x.test>\r\n") + e["message_size"])
        self.assertEqual(e["envelope_from"], "sender@x.test")
        self.assertEqual(e["header_from"], "Sender <sender@x.test>")
        self.assertEqual(e["subject"], "basic-exact")

    def test_received_header_sanitises_helo_and_says_smtp_for_helo(self):
        helo = 'bad"name(x);<y>\\z'
        with self.d.smtp() as c:
            self.assertEqual(c.cmd(f"HELO {helo}").code, 250)
            self.assertEqual(c.cmd("MAIL FROM:<sender@x.test>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<bob@ex.test>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            msg = message("basic-helo")
            r = c.cmd(msg + b".")
            self.assertEqual(r.code, 250, r)
            qid = fx.queue_id(r.text)
        es = self.entries("basic-helo")
        self.assertEqual(len(es), 1)
        header, rest = fx.split_received(es[0]["body"])
        self.assertEqual(rest, msg)
        m = re.match(r"Received: from (\S+) \(\[127\.0\.0\.1\]\)", header)
        self.assertIsNotNone(m, header)
        token = m.group(1)
        self.assertIn("bad", token)
        self.assertIn("name", token)
        for ch in '"();<>\\':
            self.assertNotIn(ch, token, f"client byte {ch!r} copied into Received: {header}")
        self.assertRegex(header, rf"with SMTP id {qid}\b")

    def test_starttls_on_mx_received_says_esmtps(self):
        with fx.smtp_client(self.d, timeout=TIMEOUT) as s:
            s.starttls(context=fx.unverified_tls_context())
            s.ehlo()
            self.assertEqual(s.mail("sender@x.test")[0], 250)
            self.assertEqual(s.rcpt("carol@ex.test")[0], 250)
            code, text = s.data(message("basic-esmtps", to="carol@ex.test"))
            self.assertEqual(code, 250, text)
            qid = fx.queue_id(text)
        es = self.entries("basic-esmtps")
        self.assertEqual(len(es), 1)
        header, _ = fx.split_received(es[0]["body"])
        self.assertRegex(header, rf"with ESMTPS id {qid}\b")
        self.assertNotIn("authenticated", header)

    def test_case_insensitive_lookup(self):
        self.deliver(["ALICE@EX.TEST", "Bob@Ex.Test"], "basic-case")
        es = self.entries("basic-case")
        self.assertEqual(sorted(e["user"] for e in es), ["alice", "bob"])

    def test_alias_fans_out_to_three_users_one_body(self):
        self.deliver(["team@ex.test"], "basic-alias")
        es = self.entries("basic-alias")
        self.assertEqual(sorted(e["user"] for e in es), ["alice", "bob", "carol"])
        self.assertEqual(len({e["message_id"] for e in es}), 1, "the body is stored once")
        self.assertEqual(self.d.count("messages", "subject = 'basic-alias'"), 1)
        self.assertEqual(self.d.count("message_chunks", f"message_id = {es[0]['message_id']}"), 1)

    def test_alias_plus_member_gives_one_entry_per_user(self):
        self.deliver(["team@ex.test", "alice@ex.test"], "basic-alias-dup")
        es = self.entries("basic-alias-dup")
        self.assertEqual(sorted(e["user"] for e in es), ["alice", "bob", "carol"])

    def test_catch_all_and_exact_address_shadows_it(self):
        self.deliver(["whoever@catch.test", "Someone.Else@CATCH.test"], "basic-catchall")
        es = self.entries("basic-catchall")
        self.assertEqual([e["user"] for e in es], ["dave"], "two catch-all recipients of one user: one entry")
        self.deliver(["special@catch.test"], "basic-catchall-exact")
        es = self.entries("basic-catchall-exact")
        self.assertEqual([e["user"] for e in es], ["frank"])

    def test_unknown_address_in_held_domain_550_511(self):
        r = self.rcpt_reply("nobody@ex.test")
        self.assertEqual((r.code, r.status), (550, "5.1.1"), r)

    def test_accent_is_not_ignored_in_lookup(self):
        # jürgen@ex.test exists; jurgen@ex.test is another (unknown) address and must
        # not reach jürgen's mailbox.
        r = self.rcpt_reply("jurgen@ex.test")
        self.assertEqual((r.code, r.status), (550, "5.1.1"), r)

    def test_disabled_user_550_521(self):
        r = self.rcpt_reply("eve@ex.test")
        self.assertEqual((r.code, r.status), (550, "5.2.1"), r)

    def test_alias_skips_disabled_members(self):
        self.deliver(["mixed@ex.test"], "basic-alias-mixed")
        self.assertEqual([e["user"] for e in self.entries("basic-alias-mixed")], ["bob"])

    def test_null_sender_accepted_for_local_delivery(self):
        # RFC 5321 4.5.5: bounces (MAIL FROM:<>) must be accepted.
        with self.d.smtp() as c:
            c.ehlo()
            r = c.cmd("MAIL FROM:<>")
            self.assertEqual(r.code, 250, r)
            self.assertEqual(c.cmd("RCPT TO:<carol@ex.test>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            msg = message("basic-null-sender", sender="mailer-daemon@x.test", to="carol@ex.test")
            r = c.cmd(msg + b".")
            self.assertEqual(r.code, 250, r)
        es = self.entries("basic-null-sender")
        self.assertEqual(len(es), 1)
        self.assertEqual(es[0]["envelope_from"], "")
        self.assertEqual(es[0]["size"], len(b"Return-Path: <>\r\n") + es[0]["message_size"])
        self.assertEqual(fx.split_received(es[0]["body"])[1], msg)

    def test_foreign_domain_without_relay_550_571(self):
        self.assertEqual(self.d.setting("relay.host"), "")
        r = self.rcpt_reply("someone@foreign.example")
        self.assertEqual((r.code, r.status), (550, "5.7.1"), r)

    # ---- simple commands and sequencing
    def test_vrfy_help_noop_rset_quit(self):
        with self.d.smtp() as c:
            c.ehlo()
            known, unknown = c.cmd("VRFY alice@ex.test"), c.cmd("VRFY nobody@ex.test")
            self.assertEqual(known.code, 252, known)
            self.assertEqual(unknown.code, 252, unknown)
            self.assertEqual(known.text, unknown.text, "VRFY must not reveal whether a user exists")
            h = c.cmd("HELP")
            self.assertEqual(h.code, 214, h)
            self.assertEqual(c.cmd("NOOP").code, 250)
            self.assertEqual(c.cmd("NOOP anything at all").code, 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@x.test>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@ex.test>").code, 250)
            r = c.cmd("RSET")
            self.assertEqual((r.code, r.status), (250, "2.0.0"), r)
            r = c.cmd("RCPT TO:<alice@ex.test>")
            self.assertEqual(r.code, 503, f"RSET clears the transaction: {r}")
            self.assertEqual(c.cmd("MAIL FROM:<a@x.test>").code, 250, "a new MAIL after RSET")
            r = c.cmd("QUIT")
            self.assertEqual((r.code, r.status), (221, "2.0.0"), r)
            self.assertTrue(c.closed())

    def test_sequence_errors(self):
        with self.d.smtp() as c:
            r = c.cmd("MAIL FROM:<a@x.test>")
            self.assertEqual((r.code, r.status), (503, "5.5.1"), f"MAIL before EHLO: {r}")
            r = c.cmd("EHLO")
            self.assertEqual(r.code, 501, f"EHLO without a name: {r}")
            c.ehlo()
            r = c.cmd("RCPT TO:<alice@ex.test>")
            self.assertEqual((r.code, r.status), (503, "5.5.1"), f"RCPT before MAIL: {r}")
            r = c.cmd("DATA")
            self.assertEqual(r.code, 503, f"DATA before MAIL: {r}")
            self.assertEqual(c.cmd("MAIL FROM:<a@x.test>").code, 250)
            r = c.cmd("DATA")
            self.assertIn(r.code, (503, 554), f"DATA without a recipient: {r}")
            self.assertTrue(r.status.startswith("5."), r)
            r = c.cmd("MAIL FROM:<b@x.test>")
            self.assertEqual((r.code, r.status), (503, "5.5.1"), f"nested MAIL: {r}")
            # The transaction is still usable.
            self.assertEqual(c.cmd("RCPT TO:<alice@ex.test>").code, 250)
            self.assertEqual(c.cmd("QUIT").code, 221)

    def test_8bit_body_and_smtputf8_sender(self):
        sender = "ü@example.org"
        body = "Grüße, naïve café — ☃\r\n".encode("utf-8") + b"raw high bytes: \x80\xfe\xff\r\n"
        msg = (f"From: <{sender}>\r\nTo: <alice@ex.test>\r\nSubject: basic-8bit\r\n"
               f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() + body
        with fx.smtp_client(self.d, timeout=TIMEOUT) as s:
            s.ehlo()
            self.assertIn("smtputf8", s.esmtp_features)
            code, text = s.mail(sender, ["SMTPUTF8", "BODY=8BITMIME"])
            self.assertEqual(code, 250, text)
            self.assertEqual(s.rcpt("alice@ex.test")[0], 250)
            code, text = s.data(msg)
            self.assertEqual(code, 250, text)
        es = self.entries("basic-8bit")
        self.assertEqual(len(es), 1)
        header, rest = fx.split_received(es[0]["body"])
        self.assertEqual(rest, msg)
        self.assertIn("with UTF8SMTP", header)
        self.assertEqual(es[0]["envelope_from"], sender)
        self.assertEqual(es[0]["size"], len(f"Return-Path: <{sender}>\r\n".encode()) + es[0]["message_size"])

    def test_non_ascii_sender_without_smtputf8_refused(self):
        with self.d.smtp() as c:
            c.ehlo()
            r = c.cmd("MAIL FROM:<ü@example.org>")
            self.assertEqual((r.code, r.status), (553, "5.6.7"), r)

    def test_postmaster_without_domain(self):
        with self.d.smtp() as c:
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<sender@x.test>").code, 250)
            r = c.cmd("RCPT TO:<Postmaster>")
            self.assertEqual(r.code, 250, r)
            self.assertEqual(c.cmd("DATA").code, 354)
            r = c.cmd(message("basic-postmaster", to="Postmaster") + b".")
            self.assertEqual(r.code, 250, r)
        es = self.entries("basic-postmaster")
        self.assertEqual([e["user"] for e in es], ["alice"])

    def test_curl_smtp_upload(self):
        msg = message("basic-curl", body=b"Sent by curl.\r\n.dot line\r\n")
        path = os.path.join(self.d.dir, "curl-msg.eml")
        with open(path, "wb") as f:
            f.write(msg)
        p = subprocess.run(["curl", "-sS", "--max-time", "30", "--url",
                            f"smtp://127.0.0.1:{self.d.ports['smtp']}/curl.client.example",
                            "--mail-from", "sender@x.test", "--mail-rcpt", "alice@ex.test", "-T", path],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        es = self.entries("basic-curl")
        self.assertEqual(len(es), 1)
        header, rest = fx.split_received(es[0]["body"])
        self.assertEqual(rest, msg)
        self.assertTrue(header.startswith("Received: from curl.client.example ([127.0.0.1])"), header)


class Relaying(SmtpCase):
    """relay.host decides whether trusted clients may send to foreign domains; the
    setting is read live (the daemon re-reads settings every 5 s)."""

    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None, hostname=HOST)
        cls.d.start()
        populate(cls.d)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_relay_only_when_configured(self):
        r = self.rcpt_reply("someone@foreign.example")
        self.assertEqual((r.code, r.status), (550, "5.7.1"), r)
        self.d.set_setting("relay.host", "relay.invalid")
        self.d.set_setting("relay.port", "9")
        # Effective without a restart (interface.md); the daemon polls every 5 s.
        fx.wait_until(lambda: self.rcpt_reply("someone@foreign.example").code == 250, 15, 0.5,
                      "relay.host to take effect")
        qid, msg = self.deliver(["someone@foreign.example", "alice@ex.test"], "relay-1")
        es = self.entries("relay-1")
        self.assertEqual([e["user"] for e in es], ["alice"])
        q = [row for row in self.d.relay_queue() if row["message_id"] == es[0]["message_id"]]
        self.assertEqual(len(q), 1, self.d.relay_queue())
        self.assertEqual(q[0]["recipient"], "someone@foreign.example")
        self.assertEqual(q[0]["sender"], "sender@x.test")
        self.assertEqual(self.d.count("messages", "subject = 'relay-1'"), 1, "one body for local + relayed")


class Untrusted(SmtpCase):
    """smtp.trusted_networks = []: nobody relays without AUTH, even with a relay."""

    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None, hostname=HOST, overrides={"smtp.trusted_networks": []})
        cls.d.start()
        populate(cls.d)
        cls.d.set_setting("relay.host", "relay.invalid")
        cls.d.set_setting("relay.port", "9")
        cls.d.stop()
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_no_relay_without_trust_or_auth(self):
        r = self.rcpt_reply("someone@foreign.example")
        self.assertEqual((r.code, r.status), (550, "5.7.1"), r)
        # Local delivery needs no trust.
        self.deliver(["bob@ex.test"], "untrusted-local")
        self.assertEqual([e["user"] for e in self.entries("untrusted-local")], ["bob"])

    def test_authenticated_session_may_relay(self):
        with fx.smtp_client(self.d, "submission", timeout=TIMEOUT) as s:
            s.ehlo()
            s.login("alice", "secret")
            self.assertEqual(s.mail("alice@ex.test")[0], 250)
            code, text = s.rcpt("someone@foreign.example")
            self.assertEqual(code, 250, text)
            code, text = s.data(message("untrusted-auth-relay", sender="alice@ex.test", to="someone@foreign.example"))
            self.assertEqual(code, 250, text)
        mid = self.d.sql("SELECT id FROM messages WHERE subject = 'untrusted-auth-relay'").split()
        self.assertEqual(len(mid), 1)
        q = [row for row in self.d.relay_queue() if row["message_id"] == int(mid[0])]
        self.assertEqual([(row["sender"], row["recipient"]) for row in q],
                         [("alice@ex.test", "someone@foreign.example")])


if __name__ == "__main__":
    fx.main()
