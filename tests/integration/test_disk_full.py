"""A full disk under the managed database: while less than the reserve is free
(64 MiB plus twice smtp.max_message_size_bytes), the end of DATA is answered
452 4.3.1 and nothing reaches the database, so mariadbd never meets ENOSPC (InnoDB
aborts when a rollback finds no room); once space is freed, mail is accepted again
by the same shicksd and the same mariadbd, and everything answered 250 is there.

Needs root (it mounts a small tmpfs for the state folder); skipped otherwise.
Expectations: shicksd(8) "Message transfer", RFC 5321 4.2.2, RFC 3463 X.3.1."""

import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

MARIADBD = "/usr/sbin/mariadbd"
MAX_MESSAGE = 1 << 20
RESERVE = 2 * MAX_MESSAGE + (64 << 20)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@unittest.skipUnless(os.path.exists(MARIADBD), "mariadb-server is not installed")
@unittest.skipUnless(os.geteuid() == 0, "needs root to mount a tmpfs")
class DiskFull(unittest.TestCase):
    def setUp(self):
        self.root = fx.short_tempdir("df", longest_inside=40)
        self.mount = os.path.join(self.root, "disk")
        os.makedirs(self.mount)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400m,mode=0755", "tmpfs", self.mount],
                           capture_output=True, text=True)
        if r.returncode != 0:
            shutil.rmtree(self.root, ignore_errors=True)
            self.skipTest(f"cannot mount a tmpfs: {r.stderr.strip()}")
        self.addCleanup(self.unmount)

    def unmount(self):
        fx.stop_state_dir_databases(os.path.join(self.mount, "state"))
        subprocess.run(["umount", self.mount], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def test_452_while_full_then_accepted_again_without_a_restart(self):
        d = fx.ManagedDaemon(self, state_dir=os.path.join(self.mount, "state"),
                             overrides={"smtp.max_message_size_bytes": MAX_MESSAGE})
        d.start(timeout=120)
        d.add_user("disk", addresses=["disk@ex.test"])
        db = d.mariadbd_pids()
        # Leave 8 MiB above the reserve: a load of 256 KiB messages fills it.
        ballast = os.path.join(self.mount, "ballast")
        fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, free_bytes(self.mount) - RESERVE - (8 << 20))
        finally:
            os.close(fd)
        body = b"".join(b"line %05d of a big message\r\n" % i for i in range(256 * 1024 // 28))
        accepted, refused = [], None
        with d.smtp(timeout=60) as c:
            c.ehlo()
            for i in range(400):
                self.assertEqual(c.cmd("MAIL FROM:<sender@x.test>").code, 250)
                self.assertEqual(c.cmd("RCPT TO:<disk@ex.test>").code, 250)
                self.assertEqual(c.cmd("DATA").code, 354)
                r = c.cmd(f"Subject: full-{i}\r\n\r\n".encode() + body + b".")
                if r.code == 250:
                    accepted.append(f"full-{i}")
                    continue
                refused = r
                break
        self.assertIsNotNone(refused, "the disk never filled up")
        self.assertEqual((refused.code, refused.status), (452, "4.3.1"), refused)
        self.assertGreater(len(accepted), 0)
        self.assertGreaterEqual(free_bytes(self.mount), 2 * MAX_MESSAGE, "the reserve was used up")
        self.assertIn("event=db.disk_low", d.log())
        errlog = fx.read_text(os.path.join(self.mount, "state", "log", "mariadb.err"))
        self.assertNotIn("failed with error 28", errlog, "mariadbd ran out of space")

        os.remove(ballast)
        with d.smtp() as c:
            c.ehlo()
            c.cmd("MAIL FROM:<sender@x.test>")
            c.cmd("RCPT TO:<disk@ex.test>")
            c.cmd("DATA")
            r = c.cmd(b"Subject: after\r\n\r\nroom again\r\n.")
            self.assertEqual(r.code, 250, r)
        accepted.append("after")
        self.assertIn("event=db.disk_ok", d.log())
        self.assertTrue(d.running())
        self.assertEqual(d.mariadbd_pids(), db, "mariadbd was restarted")
        stored = [m["subject"] for m in d.messages(user="disk")]
        self.assertEqual(sorted(stored), sorted(accepted))
        self.assertEqual(d.stop(), 0, d.log()[-3000:])


if __name__ == "__main__":
    fx.main()
