"""Durable delivery (design.md 2, "250 means committed"): concurrent clients lose
nothing, every 250 is visible to a fresh database connection at once, a database
that dies mid-session gives 451 (never 250), and SIGTERM tells connected clients
421 4.3.2 before a clean exit.

Expectations: interface.md, design.md 2, RFC 5321 4.2.5 / 3.8, issue 3."""

import concurrent.futures
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

HOST = "mx.test.example"
TIMEOUT = 30
MARIADBD = "/usr/sbin/mariadbd"


def message(subject, to, n=0):
    body = "".join(f"line {i} of {subject}\r\n" for i in range(n + 3))
    return (f"From: <sender@x.test>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\r\n{body}").encode()


class Concurrency(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None, hostname=HOST)
        cls.d.start()
        cls.d.add_user("u1", addresses=["u1@ex.test"])
        cls.d.add_user("u2", addresses=["u2@ex.test"])

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_16_clients_x_10_messages_all_present(self):
        clients, per_client = 16, 10

        def run(i):
            done = []  # (subject, rcpts, queue id, message)
            with fx.smtp_client(self.d, helo=f"c{i}.example", timeout=TIMEOUT) as s:
                s.ehlo()
                for j in range(per_client):
                    subject = f"dur-{i:02}-{j:02}"
                    rcpts = [("u1@ex.test", "u2@ex.test")[(i + j) % 2]]
                    if j % 5 == 0:
                        rcpts = ["u1@ex.test", "u2@ex.test"]
                    msg = message(subject, rcpts[0], n=(i * j) % 40)
                    code, text = fx.smtp_transaction(s, "sender@x.test", rcpts, msg)
                    if code == 250:
                        done.append((subject, rcpts, fx.queue_id(text), msg))
                    else:
                        done.append((subject, rcpts, None, (code, text)))
            return done

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            results = [r for f in [pool.submit(run, i) for i in range(clients)] for r in f.result(timeout=240)]
        elapsed = time.monotonic() - t0
        accepted = [r for r in results if r[2] is not None]
        refused = [r for r in results if r[2] is None]

        entries = self.d.messages(where="m.subject LIKE 'dur-%'")
        by_subject = {}
        for e in entries:
            by_subject.setdefault(e["subject"], []).append(e)
        missing = []
        for subject, rcpts, qid, msg in accepted:
            es = by_subject.get(subject, [])
            users = sorted(e["user"] for e in es)
            want = sorted(r.split("@")[0] for r in rcpts)
            if users != want:
                missing.append((subject, users, want))
                continue
            for e in es:
                header, rest = fx.split_received(e["body"])
                self.assertEqual(rest, msg, subject)
                self.assertIn(f"id {qid}", header)
        self.assertEqual(missing, [], "accepted (250) but not stored as sent")
        self.assertEqual(len({r[2] for r in accepted}), len(accepted), "queue ids are unique")
        self.assertEqual(len({e["uidl"] for e in entries}), len(entries), "UIDLs are unique")
        self.assertEqual(refused, [], "no message should be refused under this load")
        self.assertEqual(len(accepted), clients * per_client)
        self.assertEqual(len(by_subject), clients * per_client)
        self.assertEqual(self.d.count("messages", "subject LIKE 'dur-%'"), clients * per_client,
                         "one body per message")
        print(f"\n  {clients * per_client} messages from {clients} clients in {elapsed:.1f} s", file=sys.stderr)

    def test_250_means_committed(self):
        with fx.smtp_client(self.d, timeout=TIMEOUT) as s:
            s.ehlo()
            for k in range(20):
                subject = f"committed-{k}"
                s.mail("sender@x.test")
                s.rcpt("u1@ex.test")
                code, text = s.data(message(subject, "u1@ex.test"))
                self.assertEqual(code, 250, text)
                # At once, on a new connection (the mariadb CLI), with no retry.
                n = self.d.count("mailbox_entries e JOIN messages m ON m.id = e.message_id",
                                 f"m.subject = '{subject}'")
                self.assertEqual(n, 1, f"{subject}: 250 sent before the commit was visible")


@unittest.skipUnless(os.path.exists(MARIADBD), "mariadb-server is not installed")
class DatabaseLoss(unittest.TestCase):
    def test_database_killed_mid_session_gives_451_never_250(self):
        d = fx.ManagedDaemon(self, hostname=HOST)
        d.start(timeout=120)
        d.add_user("alice", addresses=["alice@ex.test"])
        d.add_user("bob", addresses=["bob@ex.test"])
        pids = d.mariadbd_pids()
        self.assertEqual(len(pids), 1)
        with d.smtp(timeout=90) as c, d.smtp(timeout=90) as c2:
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<sender@x.test>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@ex.test>").code, 250)
            c2.ehlo()
            self.assertEqual(c2.cmd("MAIL FROM:<sender@x.test>").code, 250)

            fx.kill_pid(pids[0], signal.SIGKILL)
            fx.wait_until(lambda: not fx.pid_alive(pids[0]), 30, 0.05, "mariadbd to die")

            r = c.cmd("DATA")
            if r.code == 354:
                r = c.cmd(message("db-lost", "alice@ex.test") + b".")
            self.assertNotEqual(r.code, 250, f"250 although the database is gone: {r}")
            self.assertEqual((r.code, r.status), (451, "4.3.0"), r)
            # A recipient lookup without the database: 451 as well. (bob was never
            # looked up; a recipient remembered from a moment ago may get 250 at RCPT,
            # and then 451 at the end of DATA as above.)
            r = c2.cmd("RCPT TO:<bob@ex.test>")
            self.assertEqual((r.code, r.status), (451, "4.3.0"), r)
            self.assertEqual(c.cmd("NOOP").code, 250, "the session survives")
        self.assertTrue(d.running(), "shicksd keeps running without its database")
        with d.smtp() as c:
            self.assertEqual(c.greeting.code, 220)
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<sender@x.test>").code, 250)
            r = c.cmd("RCPT TO:<alice@ex.test>")
            self.assertEqual((r.code, r.status), (451, "4.3.0"), r)
        self.assertIn("event=smtp.store_failed", d.log())
        rc = d.stop(timeout=60)
        self.assertIsNotNone(rc)


class Shutdown(unittest.TestCase):
    def test_sigterm_tells_connected_clients_421_and_exits_0(self):
        d = fx.Daemon(self, hostname=HOST)
        d.start()
        d.add_user("alice", addresses=["alice@ex.test"])
        with d.smtp() as idle, d.smtp() as busy, d.smtp() as fresh:
            idle.ehlo()
            busy.ehlo()
            self.assertEqual(busy.cmd("MAIL FROM:<sender@x.test>").code, 250)
            self.assertEqual(busy.cmd("RCPT TO:<alice@ex.test>").code, 250)
            d.send_signal(signal.SIGTERM)
            for name, c in (("idle", idle), ("in a transaction", busy), ("before EHLO", fresh)):
                r = c.reply()
                self.assertEqual((r.code, r.status), (421, "4.3.2"), f"{name}: {r}")
                self.assertTrue(c.closed(10), f"{name}: connection closed after 421")
            self.assertEqual(d.wait(timeout=30), 0, d.log())
        # Nothing listens any more.
        with self.assertRaises(OSError):
            fx.RawSmtp(d.ports["smtp"], timeout=5)


if __name__ == "__main__":
    fx.main()
