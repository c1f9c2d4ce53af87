"""The control socket: who may use it (socket mode 0660 + SO_PEERCRED), and how the
daemon treats malformed, over-long and unknown requests.

The access tests need root (to run shicksctl as `nobody`); they are skipped otherwise."""

import grp
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

MAX_REQUEST = 2048


def nobody_prefix():
    """Command prefix running a program as nobody, or None when that is not possible."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return None
    group = "nogroup"
    try:
        grp.getgrnam(group)
    except KeyError:
        group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", f"--regid={group}", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    return None


def admin_group():
    """An existing group that nobody is not a member of (the socket gets chowned to it),
    else a name that does not exist (then only root and the daemon's user may connect)."""
    nobody = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
    for name in ("daemon", "adm", "sys"):
        try:
            g = grp.getgrnam(name)
        except KeyError:
            continue
        if nobody and (g.gr_gid == nobody.pw_gid or "nobody" in g.gr_mem):
            continue
        return name
    return "shicks-it-nosuchgroup"


def traversable_by_others(path):
    """Every folder from / down to `path` can be searched by any user."""
    p = os.path.abspath(path)
    while True:
        if not os.stat(p).st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(p)
        if parent == p:
            return True
        p = parent


class ControlAccess(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.prefix = nobody_prefix()
        if cls.prefix is None:
            raise unittest.SkipTest("needs root (to run shicksctl as nobody) and setpriv or runuser")
        base = fx.short_tempdir("a")
        if not traversable_by_others(os.path.dirname(base)):
            shutil.rmtree(base, ignore_errors=True)
            base = fx.tempfile.mkdtemp(prefix="shicks-a", dir="/tmp")
        fx.remove_at_exit(base)
        os.chmod(base, 0o755)  # world-traversable, so that the socket's own mode decides
        cls.group = admin_group()
        cls.d = fx.Daemon(dir=base, overrides={"control.group": cls.group},
                          control_socket=os.path.join(base, "ctl", "c.sock"))
        cls.base = base
        try:
            cls.d.start()
        except BaseException:
            cls.d.cleanup()
            shutil.rmtree(base, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        if not fx.keep_tmp():
            shutil.rmtree(cls.base, ignore_errors=True)

    def setUp(self):
        os.chmod(self.d.control_socket, 0o660)
        self.assertTrue(traversable_by_others(os.path.dirname(self.d.control_socket)))

    def test_socket_mode_is_0660(self):
        st = os.stat(self.d.control_socket)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        if self.group != "shicks-it-nosuchgroup":
            self.assertEqual(st.st_gid, grp.getgrnam(self.group).gr_gid)

    def test_nobody_cannot_connect(self):
        rc, out, err = self.d.ctl("status", prefix=self.prefix)
        self.assertIn(rc, (1, 69), err)
        self.assertEqual(rc, 69, err)
        self.assertIn("permission denied", err.lower())
        self.assertEqual(out, "")

    def test_daemon_refuses_nobody(self):
        os.chmod(self.d.control_socket, 0o666)  # let nobody connect; SO_PEERCRED decides
        for _ in range(5):  # the refusal must be reported the same way every time
            rc, out, err = self.d.ctl("status", prefix=self.prefix)
            self.assertEqual(rc, 1, err)
            self.assertIn(f"permission denied: user nobody is neither root nor a member of group {self.group}",
                          err)
            self.assertEqual(out, "")
        rc, out, err = self.d.ctl("status", json=True, prefix=self.prefix)
        self.assertEqual(rc, 1, err)
        self.assertIn("permission denied", err)
        self.assertNotIn("listeners", out)
        self.d.wait_log(r"event=control\.refused .*user=nobody")
        # root still may.
        rc, out, err = self.d.ctl("status")
        self.assertEqual(rc, 0, err)

    def test_daemon_refuses_nobody_changes(self):
        os.chmod(self.d.control_socket, 0o666)
        for args, stdin in ((["user", "add", "intruder", "--password-stdin"], "pw\n"),
                            (["config", "set", "spam.action", "off"], None),
                            (["spam", "add-keyword", "intruded"], None)):
            rc, out, err = self.d.ctl(*args, prefix=self.prefix, input=stdin)
            self.assertEqual(rc, 1, err)
            self.assertIn("permission denied", err)
        self.assertEqual(self.d.count("users", "name = 'intruder'"), 0)
        self.assertEqual(self.d.setting("spam.action"), "tag")
        self.assertEqual(self.d.count("spam_keywords"), 0)


class ControlProtocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(overrides={"control.max_request_bytes": MAX_REQUEST})
        try:
            cls.d.start()
        except BaseException:
            cls.d.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.d.control_socket)
        self.addCleanup(s.close)
        return s

    def ask(self, s, line):
        s.sendall(line if isinstance(line, bytes) else line.encode())
        return json.loads(fx.recv_line(s))

    def assertStillServing(self):
        self.assertTrue(self.d.running())
        rc, out, err = self.d.ctl("status")
        self.assertEqual(rc, 0, err)

    def test_malformed_line_then_valid_request(self):
        s = self.connect()
        r = self.ask(s, b"this is not json\n")
        self.assertIs(r["ok"], False)
        self.assertIsInstance(r.get("error"), str)
        self.assertTrue(r["error"])
        r = self.ask(s, b"[1, 2, 3]\n")
        self.assertIs(r["ok"], False)
        r = self.ask(s, '{"v":1,"id":42,"cmd":"ping"}\n')
        self.assertIs(r["ok"], True, r)
        self.assertEqual(r["id"], 42)
        self.assertIs(r["result"]["pong"], True)
        r = self.ask(s, '{"v":1,"id":43,"cmd":"status"}\n')
        self.assertIs(r["ok"], True, r)
        self.assertEqual(r["result"]["database"]["state"], "up")

    def test_unknown_command(self):
        s = self.connect()
        r = self.ask(s, '{"cmd":"nope"}\n')
        self.assertIs(r["ok"], False)
        self.assertIn("unknown command", r["error"])
        r = self.ask(s, '{"id":2,"cmd":"ping"}\n')
        self.assertIs(r["ok"], True, r)

    def test_overlong_request(self):
        s = self.connect()
        big = b'{"cmd":"ping","pad":"' + b"x" * (MAX_REQUEST * 3) + b'"}\n'
        try:
            s.sendall(big)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may hang up as soon as it has seen enough
        r = json.loads(fx.recv_line(s))
        self.assertIs(r["ok"], False)
        self.assertIn(str(MAX_REQUEST), r["error"])
        self.assertStillServing()
        # A request just under the limit is still fine.
        s2 = self.connect()
        pad = b"y" * (MAX_REQUEST - 100)
        r = self.ask(s2, b'{"cmd":"ping","args":{"pad":"' + pad + b'"}}\n')
        self.assertIs(r["ok"], True, r)

    def test_shicksctl_unknown_subcommand_is_usage_error(self):
        rc, out, err = self.d.ctl("no-such-subcommand")
        self.assertEqual(rc, 2, err)

    def test_unreachable_socket(self):
        missing = os.path.join(self.d.dir, "missing.sock")
        rc, out, err = self.d.ctl("status", socket_path=missing)
        self.assertEqual(rc, 69, err)
        self.assertIn(missing, err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
