"""shicksd started as root binds, then becomes [server] user: checked through /proc,
and it still serves SMTP, POP3 and the control socket. Managed mode, because the
account then runs the database too (the shared test database's socket is not open
to other accounts); a database killed after the drop is started again as the
account. Root only; skipped otherwise."""

import os
import poplib
import pwd
import shutil
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

MARIADBD = "/usr/sbin/mariadbd"
USER = "nobody"


def ids(pid):
    """(real, effective, saved, fs uids), (gids), [supplementary groups] of a process."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.split()
    return ([int(x) for x in fields["Uid"]], [int(x) for x in fields["Gid"]],
            [int(x) for x in fields.get("Groups", [])])


def account_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@unittest.skipUnless(os.geteuid() == 0, "needs root")
@unittest.skipUnless(account_exists(USER), f"no account {USER}")
class PrivilegeDrop(unittest.TestCase):
    def folder(self):
        # Every folder above the state directory must be open to the account.
        d = fx.short_tempdir("u", longest_inside=40)
        os.chmod(d, 0o755)
        fx.remove_at_exit(d, os.path.join(d, "state"))
        self.addCleanup(shutil.rmtree, d, True)
        return d

    @unittest.skipUnless(os.path.exists(MARIADBD), "mariadb-server is not installed")
    def test_runs_as_server_user_and_serves(self):
        pw = pwd.getpwnam(USER)
        d = fx.ManagedDaemon(self, dir=self.folder(), overrides={"server.user": USER})
        self.addCleanup(d.cleanup)
        d.start(timeout=120)
        d.wait_log(rf"event=privileges\.dropped user={USER} uid={pw.pw_uid}")

        uids, gids, groups = ids(d.pid)
        self.assertEqual(uids, [pw.pw_uid] * 4)
        self.assertEqual(gids, [pw.pw_gid] * 4)
        self.assertNotIn(0, groups)
        for pid in d.mariadbd_pids():
            self.assertEqual(ids(pid)[0][1], pw.pw_uid, "mariadbd runs as the account too")
        self.assertEqual(os.stat(d.state_dir).st_uid, pw.pw_uid)
        self.assertEqual(os.stat(d.control_socket).st_uid, pw.pw_uid)

        # The control socket still answers root (shicksctl) ...
        rc, out, err = d.ctl("user", "add", "alice", "--email", "alice@example.org", "--password-stdin",
                             input="secret\n")
        self.assertEqual(rc, 0, err)
        self.assertEqual(d.ctl_json("status")["database"]["state"], "up")
        # ... and mail goes in over SMTP and out over POP3.
        fx.send_mail(d, ["alice@example.org"], "Subject: dropped\r\n\r\nhello\r\n", sender="bob@sender.example",
                     mail_options=())
        p = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=15)
        try:
            p.user("alice")
            p.pass_("secret")
            self.assertEqual(p.stat()[0], 1)
            self.assertIn(b"Subject: dropped", b"\r\n".join(p.retr(1)[1]))
        finally:
            p.quit()

        # The database dies: shicksd, no longer root, starts it again as the account.
        old = d.mariadbd_pids()
        self.assertEqual(len(old), 1)
        mark = len(d.log())
        fx.kill_pid(old[0], signal.SIGKILL)
        d.wait_log(r"event=db\.managed\.restarted pid=(\d+)", timeout=60, start=mark)
        new = d.mariadbd_pids()
        self.assertEqual(len(new), 1)
        self.assertNotEqual(new, old)
        self.assertEqual(ids(new[0])[0][1], pw.pw_uid, "the restarted mariadbd runs as the account")
        fx.send_mail(d, ["alice@example.org"], "Subject: again\r\n\r\nhello\r\n", sender="bob@sender.example",
                     mail_options=())
        p = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=15)
        try:
            p.user("alice")
            p.pass_("secret")
            self.assertEqual(p.stat()[0], 2)
        finally:
            p.quit()
        self.assertEqual(d.stop(), 0, d.log())
        self.assertEqual(d.mariadbd_pids(), [])

    def test_unknown_user_is_refused(self):
        d = fx.Daemon(self, overrides={"server.user": "no-such-user-shicks"})
        rc, out, err = d.run_to_exit(timeout=30)
        self.assertEqual(rc, 1, err)
        line = fx.key_line(d.text, "server", "user")
        self.assertIn(f'{d.config_file}:{line}: server.user: there is no account "no-such-user-shicks"', err)
        self.assertNotIn("up & running", out)

    def test_state_dir_of_another_owner_is_refused(self):
        d = fx.ManagedDaemon(self, dir=self.folder(), overrides={"server.user": USER})
        os.makedirs(os.path.join(d.state_dir, "mysql"))
        rc, out, err = d.run_to_exit(timeout=30)
        self.assertEqual(rc, 1, err)
        self.assertIn(f"chown -R {USER}: {d.state_dir}", err)


if __name__ == "__main__":
    fx.main()
