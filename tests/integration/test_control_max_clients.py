"""control.max_clients: with that many control connections open (a `watch` stream,
as shicks-top keeps, among them), the next client gets a one-line JSON error and
the connection is closed; shicksctl prints the reason and exits 1. A slot frees when
a client leaves.

Expectations: shicks.toml(5) [control] max_clients, shicksctl(8) EXIT STATUS."""

import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402


class MaxClients(unittest.TestCase):
    def setUp(self):
        self.d = fx.Daemon(self, overrides={"control.max_clients": 2})
        self.d.start()
        self.held = []
        self.addCleanup(lambda: [s.close() for s in self.held])

    def hold(self, cmd):
        """A raw control connection that sent `cmd` and got its answer; kept open."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.d.control_socket)
        s.sendall(json.dumps({"v": 1, "id": 1, "cmd": cmd, "args": {}}).encode() + b"\n")
        answer = json.loads(fx.recv_line(s))
        self.assertTrue(answer["ok"], answer)
        self.held.append(s)
        return s

    def test_beyond_max_clients_shicksctl_gets_the_reason_and_exits_1(self):
        self.hold("watch")  # shicks-top's stream holds a client for its whole life
        status = self.hold("status")

        rc, out, err = self.d.ctl("status")
        self.assertEqual(rc, 1, f"stdout: {out}\nstderr: {err}")
        self.assertRegex(err, r"^shicksctl: too many control connections: all 2 that control\.max_clients allows "
                              r"are open")
        self.assertEqual(out, "")
        rc, out, _ = self.d.ctl("status", json=True)
        self.assertEqual(rc, 1)
        doc = json.loads(out)
        self.assertFalse(doc["ok"])
        self.assertIn("control.max_clients", doc["error"])

        # The raw protocol: the refusal answers the request's id.
        answer = self.d.control_request('{"v":1,"id":42,"cmd":"status","args":{}}\n')
        self.assertEqual(answer["id"], 42)
        self.assertFalse(answer["ok"])
        self.assertIn("control.max_clients", answer["error"])
        self.d.wait_log(r"event=control\.refused .*reason=\"control\.max_clients reached\" max_clients=2")

        status.close()
        self.held.remove(status)
        rc = fx.wait_until(lambda: self.d.ctl("status")[0] == 0, 10, 0.1, "a control slot to free")
        self.assertTrue(rc)
        self.assertNotIn("coroutine.failed", self.d.log())

    def test_a_refused_client_that_sends_nothing_is_closed(self):
        self.hold("status")
        self.hold("status")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(15)
            s.connect(self.d.control_socket)
            answer = json.loads(fx.recv_line(s))  # after the daemon stops waiting for a request
            self.assertFalse(answer["ok"])
            self.assertEqual(answer["id"], 0)
            self.assertEqual(s.recv(100), b"")


if __name__ == "__main__":
    unittest.main()
