"""database.mode = "managed": shicksd initialises and runs its own mariadbd under
state_dir, stops it on exit, and copes with its own kill -9 and a second instance.

The tests share one state folder (initialising one costs a few seconds); each test
starts and stops its own shicksd on it, so they also work alone or in any order."""

import os
import shutil
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

MARIADBD = "/usr/sbin/mariadbd"


@unittest.skipUnless(os.path.exists(MARIADBD), "mariadb-server is not installed")
class ManagedDatabase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = fx.short_tempdir("m", longest_inside=40)
        cls.state = os.path.join(cls.root, "s")
        fx.remove_at_exit(cls.root, cls.state)  # also when interrupted

    @classmethod
    def tearDownClass(cls):
        fx.stop_state_dir_databases(cls.state)
        if not fx.keep_tmp():
            shutil.rmtree(cls.root, ignore_errors=True)

    def daemon(self, **kw):
        return fx.ManagedDaemon(self, state_dir=self.state, **kw)

    def no_mariadbd_left(self, timeout=0.0):
        def gone():
            return not fx.mariadbd_pids(self.state)
        if timeout:
            try:
                fx.wait_until(gone, timeout, 0.1, "mariadbd to go away")
            except TimeoutError:
                pass
        left = fx.mariadbd_pids(self.state)
        self.assertEqual(left, [], f"mariadbd still running on {self.state}: "
                                   f"{[fx.process_cmdline(p) for p in left]}")

    def test_1_first_start(self):
        fresh = not os.path.exists(os.path.join(self.state, "mysql", "mysql"))
        d = self.daemon()
        t0 = time.monotonic()
        d.start(timeout=60)
        self.assertLess(time.monotonic() - t0, 60)
        if fresh:
            self.assertIn("event=db.managed.init", d.log())
        lines = [l for l in d.stdout().splitlines() if "up & running" in l]
        self.assertEqual(len(lines), 6, d.stdout())
        for svc, title in (("smtp", "SMTP server"), ("pop3s", "POP3S server")):
            self.assertIn(f"{title} is up & running on {d.address(svc)}", lines)
        # A private server: our data folder, a unix socket, no TCP.
        pids = d.mariadbd_pids()
        self.assertEqual(len(pids), 1)
        args = fx.process_cmdline(pids[0])
        self.assertIn("--skip-networking", args)
        doc = d.ctl_json("status")
        self.assertEqual(doc["database"]["mode"], "managed")
        self.assertEqual(doc["database"]["state"], "up")
        self.assertEqual(d.sql("SELECT value FROM settings WHERE name = 'spam.action'").strip(), "tag")
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.log())
        self.no_mariadbd_left()

    def test_2_sigint_stops_the_database(self):
        d = self.daemon()
        d.start()
        self.assertEqual(len(d.mariadbd_pids()), 1)
        self.assertEqual(d.stop(signal.SIGINT, timeout=60), 0, d.log())
        self.assertFalse(os.path.exists(d.control_socket))
        # shicksd waits for its mariadbd before exiting: nothing is left at this point.
        self.no_mariadbd_left()

    def test_3_kill9_leaves_no_orphan(self):
        d = self.daemon()
        d.start()
        d.sql("UPDATE settings SET value = 'off' WHERE name = 'spam.action'")
        self.assertEqual(len(d.mariadbd_pids()), 1)
        d.kill()
        self.assertEqual(d.proc.returncode, -signal.SIGKILL)
        self.no_mariadbd_left(timeout=30)

        again = self.daemon()
        again.start()
        # Committed data survived the kill.
        self.assertEqual(again.sql("SELECT value FROM settings WHERE name = 'spam.action'").strip(), "off")
        again.sql("UPDATE settings SET value = 'tag' WHERE name = 'spam.action'")
        self.assertEqual(again.stop(), 0, again.log())
        self.no_mariadbd_left()

    def test_4_immediate_restart_after_kill9(self):
        d = self.daemon()
        d.start()
        old = d.mariadbd_pids()
        self.assertEqual(len(old), 1)
        d.kill()
        # No waiting: the old mariadbd may still be shutting down.
        again = self.daemon()
        again.start(timeout=90)
        new = again.mariadbd_pids()
        self.assertEqual(len(new), 1, [fx.process_cmdline(p) for p in new])
        self.assertNotIn(old[0], new)
        doc = again.ctl_json("status")
        self.assertEqual(doc["database"]["state"], "up")
        self.assertEqual(again.stop(), 0, again.log())
        self.no_mariadbd_left()

    def test_5_second_instance_refused(self):
        first = self.daemon()
        first.start()
        db_pids = first.mariadbd_pids()
        second = self.daemon()
        rc, out, err = second.run_to_exit(timeout=30)
        self.assertEqual(rc, 1, err)
        self.assertIn("another shicksd", err)
        self.assertNotIn("up & running", out)
        # The first is unaffected: same mariadbd, still answering.
        self.assertTrue(first.running())
        self.assertEqual(first.mariadbd_pids(), db_pids)
        doc = first.ctl_json("status")
        self.assertEqual(doc["database"]["state"], "up")
        self.assertEqual(first.sql("SELECT 1").strip(), "1")
        self.assertEqual(first.stop(), 0, first.log())
        self.no_mariadbd_left()


if __name__ == "__main__":
    unittest.main(verbosity=2)
