"""At-least-once relaying: a daemon killed while the relay holds a message (the sink
stalls after the data) sends it again after the restart, and only the recipients
whose delivery was not yet accepted; two daemons on one database never send a
recipient twice.

Expectations: issue 6, design.md 1, 2 and 6 (leases in the database, SKIP LOCKED)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402


def send(d, rcpts, subject, sender="alice@ex.test"):
    fx.send_mail(d, rcpts, f"From: <{sender}>\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n".encode(),
                 sender=sender, mail_options=())


def subjects(sink):
    out = []
    for m in sink.messages:
        for line in m["data"].split(b"\r\n"):
            if line.startswith(b"Subject: "):
                out.append(line[9:].decode())
    return out


class Restart(unittest.TestCase):
    def test_killed_during_delivery_delivers_after_restart(self):
        d = fx.Daemon(self)
        d.start()
        d.add_user("alice", "pw", addresses=["alice@ex.test"])
        sink = fx.SmtpSink(self)
        fx.relay_to(d, sink)
        send(d, ["a1@far.example", "a2@far.example"], "first")
        sink.wait_messages(1)
        fx.wait_until(lambda: d.count("relay_queue") == 0, 15, what="the first message to leave the queue")
        # The second message: the sink takes the data and never answers.
        sink.data_reply = lambda tx: None if b"Subject: stalled" in tx["data"] else (250, "2.0.0 Ok")
        send(d, ["b1@far.example", "b2@far.example"], "stalled")
        self.assertTrue(sink.stalled.wait(20), "the sink never got the data")
        rows = d.sql_rows("SELECT recipient, claimed_by IS NOT NULL, attempts FROM relay_queue ORDER BY id")
        self.assertEqual(rows, [["b1@far.example", "1", "0"], ["b2@far.example", "1", "0"]])
        d.kill()
        sink.release()
        sink.data_reply = lambda tx: (250, "2.0.0 Ok")
        d.start()
        # The restarted daemon voids its predecessor's lease at once (no 15-minute wait).
        d.wait_log(r"event=relay\.claims_released owner=\S+ rows=2")
        msgs = sink.wait_messages(2)
        self.assertEqual(msgs[1]["rcpts"], ["b1@far.example", "b2@far.example"])
        fx.wait_until(lambda: d.count("relay_queue") == 0, 15, what="the queue to empty")
        self.assertEqual(sorted(subjects(sink)), ["first", "stalled"])  # the first message was not sent again
        self.assertEqual(d.stop(), 0)


    def test_sigterm_during_delivery_gives_the_rows_back(self):
        d = fx.Daemon(self)
        d.start()
        sink = fx.SmtpSink(self)
        sink.data_reply = lambda tx: None
        fx.relay_to(d, sink)
        send(d, ["c1@far.example"], "held")
        self.assertTrue(sink.stalled.wait(20), "the sink never got the data")
        self.assertEqual(d.stop(), 0)  # promptly, although the relay never answers
        sink.release()
        # Abandoned, not failed: no attempt counted, no lease left behind.
        self.assertEqual(d.sql_rows("SELECT recipient, attempts, claimed_by IS NULL FROM relay_queue"),
                         [["c1@far.example", "0", "1"]])
        d.wait_log(r"event=relay\.runner_stopped")


class TwoDaemons(unittest.TestCase):
    def test_one_database_no_double_sending(self):
        d1 = fx.Daemon(self)
        d1.start()
        d2 = fx.Daemon(self, overrides={"database.name": d1.db_name}, create_db=False)
        d2.start()
        d1.add_user("alice", "pw", addresses=["alice@ex.test"])
        sink = fx.SmtpSink(self)
        fx.relay_to(d1, sink)
        d2.ctl("relay", "set", "--host", sink.host, "--port", str(sink.port), "--tls", "none")
        for i in range(12):
            d = d1 if i % 2 == 0 else d2
            send(d, [f"r{i}a@far.example", f"r{i}b@far.example"], f"m{i}")
        sink.wait_messages(12, timeout=60)
        fx.wait_until(lambda: d1.count("relay_queue") == 0, 30, what="the queue to empty")
        self.assertEqual(sorted(subjects(sink)), sorted(f"m{i}" for i in range(12)))
        for m in sink.messages:
            self.assertEqual(len(m["rcpts"]), 2)
        self.assertEqual(d1.stop(), 0)
        self.assertEqual(d2.stop(), 0)


if __name__ == "__main__":
    fx.main()
