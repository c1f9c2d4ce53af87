"""The outbound relay against a sink on loopback: delivery with the right envelope and
byte-exact body, one transaction per message; 4xx -> deferred with attempts and the
error shown by `queue list`, then `queue flush` delivers, also when it comes while
the attempt is still open; 5xx and an expired lifetime
-> an RFC 3464 bounce in the local sender's mailbox, retrievable over POP3; no bounce
for the null sender or a non-local sender; without a relay non-local recipients stay
refused.

Expectations: issue 6, interface.md (protocol behaviour, shicksctl queue)."""

import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

BODY = (b"From: Alice <alice@ex.test>\r\nTo: <bob@far.example>\r\nSubject: outbound\r\n\r\n"
        b"first line\r\n.a line that starts with a dot\r\n..two dots\r\n8-bit: gr\xc3\xbc\xc3\x9fe\r\nlast\r\n")


def send(d, sender, rcpts, body=BODY):
    return fx.send_mail(d, rcpts, body, sender=sender, mail_options=())


class RelayCase(unittest.TestCase):
    def setUp(self):
        self.d = fx.Daemon(self)
        self.d.start()
        self.d.add_user("alice", "pw-alice", addresses=["alice@ex.test"])
        self.sink = fx.SmtpSink(self)
        self.ctl_ok("config", "set", "relay.retry_initial_seconds", "3600")

    def ctl_ok(self, *args, **kw):
        rc, out, err = self.d.ctl(*args, **kw)
        self.assertEqual(rc, 0, f"shicksctl {' '.join(args)}: {err}")
        return out

    def queue_empty(self):
        return self.d.count("relay_queue") == 0

    def counter(self, name):
        return self.d.ctl_json("status")["counters"][name]


class Delivery(RelayCase):
    def test_envelope_and_exact_body(self):
        fx.relay_to(self.d, self.sink)
        send(self.d, "alice@ex.test", ["bob@far.example", "carol@far.example", "alice@ex.test"])
        msgs = self.sink.wait_messages(1)
        m = msgs[0]
        self.assertEqual(m["mail_from"], "alice@ex.test")
        self.assertEqual(m["rcpts"], ["bob@far.example", "carol@far.example"])  # one transaction
        self.assertIn("BODY=8BITMIME", m["mail_params"])
        received, rest = fx.split_received(m["data"])
        self.assertEqual(rest, BODY)
        self.assertIn("by mx.test.example", received)
        fx.wait_until(self.queue_empty, 15, what="the queue to empty")
        # alice's copy keeps the body; the local mailbox entry is untouched.
        self.assertEqual(len(self.d.messages("alice")), 1)
        self.assertEqual(self.counter("relay_sent"), 2)
        self.assertEqual(self.counter("relay_queued"), 2)
        self.d.wait_log(r"event=relay\.sent message_id=\d+ from=alice@ex\.test rcpt=carol@far\.example")
        self.assertEqual(self.sink.sessions, 1)

    def test_body_goes_with_the_last_queue_row(self):
        fx.relay_to(self.d, self.sink)
        send(self.d, "alice@ex.test", ["bob@far.example"])
        self.sink.wait_messages(1)
        fx.wait_until(self.queue_empty, 15, what="the queue to empty")
        fx.wait_until(lambda: self.d.count("messages") == 0, 15, what="the body to be removed")
        self.assertEqual(self.d.count("message_chunks"), 0)

    def test_without_relay_non_local_recipients_are_refused(self):
        with self.d.smtp() as c:
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<alice@ex.test>").code, 250)
            r = c.cmd("RCPT TO:<bob@far.example>")
            self.assertEqual((r.code, r.status), (550, "5.7.1"), r)
        self.assertEqual(self.d.count("relay_queue"), 0)


class Retries(RelayCase):
    def test_deferred_then_flush_delivers(self):
        self.sink.rcpt_reply = lambda a: (451, "4.3.0 try again later") if a.startswith("later") else (250, "2.1.5 Ok")
        fx.relay_to(self.d, self.sink)
        send(self.d, "alice@ex.test", ["now@far.example", "later@far.example"])
        self.assertEqual(self.sink.wait_messages(1)[0]["rcpts"], ["now@far.example"])
        fx.wait_until(lambda: [e["attempts"] for e in self.d.ctl_json("queue", "list")["entries"]] == [1], 15,
                      what="one deferred entry")
        entry = self.d.ctl_json("queue", "list")["entries"][0]
        self.assertEqual(entry["recipient"], "later@far.example")
        self.assertEqual(entry["last_error"], "451 4.3.0 try again later")
        self.assertIsNone(entry["claimed_by"])
        table = self.ctl_ok("queue", "list")
        self.assertRegex(table, r"(?m)^\s*\d+\s+later@far\.example\s+alice@ex\.test\s+\S+ \S+\s+1\s+\S+ \S+\s+451 4\.3\.0")
        show = self.ctl_ok("queue", "show", str(entry["id"]))
        self.assertRegex(show, r"(?m)^attempts:\s+1$")
        self.assertRegex(show, r"(?m)^last error:\s+451 4\.3\.0 try again later$")
        self.assertEqual(self.counter("relay_deferred"), 1)
        self.d.wait_log(r"event=relay\.deferred .*rcpt=later@far\.example retry_in=3600 ")
        # The relay recovers; flush retries at once.
        self.sink.rcpt_reply = lambda a: (250, "2.1.5 Ok")
        self.assertEqual(self.ctl_ok("queue", "flush"), "1 queue entry is due now\n")
        msgs = self.sink.wait_messages(2)
        self.assertEqual(msgs[1]["rcpts"], ["later@far.example"])  # only what was not accepted
        fx.wait_until(self.queue_empty, 15, what="the queue to empty")
        self.assertEqual(self.ctl_ok("queue", "list"), "the relay queue is empty\n")

    def test_connection_refused_is_deferred(self):
        port = fx.free_ports(1)[0]
        self.ctl_ok("relay", "set", "--host", "127.0.0.1", "--port", str(port), "--tls", "none")
        send(self.d, "alice@ex.test", ["bob@far.example"])
        fx.wait_until(lambda: self.d.relay_queue()[0]["attempts"] == 1, 15, what="a failed attempt")
        err = self.d.ctl_json("queue", "list")["entries"][0]["last_error"]
        self.assertIn(f"connecting to 127.0.0.1 port {port}", err)
        self.assertEqual(len(self.d.messages("alice")), 0)  # no bounce for a temporary failure

    def test_lifetime_expired_bounces(self):
        port = fx.free_ports(1)[0]
        self.ctl_ok("relay", "set", "--host", "127.0.0.1", "--port", str(port), "--tls", "none")
        send(self.d, "alice@ex.test", ["slow@far.example"])
        fx.wait_until(lambda: self.d.relay_queue()[0]["attempts"] == 1, 15, what="a failed attempt")
        self.d.sql("UPDATE relay_queue SET created_at = UTC_TIMESTAMP(6) - INTERVAL 6 DAY")
        self.sink.rcpt_reply = lambda a: (451, "4.2.0 still busy")
        fx.relay_to(self.d, self.sink)
        self.ctl_ok("queue", "flush")
        fx.wait_until(self.queue_empty, 15, what="the expired entry to go")
        dsn = fx.wait_until(lambda: self.d.messages("alice"), 15, what="the bounce")[0]
        self.assertIn(b"Status: 4.2.0\r\n", dsn["body"])
        self.assertIn(b"delivery time expired; last error: 451 4.2.0 still busy", dsn["body"])
        self.assertIn(b"given up", dsn["body"])


class FlushDuringAttempt(RelayCase):
    """`queue flush` while an attempt holds the row: when that attempt ends deferred,
    the row is tried again at once, not after its backoff (an hour here)."""

    def hold_first_attempt(self):
        entered, release = threading.Event(), threading.Event()
        calls = []

        def rcpt_reply(address):
            calls.append(address)
            if len(calls) == 1:
                entered.set()
                release.wait(30)  # the attempt stays open until the test has flushed
                return (451, "4.3.0 try again later")
            return (250, "2.1.5 Ok")

        self.sink.rcpt_reply = rcpt_reply
        return entered, release

    def flush_during_attempt(self, flusher):
        entered, release = self.hold_first_attempt()
        fx.relay_to(self.d, self.sink)
        send(self.d, "alice@ex.test", ["bob@far.example"])
        self.assertTrue(entered.wait(20), "no delivery attempt reached the sink")
        claimed = self.d.ctl_json("queue", "list")["entries"][0]
        self.assertIsNotNone(claimed["claimed_by"])  # in flight
        rc, out, err = flusher.ctl("queue", "flush")
        self.assertEqual((rc, out), (0, "1 queue entry is due now\n"), err)
        release.set()
        started = time.monotonic()
        msgs = self.sink.wait_messages(1, timeout=20)
        self.assertLess(time.monotonic() - started, 20)
        self.assertEqual(msgs[0]["rcpts"], ["bob@far.example"])
        fx.wait_until(self.queue_empty, 15, what="the queue to empty")
        self.assertEqual(self.sink.sessions, 2)  # the deferred attempt, then the retry
        self.assertEqual(self.counter("relay_deferred"), 1)
        self.d.wait_log(r"event=relay\.deferred .*rcpt=bob@far\.example retry_in=0 flushed=yes error=\"451 4\.3\.0")

    def test_flush_while_the_attempt_is_open(self):
        self.flush_during_attempt(self.d)

    def test_flush_through_another_daemon(self):
        # The mark lives in the database: a flush through a second daemon on the same
        # database reaches the first one's attempt.
        other = fx.Daemon(self, overrides={"database.name": self.d.db_name}, create_db=False)
        other.start()
        self.flush_during_attempt(other)

    def test_a_flush_before_the_attempt_leaves_its_backoff(self):
        # The flush mark is for attempts in flight only; an attempt that starts after
        # the flush and is deferred keeps the backoff.
        self.sink.rcpt_reply = lambda a: (451, "4.3.0 try again later")
        fx.relay_to(self.d, self.sink)
        send(self.d, "alice@ex.test", ["bob@far.example"])
        fx.wait_until(lambda: self.d.relay_queue()[0]["attempts"] == 1, 15, what="a deferred attempt")
        self.ctl_ok("queue", "flush")
        fx.wait_until(lambda: self.d.relay_queue()[0]["attempts"] == 2, 15, what="the flushed attempt")
        fx.wait_until(lambda: len(re.findall(r"event=relay\.deferred .*retry_in=3600 error=", self.d.log())) == 2, 15,
                      what="two deferrals with the backoff")
        self.assertNotIn("flushed=yes", self.d.log())
        self.assertNotIn("retry_in=0", self.d.log())
        self.assertEqual(self.sink.sessions, 2)


class Bounces(RelayCase):
    def test_permanent_failure_bounces_to_the_local_sender(self):
        self.sink.rcpt_reply = lambda a: (550, "5.1.1 <nobody@far.example>: Recipient address rejected") \
            if a.startswith("nobody") else (250, "2.1.5 Ok")
        fx.relay_to(self.d, self.sink)
        send(self.d, "alice@ex.test", ["nobody@far.example", "bob@far.example"])
        self.assertEqual(self.sink.wait_messages(1)[0]["rcpts"], ["bob@far.example"])
        fx.wait_until(self.queue_empty, 15, what="the queue to empty")
        dsn = fx.wait_until(lambda: self.d.messages("alice"), 15, what="the bounce")[0]
        self.assertEqual(dsn["envelope_from"], "")
        self.assertEqual(dsn["subject"], "Undelivered Mail Returned to Sender")
        self.assertEqual(self.counter("relay_bounced"), 1)
        self.d.wait_log(r"event=relay\.bounced .*rcpt=nobody@far\.example status=5\.1\.1 .*dsn=delivered")
        # Over POP3, as the user sees it.
        p = fx.RawPop3(self.d.ports["pop3"])
        self.assertTrue(p.login("alice", "pw-alice").startswith("+OK"))
        status, raw = p.multi("RETR 1")
        self.assertTrue(status.startswith("+OK"), status)
        text = fx.unstuff(raw).decode("utf-8", "replace")
        p.cmd("QUIT")
        p.close()
        self.assertTrue(text.startswith("Return-Path: <>\r\n"), text[:200])
        self.assertIn("Content-Type: multipart/report; report-type=delivery-status;", text)
        self.assertRegex(text, r"Content-Type: message/delivery-status\r\n")
        self.assertIn("Reporting-MTA: dns; mx.test.example\r\n", text)
        self.assertIn("Final-Recipient: rfc822; nobody@far.example\r\nAction: failed\r\nStatus: 5.1.1\r\n", text)
        self.assertIn("Diagnostic-Code: smtp; 550 5.1.1 <nobody@far.example>: Recipient address rejected\r\n", text)
        self.assertNotIn("Final-Recipient: rfc822; bob@far.example", text)
        self.assertIn("Content-Type: text/rfc822-headers\r\n", text)
        headers = text.split("Content-Type: text/rfc822-headers\r\n", 1)[1]
        self.assertIn("Subject: outbound\r\n", headers)
        self.assertNotIn("first line", headers)  # headers only

    def test_no_bounce_for_null_or_foreign_sender(self):
        self.sink.rcpt_reply = lambda a: (550, "5.1.1 no such user")
        fx.relay_to(self.d, self.sink)
        send(self.d, "", ["nobody@far.example"])
        send(self.d, "stranger@elsewhere.example", ["nobody2@far.example"])
        fx.wait_until(self.queue_empty, 15, what="the queue to empty")
        self.d.wait_log(r"event=relay\.bounced .*rcpt=nobody@far\.example .*dsn=\"none \(null sender\)\"")
        self.d.wait_log(r"event=relay\.bounced .*rcpt=nobody2@far\.example .*dsn=\"none \(sender not local\)\"")
        self.assertEqual(self.d.count("mailbox_entries"), 0)
        self.assertEqual(self.d.count("messages"), 0)


if __name__ == "__main__":
    fx.main()
