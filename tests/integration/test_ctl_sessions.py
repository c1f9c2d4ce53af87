"""Open SMTP and POP3 sessions through the control socket: shicksctl session list /
session kill, and the sessions of the watch stream's snapshot."""

import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402


class Sessions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon()
        cls.d.start()
        cls.d.add_user("alice", password="secret", addresses=["alice@example.org"])

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def sessions(self):
        return self.d.ctl_json("session", "list")["sessions"]

    def wait_sessions(self, pred, what):
        return fx.wait_until(lambda: pred(self.sessions()), 10, what=what)

    def test_empty_list(self):
        fx.wait_until(lambda: not self.sessions(), 10, what="no sessions")
        rc, out, err = self.d.ctl("session", "list")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "no open sessions\n")

    def test_list_shows_protocol_peer_user_state_bytes(self):
        pop = fx.RawPop3(self.d.ports["pop3"])
        smtp = self.d.smtp()
        try:
            self.assertTrue(pop.login("alice", "secret").startswith("+OK"))
            smtp.ehlo()
            self.assertEqual(smtp.cmd("MAIL FROM:<bob@sender.example>").code, 250)
            local_pop = "127.0.0.1:%d" % pop.sock.getsockname()[1]
            local_smtp = "127.0.0.1:%d" % smtp.sock.getsockname()[1]

            def both(list_):
                by_peer = {s["peer"]: s for s in list_}
                p, s = by_peer.get(local_pop), by_peer.get(local_smtp)
                ok = p and s and p["state"] == "transaction" and s["state"] == "mail"
                return (p, s) if ok else None
            p, s = self.wait_sessions(both, "both sessions in their states")
            self.assertEqual(p["protocol"], "pop3")
            self.assertEqual(p["user"], "alice")
            self.assertTrue(p["id"].startswith("p"))
            self.assertGreater(p["bytes_in"], 10)   # USER and PASS
            self.assertGreater(p["bytes_out"], 20)  # greeting and answers
            self.assertFalse(p["tls"])
            self.assertEqual(s["protocol"], "smtp")
            self.assertIsNone(s["user"])
            self.assertTrue(s["id"].startswith("s"))
            for key in ("age_seconds", "started_ms"):
                self.assertIn(key, s)

            rc, out, err = self.d.ctl("session", "list")
            self.assertEqual(rc, 0, err)
            self.assertRegex(out.splitlines()[0], r"^ID\s+PROTOCOL\s+PEER\s+USER\s+STATE\s+TLS\s+AGE\s+IN\s+OUT")
            self.assertIn(local_pop, out)
            self.assertIn("alice", out)
            self.assertIn("transaction", out)
        finally:
            pop.close()
            smtp.close()

    def test_tls_is_shown(self):
        with self.d.smtp("smtps", tls=True) as c:
            c.ehlo()
            local = "127.0.0.1:%d" % c.sock.getsockname()[1]
            s = self.wait_sessions(lambda l: next((x for x in l if x["peer"] == local), None), "the smtps session")
            self.assertEqual(s["protocol"], "smtps")
            self.assertTrue(s["tls"])

    def test_kill_smtp_session(self):
        with self.d.smtp() as c:
            c.ehlo()
            local = "127.0.0.1:%d" % c.sock.getsockname()[1]
            s = self.wait_sessions(lambda l: next((x for x in l if x["peer"] == local), None), "the smtp session")
            log_start = len(self.d.log())
            rc, out, err = self.d.ctl("session", "kill", s["id"])
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, f"session {s['id']} ended\n")
            self.assertTrue(c.closed(10), "the connection is closed")
            self.d.wait_log(rf"{s['id']} .*smtp.disconnect.*reason=killed", start=log_start)
            self.d.wait_log(r"control.request.*cmd=session.kill.*id=" + s["id"], start=log_start)
        self.wait_sessions(lambda l: all(x["id"] != s["id"] for x in l), "the session gone from the list")

    def test_kill_pop3_session_deletes_nothing(self):
        self.d.add_user("carol", password="secret", addresses=["carol@example.org"])
        with self.d.smtp() as c:
            c.ehlo()
            c.cmd("MAIL FROM:<bob@sender.example>")
            c.cmd("RCPT TO:<carol@example.org>")
            c.cmd("DATA")
            self.assertEqual(c.cmd("Subject: keep\r\n\r\nbody\r\n.").code, 250)
        pop = fx.RawPop3(self.d.ports["pop3"])
        try:
            self.assertTrue(pop.login("carol", "secret").startswith("+OK"))
            self.assertTrue(pop.cmd("DELE 1").startswith("+OK"))
            local = "127.0.0.1:%d" % pop.sock.getsockname()[1]
            s = self.wait_sessions(lambda l: next((x for x in l if x["peer"] == local), None), "the pop3 session")
            out = self.d.ctl_json("session", "kill", s["id"])
            self.assertEqual(out, {"killed": s["id"]})
            self.assertTrue(pop.closed(10))
        finally:
            pop.close()
        self.assertEqual(len(self.d.messages("carol")), 1, "a killed session never reaches UPDATE")
        # The mailbox is free again at once (the lease was given back).
        pop = fx.RawPop3(self.d.ports["pop3"])
        try:
            self.assertTrue(pop.login("carol", "secret").startswith("+OK"))
        finally:
            pop.close()

    def test_kill_unknown_session(self):
        rc, out, err = self.d.ctl("session", "kill", "p999999")
        self.assertEqual(rc, 1)
        self.assertIn('no open session "p999999"', err)
        rc, out, err = self.d.ctl("session", "kill", "p999999", json=True)
        self.assertEqual(rc, 1)
        self.assertEqual(json.loads(out)["exit"], 1)
        rc, out, err = self.d.ctl("session", "kill")
        self.assertEqual(rc, 2)  # usage: the id is required
        r = self.d.control_request('{"v":1,"id":3,"cmd":"session.kill","args":{"id":"s1","force":true}}\n')
        self.assertFalse(r["ok"])
        self.assertIn('takes no argument "force"', r["error"])

    def test_watch_snapshot_lists_sessions(self):
        pop = fx.RawPop3(self.d.ports["pop3"])
        try:
            local = "127.0.0.1:%d" % pop.sock.getsockname()[1]
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect(self.d.control_socket)
                s.sendall(b'{"v":1,"id":1,"cmd":"watch","args":{"interval_seconds":0.2}}\n')
                f = s.makefile("rb")
                self.assertTrue(json.loads(f.readline())["ok"])
                for _ in range(50):
                    line = json.loads(f.readline())
                    if line.get("event") != "snapshot":
                        continue
                    peers = [x["peer"] for x in line["sessions"]]
                    if local in peers:
                        break
                else:
                    self.fail("the pop3 session never showed in a snapshot")
        finally:
            pop.close()


if __name__ == "__main__":
    fx.main()
