"""Clients that hold connections without finishing their commands (slowloris) cannot
keep others out. The wait for one command is bounded as a whole: bytes that trickle
in do not start smtp.command_timeout_seconds / pop3.autologout_seconds again. Once
four fifths of a connection cap are in use (stress), every session has
server.stress_timeout_seconds for each command, sessions already waiting are told at
once, a message under DATA must come at 500 bytes/s after that, and a client that
keeps up is not disturbed; server.stress_timeout_seconds = 0 turns it off.

Expectations: shicksd(8) CONNECTION LIMITS, shicks.toml(5) stress_timeout_seconds,
command_timeout_seconds, autologout_seconds."""

import os
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

_next_source = [2]


def source_ip():
    """A loopback address of its own for each client, so per-address caps never decide."""
    n = _next_source[0]
    _next_source[0] += 1
    return f"127.0.{10 + n // 250}.{n % 250 + 2}"


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=15, source_address=(source_ip(), 0))
    return s


def read_until_closed(sock, timeout):
    """(bytes read, seconds until the server closed) -- seconds None if it did not
    close within `timeout`."""
    start = time.monotonic()
    data = b""
    sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, time.monotonic() - start
            data += chunk
            sock.settimeout(max(0.05, timeout - (time.monotonic() - start)))
    except socket.timeout:
        return data, None
    except ConnectionResetError:
        return data, time.monotonic() - start


def trickle(sock, data, every, stop):
    """Sends `data` one byte every `every` s until done or stopped; False if the
    server closed first."""
    for b in data:
        if stop.is_set():
            return True
        try:
            sock.send(bytes([b]))
        except OSError:
            return False
        stop.wait(every)
    return True


class WholeCommandDeadline(unittest.TestCase):
    """Below stress: one command's bytes one at a time do not extend its timeout."""

    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None, overrides={"smtp.command_timeout_seconds": 3, "pop3.autologout_seconds": 3})
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def check_trickle(self, service, greeting_prefix, reply_prefix):
        s = connect(self.d.ports[service])
        self.addCleanup(s.close)
        s.settimeout(15)
        self.assertTrue(s.recv(4096).startswith(greeting_prefix))
        stop = threading.Event()
        # "NOOP" + CRLF at a byte every 0.9 s takes 5.4 s: longer than the 3 s timeout,
        # though no single gap between bytes comes near it.
        t = threading.Thread(target=trickle, args=(s, b"NOOP\r\n", 0.9, stop), daemon=True)
        start = time.monotonic()
        t.start()
        data, closed_after = read_until_closed(s, 15)
        stop.set()
        t.join(5)
        self.assertIsNotNone(closed_after, "the trickling client was never dropped")
        self.assertLess(time.monotonic() - start, 4.5, "dropped later than the command timeout")
        self.assertTrue(data.startswith(reply_prefix), data)

    def test_smtp_command_trickled_byte_by_byte_times_out(self):
        self.check_trickle("smtp", b"220 ", b"421 4.4.2 ")

    def test_pop3_command_trickled_byte_by_byte_times_out(self):
        self.check_trickle("pop3", b"+OK", b"-ERR")

    def test_a_client_that_finishes_its_commands_keeps_its_session(self):
        # Each command arrives in two pieces 1 s apart; each is whole within 3 s, and
        # the session lasts longer than the timeout in all.
        with self.d.smtp() as c:
            for _ in range(5):
                c.send("NO")
                time.sleep(1.0)
                c.send("OP\r\n")
                self.assertEqual(c.reply().code, 250)
            self.assertEqual(c.cmd("QUIT").code, 221)


class Stress(unittest.TestCase):
    """server.max_connections 10: stress from 8 open connections on."""

    CAP = 10
    STRESS_AT = 8
    TIMEOUT = 2

    def setUp(self):
        self.d = fx.Daemon(self, overrides={"server.max_connections": self.CAP,
                                            "server.stress_timeout_seconds": self.TIMEOUT})
        self.d.start()
        self.d.add_user("rcpt", addresses=["rcpt@local.test"])
        self.socks = []
        self.addCleanup(lambda: [s.close() for s in self.socks])

    def idle(self, n, service="smtp"):
        out = []
        for _ in range(n):
            s = connect(self.d.ports[service])
            s.settimeout(15)
            s.recv(4096)  # the greeting
            out.append(s)
        self.socks += out
        return out

    def counters(self):
        return self.d.ctl_json("status")["counters"]

    def test_idle_clients_are_dropped_when_stress_begins(self):
        below = self.idle(self.STRESS_AT - 1, "smtp")
        time.sleep(self.TIMEOUT + 1.0)
        # Below the stress level nothing is cut short (the command timeout is 300 s).
        for s in below:
            s.settimeout(0.1)
            with self.assertRaises(socket.timeout):
                s.recv(1)
        start = time.monotonic()
        last = self.idle(1, "pop3")[0]  # the 8th: stress begins
        for s in below:
            data, closed_after = read_until_closed(s, 5)
            self.assertIsNotNone(closed_after, "an idle client waiting longer than the stress timeout stayed")
            self.assertTrue(data.startswith(b"421 4.4.2 "), data)
        self.assertLess(time.monotonic() - start, 1.5, "the waiting sessions were not told at once")
        # With them gone the stress is over: the newcomer keeps the normal timeout.
        data, closed_after = read_until_closed(last, self.TIMEOUT + 1.0)
        self.assertIsNone(closed_after, data)
        self.d.wait_log(r"event=connections\.stress open=8 smtp=7 pop3=1 timeout_seconds=2")
        self.d.wait_log(r"event=smtp\.disconnect reason=stress-timeout")
        fx.wait_until(lambda: self.counters()["connections_stress_timeouts"] >= self.STRESS_AT - 1, 10,
                      what="connections_stress_timeouts")
        self.assertGreaterEqual(self.counters()["connections_stress"], 1)
        # With the room made, mail flows as usual.
        fx.send_mail(self.d, ["rcpt@local.test"], b"Subject: after\r\n\r\nhi\r\n")
        self.assertEqual(len(self.d.messages("rcpt")), 1)

    def test_a_full_server_frees_itself_from_trickling_clients(self):
        stop = threading.Event()
        self.addCleanup(stop.set)
        threads = []
        for s in self.idle(self.CAP):
            t = threading.Thread(target=trickle, args=(s, b"NOOP\r\n" * 10, 0.5, stop), daemon=True)
            t.start()
            threads.append(t)
        # Full: a newcomer is refused now, and welcome once the stress timeout has passed.
        with fx.RawSmtp(self.d.ports["smtp"]) as c:
            self.assertEqual(c.greeting.code, 421)
            self.assertEqual(c.greeting.status, "4.7.0")
        deadline = time.monotonic() + self.TIMEOUT + 5
        while True:
            c = fx.RawSmtp(self.d.ports["smtp"])
            try:
                if c.greeting.code == 220:
                    c.ehlo()
                    self.assertEqual(c.cmd("QUIT").code, 221)
                    break
            finally:
                c.sock.close()
            self.assertLess(time.monotonic(), deadline, "the trickling clients kept the server full")
            time.sleep(0.2)
        stop.set()

    def test_clients_that_keep_up_are_not_disturbed(self):
        # Eight sessions under stress that each send a whole command every 0.5 s stay,
        # and a ninth receives a message at full speed.
        stop = threading.Event()
        self.addCleanup(stop.set)
        errors = []

        def busy(s):
            try:
                while not stop.is_set():
                    s.sendall(b"NOOP\r\n")
                    if not s.recv(4096).startswith(b"250"):
                        errors.append("NOOP not answered 250")
                        return
                    stop.wait(0.5)
            except OSError as e:
                errors.append(repr(e))

        threads = [threading.Thread(target=busy, args=(s,), daemon=True) for s in self.idle(self.STRESS_AT)]
        for t in threads:
            t.start()
        time.sleep(self.TIMEOUT * 2 + 1)
        fx.send_mail(self.d, ["rcpt@local.test"], b"Subject: under stress\r\n\r\n" + b"x" * 100000 + b"\r\n")
        stop.set()
        for t in threads:
            t.join(5)
        self.assertEqual(errors, [])
        self.assertEqual(len(self.d.messages("rcpt")), 1)

    def test_a_message_slower_than_500_bytes_a_second_is_cut_off_under_stress(self):
        stop = threading.Event()
        self.addCleanup(stop.set)

        def busy(s):
            try:
                while not stop.is_set():
                    s.sendall(b"NOOP\r\n")
                    s.recv(4096)
                    stop.wait(0.5)
            except OSError:
                pass

        for s in self.idle(self.STRESS_AT - 1):
            threading.Thread(target=busy, args=(s,), daemon=True).start()
        with self.d.smtp() as c:
            c.ehlo()
            c.open_data("s@remote.test", ["rcpt@local.test"])
            start = time.monotonic()
            # 100 bytes a second: 2 s + 1 s per 500 bytes received runs out after ~2-3 s
            # (the whole message would take 20 s).
            sender = threading.Thread(target=trickle, args=(c.sock, b"Subject: slow\r\n\r\n" + b"y" * 2000, 0.01, stop),
                                      daemon=True)
            sender.start()
            data, closed_after = read_until_closed(c.sock, 15)
            stop.set()
            sender.join(5)
            self.assertIsNotNone(closed_after, "the slow message was never cut off")
            self.assertLess(time.monotonic() - start, 6)
            self.assertTrue((c.buf + data).startswith(b"421 4.4.2 "), c.buf + data)
        stop.set()
        self.assertEqual(len(self.d.messages("rcpt")), 0)


class StressOff(unittest.TestCase):
    def test_stress_timeout_0_keeps_the_normal_timeouts(self):
        d = fx.Daemon(self, overrides={"server.max_connections": 5, "server.stress_timeout_seconds": 0})
        d.start()
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for _ in range(5):
            s = connect(d.ports["smtp"])
            s.settimeout(15)
            s.recv(4096)
            socks.append(s)
        time.sleep(3)
        for s in socks:
            s.settimeout(0.1)
            with self.assertRaises(socket.timeout):
                s.recv(1)
        self.assertIsNone(re.search(r"event=connections\.stress", d.log()))


if __name__ == "__main__":
    unittest.main(verbosity=2)
