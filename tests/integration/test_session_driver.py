"""What every SMTP and POP3 connection goes through, whatever the protocol: it is
counted in connections_open for exactly its life (`shicksctl status --json`), a
connection beyond smtp/pop3.max_connections_per_ip is refused (also when the client
resets before the refusal is written), a client that resets at any moment of a
session ends it with its disconnect line (never coroutine.failed), and the TLS
handshake -- SMTPS and POP3S at connect, STARTTLS and STLS later -- is bounded by
tls.handshake_timeout_seconds.

Expectations: shicks.toml(5) [tls] handshake_timeout_seconds, max_connections_per_ip."""

import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

ALICE_PLAIN = "AGFsaWNlAHNlY3JldA=="  # \0alice\0secret


def reset(sock):
    """Closes `sock` with a TCP RST (SO_LINGER 0) instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def connect(port, timeout=10):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_until(sock, marker, limit=1 << 22):
    buf = b""
    while marker not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        if len(buf) > limit:
            break
    return buf


class DriverCase(unittest.TestCase):
    overrides = {}

    def setUp(self):
        self.d = fx.Daemon(self, overrides=self.overrides)
        self.d.start()

    def status(self):
        return self.d.ctl_json("status")

    def wait_open(self, n, what):
        def settled():
            return self.status()["connections_open"] == n
        try:
            fx.wait_until(settled, 20, 0.1, what)
        except TimeoutError:
            self.fail(f"{what}: connections_open is {self.status()['connections_open']}, not {n}\n"
                      f"--- log\n{self.d.log()}")

    def assert_clean_log(self):
        log = self.d.log()
        self.assertNotIn("coroutine.failed", log)
        # Every session that got to its connect line has its disconnect line.
        connected = set(re.findall(r" (\S+) event=(?:smtp|pop3)\.connect ", log))
        ended = set(re.findall(r" (\S+) event=(?:smtp|pop3)\.disconnect ", log))
        self.assertEqual(connected - ended, set(), "sessions without a disconnect line")


class PerAddressCapReset(DriverCase):
    overrides = {"smtp.max_connections_per_ip": 1, "pop3.max_connections_per_ip": 1}

    def test_clients_beyond_the_per_address_cap_that_reset_leave_nothing_wrong(self):
        held = []
        for service, greeting in (("smtp", b"220"), ("pop3", b"+OK")):
            s = connect(self.d.ports[service])
            self.assertTrue(s.recv(200).startswith(greeting))
            held.append(s)
        self.addCleanup(lambda: [s.close() for s in held])
        before = self.status()["connections_total"]
        n = 0
        for _ in range(15):
            for service in ("smtp", "submission", "smtps", "pop3", "pop3s"):
                reset(connect(self.d.ports[service]))
                n += 1
        # Implicit TLS: the handshake is done, then the client resets while the
        # per-address refusal is being written to it.
        for _ in range(10):
            for service in ("smtps", "pop3s"):
                tls = fx.unverified_tls_context().wrap_socket(connect(self.d.ports[service]))
                reset(tls)
                n += 1

        def settled():
            st = self.status()
            return st["connections_total"] >= before + n and st["connections_open"] == 2
        try:
            fx.wait_until(settled, 20, 0.1, "the refused connections to end")
        except TimeoutError:
            self.fail(f"status: {self.status()}\n--- log\n{self.d.log()}")
        counters = self.status()["counters"]
        self.assertGreaterEqual(counters["connections_refused_per_ip"], 20)
        self.assertEqual(counters["connections_refused"], 0)
        self.d.wait_log(r"event=smtp\.refused peer=\S+ reason=\"?too many connections from this address")
        self.d.wait_log(r"event=pop3\.refused peer=\S+ reason=\"?too many connections from this address")

        # Still serving: the held clients are fine, and a refusal reaches a reader.
        held[0].sendall(b"NOOP\r\n")
        self.assertTrue(held[0].recv(200).startswith(b"250"))
        with connect(self.d.ports["pop3"]) as extra:
            self.assertTrue(extra.recv(200).startswith(b"-ERR [SYS/TEMP] Too many connections"))
        for s in held:
            s.close()
        self.wait_open(0, "every connection to end")
        self.assert_clean_log()


class ResetAtEveryStep(DriverCase):
    overrides = {"pop3.lock_wait_seconds": 5}

    def setUp(self):
        super().setUp()
        self.d.add_user("alice", password="secret", addresses=["alice@example.org"])
        fx.send_mail(self.d, ["alice@example.org"],
                     b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 2000)

    def smtp_steps(self, port, tls=False):
        """(name, function) pairs: each opens a session, takes it to one step, resets."""
        def greeted():
            s = connect(port)
            if tls:
                s = fx.unverified_tls_context().wrap_socket(s)
            self.assertTrue(read_until(s, b"\n").startswith(b"220"))
            return s

        def ehlo():
            s = greeted()
            s.sendall(b"EHLO client.example\r\n")
            read_until(s, b"250 ")
            return s

        def ready_for_mail():
            s = ehlo()
            if tls:  # SMTPS takes mail only after AUTH
                s.sendall(f"AUTH PLAIN {ALICE_PLAIN}\r\n".encode())
                self.assertTrue(read_until(s, b"\n").startswith(b"235"))
            return s

        def after_greeting():
            reset(greeted())

        def mid_line():
            s = greeted()
            s.sendall(b"EHLO cli")
            reset(s)

        def during_auth():
            s = ehlo()
            s.sendall(f"AUTH PLAIN {ALICE_PLAIN}\r\n".encode())
            reset(s)

        def mid_data():
            s = ready_for_mail()
            s.sendall(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
            read_until(s, b"354")
            s.sendall(b"Subject: cut\r\n\r\n" + b"y" * 100000)
            reset(s)

        def after_end_of_data():
            s = ready_for_mail()
            s.sendall(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
            read_until(s, b"354")
            s.sendall(b"Subject: cut\r\n\r\nbody\r\n.\r\n")
            reset(s)

        def starttls_then_reset():
            s = ehlo()
            s.sendall(b"STARTTLS\r\n")
            read_until(s, b"220")
            reset(s)

        def mid_handshake():
            s = ehlo()
            s.sendall(b"STARTTLS\r\n")
            read_until(s, b"220")
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello cut short
            reset(s)

        steps = [after_greeting, mid_line, during_auth, mid_data, after_end_of_data]
        if not tls:
            steps += [starttls_then_reset, mid_handshake]
        return steps

    def pop3_steps(self, port, tls=False):
        def greeted():
            s = connect(port)
            if tls:
                s = fx.unverified_tls_context().wrap_socket(s)
            self.assertTrue(read_until(s, b"\n").startswith(b"+OK"))
            return s

        def logged_in():
            s = greeted()
            s.sendall(b"USER alice\r\nPASS secret\r\n")
            buf = read_until(s, b"\n")
            while buf.count(b"\n") < 2:
                buf += s.recv(4096)
            self.assertIn(b"+OK", buf.splitlines()[1])
            return s

        def during_pass():
            s = greeted()
            s.sendall(b"USER alice\r\nPASS secret\r\n")
            reset(s)

        def during_retr():
            s = logged_in()
            s.sendall(b"RETR 1\r\n")
            s.recv(10000)
            reset(s)

        def during_lock_wait():
            holder = logged_in()
            try:
                s = greeted()
                s.sendall(b"USER alice\r\nPASS secret\r\n")
                fx.wait_until(lambda: any(x["state"] == "lock-wait"
                                          for x in self.d.ctl_json("session", "list")["sessions"]),
                              10, 0.05, "the second login to wait for the maildrop")
                reset(s)
            finally:
                holder.sendall(b"QUIT\r\n")
                read_until(holder, b"\n")
                holder.close()

        def stls_then_reset():
            s = greeted()
            s.sendall(b"STLS\r\n")
            read_until(s, b"+OK")
            reset(s)

        steps = [during_pass, during_retr]
        if not tls:
            steps += [during_lock_wait, stls_then_reset]
        return steps

    def test_a_client_that_resets_at_any_step_ends_its_session_cleanly(self):
        p = self.d.ports
        steps = (self.smtp_steps(p["smtp"]) + self.smtp_steps(p["smtps"], tls=True) +
                 self.pop3_steps(p["pop3"]) + self.pop3_steps(p["pop3s"], tls=True))
        for _ in range(3):
            for step in steps:
                step()
        self.wait_open(0, "every session to end")
        self.assertEqual(self.d.ctl_json("session", "list")["sessions"], [])
        self.assert_clean_log()
        # The daemon still serves, and the maildrop is free again.
        pop = fx.RawPop3(p["pop3"])
        self.assertTrue(pop.cmd("USER alice").startswith("+OK"))
        self.assertTrue(pop.cmd("PASS secret").startswith("+OK"))
        pop.cmd("QUIT")


class HandshakeTimeout(DriverCase):
    overrides = {"tls.handshake_timeout_seconds": 1}

    def assert_closed_within(self, sock, seconds):
        started = time.monotonic()
        sock.settimeout(seconds + 10)
        try:
            self.assertEqual(sock.recv(100), b"")
        except ConnectionResetError:
            pass
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, seconds + 5, "the handshake timeout did not apply")
        sock.close()

    def test_implicit_tls_and_starttls_handshakes_end_after_the_timeout(self):
        for service in ("smtps", "pop3s"):
            self.assert_closed_within(connect(self.d.ports[service]), 1)
        self.d.wait_log(r"event=smtp\.disconnect service=smtps peer=\S+ reason=\"?tls: TLS handshake timed out")
        self.d.wait_log(r"event=pop3\.disconnect service=pop3s peer=\S+ reason=\"?tls: TLS handshake timed out")

        s = connect(self.d.ports["smtp"])
        read_until(s, b"\n")
        s.sendall(b"EHLO client.example\r\nSTARTTLS\r\n")
        read_until(s, b"220 2.0.0")
        self.assert_closed_within(s, 1)
        self.d.wait_log(r"event=smtp\.disconnect reason=\"?tls: TLS handshake timed out")

        s = connect(self.d.ports["pop3"])
        read_until(s, b"\n")
        s.sendall(b"STLS\r\n")
        read_until(s, b"+OK")
        self.assert_closed_within(s, 1)
        self.d.wait_log(r"event=pop3\.disconnect reason=\"?tls: TLS handshake timed out")
        self.wait_open(0, "the timed-out sessions to end")
        self.assert_clean_log()


class HandshakeTimeoutConfig(unittest.TestCase):
    def test_an_out_of_range_value_is_refused_naming_its_line(self):
        d = fx.Daemon(self, overrides={"tls.handshake_timeout_seconds": 0}, create_db=False)
        p = subprocess.run([fx.shicksd_path(), "-c", d.config_file, "--check-config"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 78, p.stderr)
        line = d.key_line("tls", "handshake_timeout_seconds")
        self.assertIn(f"{d.config_file}:{line}: tls.handshake_timeout_seconds must be between 1 and 3600, not 0",
                      p.stderr)


if __name__ == "__main__":
    unittest.main()
