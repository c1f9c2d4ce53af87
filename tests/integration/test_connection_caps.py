"""Caps on the connections open at once: server.max_connections over every SMTP and
POP3 listener, smtp.max_connections and pop3.max_connections per protocol. Clients
come from several loopback addresses (127.0.0.2, 127.0.0.3, ...), so the per-address
cap never decides. Beyond a cap SMTP gets 421 4.7.0 (over TLS on SMTPS), POP3
-ERR [SYS/TEMP], the connection is closed, the refusal is counted
(connections_refused in `shicksctl status --json`), and a slot frees when a client
leaves. A client that resets at once costs nothing but its log line. The cap is
checked against the open-files limit at start.

Expectations: shicksd(8) CONNECTION LIMITS, shicks.toml(5) max_connections."""

import os
import socket
import ssl
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

_next_source = [2]


def source_ip():
    """A loopback address not used before by this test process (127.0.0.2, ...)."""
    n = _next_source[0]
    _next_source[0] += 1
    return f"127.0.{n // 250}.{n % 250 + 2}" if n >= 250 else f"127.0.0.{n}"


class Client:
    """A raw TCP client bound to its own loopback source address."""

    def __init__(self, port, tls=False, timeout=15):
        self.source = source_ip()
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(self.source, 0))
        self.sock = fx.unverified_tls_context().wrap_socket(raw) if tls else raw
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode("utf-8", "replace").rstrip("\r")

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def at_eof(self):
        try:
            return self.sock.recv(4096) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class CapCase(unittest.TestCase):
    overrides = {}

    def setUp(self):
        self.d = fx.Daemon(self, overrides=self.overrides)
        self.d.start()
        self.clients = []
        self.addCleanup(lambda: [c.close() for c in self.clients])

    def connect(self, service, tls=None):
        c = Client(self.d.ports[service], tls=service in ("smtps", "pop3s") if tls is None else tls)
        self.clients.append(c)
        return c

    def held(self, service):
        """A connection that got its greeting."""
        c = self.connect(service)
        greeting = c.line()
        self.assertTrue(greeting.startswith("+OK" if service.startswith("pop3") else "220 "), greeting)
        return c

    def refused(self, service):
        """A connection that got the refusal and was closed; returns the reply."""
        c = self.connect(service)
        reply = c.line()
        self.assertTrue(c.at_eof(), f"{service}: the connection stays open after {reply!r}")
        return reply

    def assert_smtp_refusal(self, reply):
        self.assertRegex(reply, r"^421 4\.7\.0 mx\.test\.example .*too many connections")

    def assert_pop3_refusal(self, reply):
        self.assertRegex(reply, r"^-ERR \[SYS/TEMP\] .*[Tt]oo many connections")

    def refused_count(self):
        return self.d.ctl_json("status")["counters"]["connections_refused"]

    def assert_no_coroutine_failure(self):
        self.assertNotIn("coroutine.failed", self.d.log())


class ServerCap(CapCase):
    overrides = {"server.max_connections": 3}

    def test_beyond_the_server_cap_every_listener_refuses_until_a_client_leaves(self):
        first = self.held("smtp")
        self.held("submission")
        self.held("pop3")
        self.assert_smtp_refusal(self.refused("smtp"))
        self.assert_smtp_refusal(self.refused("submission"))
        self.assert_smtp_refusal(self.refused("smtps"))  # readable: after the TLS handshake
        self.assert_pop3_refusal(self.refused("pop3"))
        self.assert_pop3_refusal(self.refused("pop3s"))
        self.assertEqual(self.refused_count(), 5)
        self.d.wait_log(r"event=smtp\.refused .*reason=\"?server\.max_connections reached")
        self.d.wait_log(r"event=pop3\.refused .*reason=\"?server\.max_connections reached")

        first.send("QUIT")
        self.assertTrue(first.line().startswith("221"))
        first.close()

        # The slot frees once the session has ended.
        def admitted():
            c = self.connect("pop3")
            line = c.line()
            if line.startswith("+OK"):
                return c
            c.close()
            return None
        c = fx.wait_until(admitted, 10, 0.1, "a slot to free after QUIT")
        c.send("QUIT")
        self.assertTrue(c.line().startswith("+OK"))
        c.close()
        self.assertGreaterEqual(self.refused_count(), 5)
        fx.wait_until(lambda: self.d.ctl_json("status")["connections_open"] == 2, 10, 0.1,
                      "the two held connections to be all that is open")
        self.assert_no_coroutine_failure()

    def test_a_client_that_resets_at_once_costs_only_its_log_line(self):
        for service in ("smtp", "pop3"):
            self.held(service)
        self.held("submission")
        before = self.refused_count()
        for i in range(20):
            for service in ("smtp", "smtps", "pop3s"):
                s = socket.create_connection(("127.0.0.1", self.d.ports[service]), timeout=5,
                                             source_address=(source_ip(), 0))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()  # RST
        fx.wait_until(lambda: self.refused_count() >= before + 60, 10, 0.1, "the refusals to be counted")
        # Still serving: the held clients are unharmed, the refusal of a reader works.
        self.assert_smtp_refusal(self.refused("smtp"))
        self.assert_no_coroutine_failure()


class PerProtocolCaps(CapCase):
    overrides = {"server.max_connections": 10, "smtp.max_connections": 2, "pop3.max_connections": 1}

    def test_each_protocol_has_its_own_cap_below_the_server_cap(self):
        self.held("smtp")
        self.held("smtps")
        self.assert_smtp_refusal(self.refused("submission"))
        self.held("pop3")  # SMTP being full leaves POP3 its room
        self.assert_pop3_refusal(self.refused("pop3s"))
        self.assert_pop3_refusal(self.refused("pop3"))
        self.assertEqual(self.refused_count(), 3)
        self.d.wait_log(r"event=smtp\.refused .*reason=\"?smtp\.max_connections reached")
        self.d.wait_log(r"event=pop3\.refused .*reason=\"?pop3\.max_connections reached")
        self.assert_no_coroutine_failure()


class PerAddressRefusal(CapCase):
    overrides = {"smtp.max_connections_per_ip": 1}

    def test_per_address_refusal_to_a_client_that_resets_is_not_a_failure(self):
        with socket.create_connection(("127.0.0.1", self.d.ports["smtp"]), timeout=10) as keep:
            self.assertTrue(keep.recv(100).startswith(b"220"))
            for _ in range(30):
                s = socket.create_connection(("127.0.0.1", self.d.ports["smtp"]), timeout=5)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            # Every one has been dealt with (a client whose address was gone before
            # the session read it is not refused but fails its greeting).
            def settled():
                st = self.d.ctl_json("status")
                return st["connections_total"] >= 31 and st["connections_open"] == 1
            fx.wait_until(settled, 10, 0.1, "the 30 connections to end")
        self.assert_no_coroutine_failure()
        counters = self.d.ctl_json("status")["counters"]
        self.assertGreaterEqual(counters.get("connections_refused_per_ip", 0), 1)
        self.assertEqual(counters["connections_refused"], 0)


class OpenFilesLimit(unittest.TestCase):
    """shicksd raises its open-files limit to the hard limit; the cap must fit in it."""

    def wrapped(self, nofile):
        """A launcher that runs shicksd with RLIMIT_NOFILE = nofile (soft and hard)."""
        fd, path = tempfile.mkstemp(prefix="nofile.", dir=fx.test_tmp())
        with os.fdopen(fd, "w") as f:
            f.write("#!/usr/bin/env python3\nimport os, resource, sys\n"
                    f"resource.setrlimit(resource.RLIMIT_NOFILE, ({nofile}, {nofile}))\n"
                    f"os.execv({fx.shicksd_path()!r}, [{fx.shicksd_path()!r}] + sys.argv[1:])\n")
        os.chmod(path, 0o755)
        self.addCleanup(os.unlink, path)
        saved = os.environ["SHICKSD"]
        os.environ["SHICKSD"] = path
        self.addCleanup(os.environ.__setitem__, "SHICKSD", saved)

    def test_a_cap_set_above_the_limit_refuses_to_start_naming_the_line(self):
        self.wrapped(256)
        d = fx.Daemon(self, overrides={"server.max_connections": 1000})
        rc, _, err = d.run_to_exit(timeout=30)
        self.assertEqual(rc, 1, err)
        line = d.key_line("server", "max_connections")
        self.assertIn(f"{d.config_file}:{line}: server.max_connections: 1000 connections need about", err)
        self.assertIn("but the limit is 256", err)

    def test_the_default_cap_is_lowered_to_fit_with_a_warning(self):
        self.wrapped(256)
        d = fx.Daemon(self)
        d.start()
        m = d.wait_log(r"event=limits\.max_connections configured=1000 effective=(\d+) open_files_limit=256")
        self.assertGreater(int(m.group(1)), 0)
        self.assertLess(int(m.group(1)), 256)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
