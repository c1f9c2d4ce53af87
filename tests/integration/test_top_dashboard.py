"""shicks-top end to end: the real program in a tmux pane against a real shicksd.
The screen shows the listeners, changes when mail arrives, survives a resize to
80x24 and a daemon restart, ends a POP3 session with k/y, and q exits with 0."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402


class Tmux:
    """One shicks-top in a detached tmux session on a private tmux server."""

    def __init__(self, testcase, command, width, height, env):
        self.dir = tempfile.mkdtemp(prefix="tmux", dir="/tmp")
        testcase.addCleanup(shutil.rmtree, self.dir, True)
        self.socket = os.path.join(self.dir, "s")
        self.exit_file = os.path.join(self.dir, "exit")
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # The exit status lands in a file; the pane then stays for inspection.
        script = f"env {exports} {command}; echo EXIT=$? > {shlex.quote(self.exit_file)}; sleep 600"
        self.tmux("new-session", "-d", "-s", "top", "-x", str(width), "-y", str(height), "sh", "-c", script)
        testcase.addCleanup(self.kill)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-S", self.socket, *args], check=True, capture_output=True, text=True,
                              timeout=20).stdout

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "top")

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "top", *keys)

    def size(self):
        w, h = self.tmux("display-message", "-p", "-t", "top", "#{pane_width} #{pane_height}").split()
        return int(w), int(h)

    def wait(self, pattern, timeout=20, absent=False):
        """Waits until the screen matches the regex `pattern` (or no longer does)."""
        rx = re.compile(pattern, re.M)
        last = [""]

        def check():
            last[0] = self.screen()
            return bool(rx.search(last[0])) != absent
        try:
            fx.wait_until(check, timeout, interval=0.1, what=pattern)
        except TimeoutError as e:
            raise AssertionError(f"{e}; the screen:\n{last[0]}") from None
        return last[0]

    def exit_status(self, timeout=10):
        def read():
            return fx.read_text(self.exit_file).strip()
        return fx.wait_until(read, timeout, what="shicks-top's exit")

    def kill(self):
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=20)


def top_command(d, interval="0.3"):
    return f"{shlex.quote(fx.env('SHICKS_TOP'))} --socket {shlex.quote(d.control_socket)} --interval {interval}"


class Dashboard(unittest.TestCase):
    def setUp(self):
        if not shutil.which("tmux"):
            self.skipTest("tmux is not installed")

    def test_live_view_resize_kill_restart_quit(self):
        d = fx.Daemon(self)
        d.start()
        d.add_user("alice", password="secret", addresses=["alice@example.org"])
        t = Tmux(self, top_command(d), 120, 36, {"LANG": "C.UTF-8", "TERM": "screen-256color"})

        # Header and listeners.
        screen = t.wait(rf"smtp 127\.0\.0\.1:{d.ports['smtp']}")
        self.assertRegex(screen, rf"pop3 127\.0\.0\.1:{d.ports['pop3']}")
        self.assertIn(d.hostname, screen)
        self.assertRegex(screen, r"received\s+0\b")

        # Mail arrives: the received rate and the event list change.
        fx.send_mail(d, ["alice@example.org"], "Subject: hello\r\n\r\nhi\r\n", sender="bob@sender.example",
                     mail_options=())
        t.wait(r"received\s+1\b")
        t.keys("Tab", "Tab", "Tab")  # the events view
        t.wait(r"smtp\.accepted\s+id=\S+ from=bob@sender\.example")
        t.keys("BTab", "BTab", "BTab")  # back to the sessions

        # Resize to 80x24: redrawn at the new size.
        t.tmux("resize-window", "-t", "top", "-x", "80", "-y", "24")
        fx.wait_until(lambda: t.size() == (80, 24), 10, what="the pane at 80x24")
        screen = t.wait(r"q quit\s+Tab view")
        lines = screen.split("\n")
        self.assertTrue(any(l.startswith(" shicks-top") for l in lines[:1]), screen)
        self.assertIn(f"smtp 127.0.0.1:{d.ports['smtp']}", screen)
        self.assertTrue(all(len(l) <= 80 for l in lines), screen)

        # A POP3 session shows up; k and y end it.
        pop = fx.RawPop3(d.ports["pop3"])
        try:
            self.assertTrue(pop.login("alice", "secret").startswith("+OK"))
            t.wait(r"^p\d+\s+pop3\s+127\.0\.0\.1:\d+\s+alice\s+transaction")
            t.keys("k")
            t.wait(r"end session p\d+ \(pop3 alice from 127\.0\.0\.1:\d+\)\? \(y/n\)")
            t.keys("y")
            t.wait(r"session p\d+ ended")
            self.assertTrue(pop.closed(10), "the POP3 connection is closed")
            t.wait(r"\(no open SMTP or POP3 sessions\)")
        finally:
            pop.close()

        # k with nothing selected asks nothing.
        t.keys("k")
        t.wait(r"no session selected")

        # The daemon goes away and comes back: shown, then resumed by itself.
        self.assertEqual(d.stop(), 0)
        t.wait(r"disconnected — retrying")
        d.start()
        t.wait(r"disconnected", absent=True)
        t.wait(rf"smtp 127\.0\.0\.1:{d.ports['smtp']}")
        t.wait(r"up 00:00:0\d")

        # Pause freezes the view; help; q quits with 0.
        t.keys("p")
        t.wait(r"\[PAUSED\]")
        t.keys("p", "?")
        t.wait(r"end the selected session")
        t.keys("x")  # any key closes the help
        t.wait(r"end the selected session", absent=True)
        t.keys("q")
        self.assertEqual(t.exit_status(), "EXIT=0")

    def test_no_colours_starts_before_the_daemon(self):
        d = fx.Daemon(self)
        # vt100 has no colours; LANG=C is not UTF-8 (ASCII graph and dash).
        t = Tmux(self, top_command(d, "0.5"), 80, 24, {"LANG": "C", "LC_ALL": "C", "TERM": "vt100"})
        t.wait(r"disconnected - retrying: cannot connect to .*")
        d.start()
        screen = t.wait(rf"pop3 127\.0\.0\.1:{d.ports['pop3']}")
        self.assertNotIn("disconnected", screen)
        self.assertIn("q quit  Tab view  arrows select", screen)
        t.keys("q")
        self.assertEqual(t.exit_status(), "EXIT=0")

    def test_usage_errors(self):
        p = subprocess.run([fx.env("SHICKS_TOP"), "--interval", "0"], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 2)
        p = subprocess.run([fx.env("SHICKS_TOP"), "--socket", "/nonexistent.sock"], capture_output=True, text=True,
                           timeout=20, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 2)
        self.assertIn("needs a terminal", p.stderr)


if __name__ == "__main__":
    fx.main()
