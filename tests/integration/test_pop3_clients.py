"""Real POP3 clients against the real daemon: curl (pop3://, pop3s://, STLS) and
fetchmail, which keeps mail on the server and remembers UIDLs: run twice, it must
fetch each message exactly once.

Expectations: issue 4 (tests), RFC 1939/2449/2595."""

import glob
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 15


def message(subject, text="body"):
    return f"Subject: {subject}\r\n\r\n{text}\r\n.dotted\r\n".encode()


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class Pop3Clients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon()
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.d.cleanup()

    def user(self, name, n):
        self.d.add_user(name, password=f"{name}-pw", addresses=[f"{name}@ex.test"])
        for i in range(n):
            fx.send_mail(self.d, [f"{name}@ex.test"], message(f"{name} {i}", f"text {i}"))
        return self.d.messages(name)

    def curl(self, *args):
        p = subprocess.run(["curl", "--silent", "--show-error", "--max-time", "20", *args],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return p.stdout

    @unittest.skipUnless(shutil.which("curl"), "curl is not installed")
    def test_curl_list_and_retrieve(self):
        entries = self.user("cathy", 2)
        url = f"pop3://127.0.0.1:{self.d.ports['pop3']}/"
        listing = self.curl("--user", "cathy:cathy-pw", url)
        self.assertEqual(listing.replace(b"\r\n", b"\n"),
                         b"".join(f"{i + 1} {e['size']}\n".encode() for i, e in enumerate(entries)))
        body = self.curl("--user", "cathy:cathy-pw", url + "2")
        expected = b"Return-Path: <sender@remote.test>\r\n" + entries[1]["body"]
        self.assertEqual(body, expected)  # curl removes the byte-stuffing
        self.assertEqual(len(body), entries[1]["size"])

    @unittest.skipUnless(shutil.which("curl"), "curl is not installed")
    def test_curl_pop3s_and_stls(self):
        entries = self.user("curt", 1)
        expected = b"Return-Path: <sender@remote.test>\r\n" + entries[0]["body"]
        body = self.curl("--insecure", "--user", "curt:curt-pw", f"pop3s://127.0.0.1:{self.d.ports['pop3s']}/1")
        self.assertEqual(body, expected)
        body = self.curl("--insecure", "--ssl-reqd", "--user", "curt:curt-pw",
                         f"pop3://127.0.0.1:{self.d.ports['pop3']}/1")
        self.assertEqual(body, expected)
        # A wrong password is refused.
        p = subprocess.run(["curl", "--silent", "--max-time", "20", "--user", "curt:nope",
                            f"pop3://127.0.0.1:{self.d.ports['pop3']}/"], capture_output=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)

    @unittest.skipUnless(shutil.which("fetchmail"), "fetchmail is not installed")
    def test_fetchmail_keeps_mail_and_fetches_each_message_once(self):
        entries = self.user("fred", 3)
        home = fx.short_tempdir("fm")
        self.addCleanup(shutil.rmtree, home, True)
        out = os.path.join(home, "out")
        os.mkdir(out)
        rc = os.path.join(home, "fetchmailrc")
        with open(rc, "w") as f:
            f.write(f"set no syslog\n"
                    f"poll 127.0.0.1 port {self.d.ports['pop3']} proto POP3 uidl\n"
                    f"  user \"fred\" password \"fred-pw\" is \"fred\" here\n"
                    f"  sslproto 'tls1.2+' no sslcertck keep\n"
                    f"  mda \"cat > {out}/msg.$$\"\n")
        os.chmod(rc, 0o600)
        env = dict(os.environ, HOME=home)

        def run():
            p = subprocess.run(["fetchmail", "-f", rc, "--idfile", os.path.join(home, "ids"),
                                "--pidfile", os.path.join(home, "pid"), "--nodetach"],
                               capture_output=True, timeout=60, env=env)
            # 0: mail fetched; 1: no new mail.
            self.assertIn(p.returncode, (0, 1), p.stderr.decode() + p.stdout.decode())
            return p

        run()
        got = [read_bytes(f) for f in glob.glob(os.path.join(out, "msg.*"))]
        self.assertEqual(len(got), 3)
        for e in entries:
            # fetchmail adds its own Received line on top; the message itself is intact.
            self.assertTrue(any(g.replace(b"\r\n", b"\n").endswith(e["body"].replace(b"\r\n", b"\n"))
                                for g in got), e["subject"])
        fx.send_mail(self.d, ["fred@ex.test"], message("fred new"))
        second = run()
        files = glob.glob(os.path.join(out, "msg.*"))
        self.assertEqual(len(files), 4, second.stderr.decode())
        third = run()
        self.assertEqual(third.returncode, 1)  # nothing new
        self.assertEqual(len(glob.glob(os.path.join(out, "msg.*"))), 4)
        self.assertEqual(len(self.d.messages("fred")), 4)  # "keep": nothing deleted
        self.assertIn("pop3.tls", self.d.log())  # fetchmail used STLS


if __name__ == "__main__":
    unittest.main()
