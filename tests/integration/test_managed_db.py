"""database.mode = "managed": shicksd initialises and runs its own mariadbd under
state_dir, stops it on exit, and copes with its own kill -9 and a second instance.
It supervises that mariadbd: killed under load, it is started again and mail is
accepted within seconds, every 250 stored; when restarts keep failing, shicksd
exits with status 1 and one clear line; SIGTERM during an outage stops cleanly.

The tests share one state folder (initialising one costs a few seconds); each test
starts and stops its own shicksd on it, so they also work alone or in any order."""

import os
import shutil
import signal
import smtplib
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

MARIADBD = "/usr/sbin/mariadbd"


def send_one(port, token, rcpt):
    """One message in its own connection: (token, started, ended, stage, code).
    stage "data" with code 250 is the only acceptance."""
    t0 = time.monotonic()

    def out(stage, code):
        return (token, t0, time.monotonic(), stage, code)

    try:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="load.example", timeout=20)
    except (OSError, smtplib.SMTPException) as e:
        return out("connect", repr(e))
    try:
        code, _ = s.ehlo()
        if code != 250:
            return out("ehlo", code)
        code, _ = s.mail("sender@x.test")
        if code != 250:
            return out("mail", code)
        code, _ = s.rcpt(rcpt)
        if code != 250:
            return out("rcpt", code)
        msg = (f"From: <sender@x.test>\r\nTo: <{rcpt}>\r\nSubject: {token}\r\n\r\n"
               f"body of {token}\r\n").encode()
        code, _ = s.data(msg)
        return out("data", code)
    except (OSError, smtplib.SMTPException) as e:
        return out("error", repr(e))
    finally:
        try:
            s.quit()
        except (OSError, smtplib.SMTPException):
            s.close()


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

    def test_6_restarted_after_kill9_under_load(self):
        d = self.daemon()
        d.start()
        tag = uuid.uuid4().hex[:8]
        user, rcpt = f"rs{tag}", f"rs{tag}@ex.test"
        d.add_user(user, addresses=[rcpt])
        old = d.mariadbd_pids()
        self.assertEqual(len(old), 1)

        results, stop = [], threading.Event()

        def client(i):
            n = 0
            while not stop.is_set():
                r = send_one(d.ports["smtp"], f"rs-{tag}-{i}-{n}", rcpt)
                results.append(r)
                n += 1
                if not (r[3] == "data" and r[4] == 250):
                    time.sleep(0.02)  # as a client would, a little later

        def accepted(since=None):
            return [r for r in list(results) if r[3] == "data" and r[4] == 250 and (since is None or r[1] > since)]

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(4)]
        for t in threads:
            t.start()
        try:
            try:
                fx.wait_until(lambda: len(accepted()) >= 10, 30, 0.05, "mail accepted before the kill")
            except TimeoutError as e:
                raise AssertionError(f"{e}: {results[:5]}\n{d.log()[-3000:]}") from None
            mark = len(d.log())
            t_kill = time.monotonic()
            fx.kill_pid(old[0], signal.SIGKILL)
            # Accepted again: a message whose connection began after the kill gets 250.
            fx.wait_until(lambda: accepted(t_kill), 30, 0.05, "mail accepted after the kill")
            recovered = min(r[2] for r in accepted(t_kill)) - t_kill
            fx.wait_until(lambda: len(accepted(t_kill)) >= 10, 30, 0.05, "more mail after the restart")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        # A restarted instance is reported a little after it answers.
        d.wait_log(r"event=db\.managed\.restarted ", start=mark)
        log = "\n".join(l for l in d.log()[mark:].splitlines() if "event=db." in l)
        self.assertLess(recovered, 10, log)
        # The database really was down for a while: some messages were refused.
        refused = [r for r in results if r[1] > t_kill and not (r[3] == "data" and r[4] == 250)]
        self.assertTrue(refused, log)
        self.assertTrue(all(r[3] in ("mail", "rcpt", "data") and r[4] in (421, 451) for r in refused),
                        [r for r in refused if r[4] not in (421, 451)][:5])
        self.assertRegex(log, rf"event=db\.managed\.exited pid={old[0]} status=signal:KILL")
        self.assertRegex(log, r"event=db\.managed\.restarting attempt=1 delay_ms=500")
        self.assertRegex(log, r"event=db\.managed\.restarted pid=\d+ attempt=1 downtime_ms=\d+")
        new = d.mariadbd_pids()
        self.assertEqual(len(new), 1)
        self.assertNotEqual(new, old)

        # Every 250 is in the mailbox; a refused message may or may not be there
        # (451 after an unknown commit outcome), never twice.
        stored = [m["subject"] for m in d.messages(user=user)]
        self.assertEqual(len(stored), len(set(stored)))
        missing = sorted({r[0] for r in accepted()} - set(stored))
        self.assertEqual(missing, [], f"{len(missing)} messages answered 250 are not stored")
        self.assertEqual(d.ctl_json("status")["database"]["state"], "up")

        # SIGTERM stops the restarted database; nothing restarts it.
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.log()[-3000:])
        self.no_mariadbd_left()
        self.assertEqual(d.log().count("event=db.managed.restarted"), 1, log)

    def test_7_gives_up_when_restarts_keep_failing(self):
        bindir = os.path.join(self.root, "bin")
        os.makedirs(bindir, exist_ok=True)
        wrapper = os.path.join(bindir, "mariadbd")

        def write_wrapper(text):
            tmp = wrapper + ".tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.chmod(tmp, 0o755)
            os.replace(tmp, wrapper)

        write_wrapper(f'#!/bin/sh\nexec {MARIADBD} "$@"\n')
        d = self.daemon(overrides={"database.mariadbd": wrapper})
        d.start()
        old = d.mariadbd_pids()
        self.assertEqual(len(old), 1)
        # From now on every start of mariadbd fails at once.
        write_wrapper('#!/bin/sh\necho "mariadbd disabled by the test" >&2\nexit 3\n')
        t_kill = time.monotonic()
        fx.kill_pid(old[0], signal.SIGKILL)
        rc = d.wait(timeout=90)
        log = d.log()
        self.assertEqual(rc, 1, log)
        gave_up = [l for l in log.splitlines() if "event=db.managed.gave_up" in l]
        self.assertEqual(len(gave_up), 1, log)
        self.assertRegex(gave_up[0], r"^\S+ error event=db\.managed\.gave_up failures=5 ")
        self.assertIn("status 3", gave_up[0])
        self.assertIn("exit_status=1", gave_up[0])
        self.assertEqual(log.count("event=db.managed.restart_failed"), 4, log)
        for n, delay in ((1, 500), (2, 1000), (3, 2000), (4, 4000)):
            self.assertIn(f"event=db.managed.restarting attempt={n} delay_ms={delay}", log)
        # 7.5 s of back-off, then a prompt exit.
        self.assertLess(time.monotonic() - t_kill, 60)
        self.no_mariadbd_left(timeout=30)

    def test_8_sigterm_during_an_outage(self):
        d = self.daemon()
        d.start()
        old = d.mariadbd_pids()
        self.assertEqual(len(old), 1)
        fx.kill_pid(old[0], signal.SIGKILL)
        d.wait_log(rf"event=db\.managed\.exited pid={old[0]}")
        # During the first back-off (or the restart, on a slow machine): shicksd
        # stops at once, exits 0, and no database is left or started again.
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM, timeout=60), 0, d.log())
        self.assertLess(time.monotonic() - t0, 30)
        self.no_mariadbd_left(timeout=30)
        self.assertNotIn("event=db.managed.restarting attempt=2", d.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
