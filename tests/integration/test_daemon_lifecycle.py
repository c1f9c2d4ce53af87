"""shicksd's lifecycle against the shared test MariaDB (external mode): start-up lines,
listeners, status, signals, SIGHUP reload, refusals, migrations, runtime settings."""

import glob
import json
import os
import poplib
import re
import signal
import smtplib
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

SERVICES = [("smtp", "SMTP server"), ("submission", "submission server"), ("smtps", "SMTPS server"),
            ("pop3", "POP3 server"), ("pop3s", "POP3S server")]


def tls_client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def closing_on_error(cls):
    """poplib class that closes its socket when the greeting is -ERR (poplib leaves it open)."""
    class Closing(cls):
        def __init__(self, *a, **kw):
            try:
                super().__init__(*a, **kw)
            except poplib.error_proto:
                self.close()
                raise
    return Closing


POP3 = closing_on_error(poplib.POP3)
POP3_SSL = closing_on_error(poplib.POP3_SSL)


def known_migrations():
    """(version, file name) of every migration in the repository's sql/ folder."""
    out = []
    for path in sorted(glob.glob(os.path.join(fx.source_dir(), "sql", "[0-9]*.sql"))):
        name = os.path.basename(path)
        out.append((int(name.split("_", 1)[0]), name))
    return out


class StartupAndListeners(unittest.TestCase):
    """One daemon for the read-only checks."""

    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon()
        try:
            cls.d.start()
        except BaseException:
            cls.d.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_up_and_running_lines(self):
        d = self.d
        expected = [f"{title} is up & running on {d.address(svc)}" for svc, title in SERVICES]
        expected.append(f"control socket is up & running on {d.control_socket}")
        lines = [l for l in d.stdout().splitlines() if l.strip()]
        self.assertEqual(sorted(lines), sorted(expected), d.stdout())
        self.assertEqual(len(lines), 6)

    def test_smtp_listeners_greet_with_220(self):
        for svc in ("smtp", "submission"):
            with self.subTest(svc=svc):
                c = smtplib.SMTP("127.0.0.1", self.d.ports[svc], timeout=10)
                try:
                    code, _ = c.noop()
                    self.assertEqual(code, 250)
                finally:
                    c.quit()

    def test_smtps_tls_handshake_then_220(self):
        # The handshake succeeds with TLS 1.2 or newer, then the greeting arrives.
        with socket.create_connection(("127.0.0.1", self.d.ports["smtps"]), timeout=10) as raw:
            with tls_client_context().wrap_socket(raw) as s:
                self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))
                self.assertTrue(s.recv(512).startswith(b"220 "))

    def test_pop3_greets_with_ok(self):
        p = POP3("127.0.0.1", self.d.ports["pop3"], timeout=10)
        try:
            self.assertTrue(p.getwelcome().startswith(b"+OK"))
        finally:
            p.quit()

    def test_pop3s_tls_then_ok(self):
        p = POP3_SSL("127.0.0.1", self.d.ports["pop3s"], timeout=10, context=tls_client_context())
        try:
            self.assertIn(p.sock.version(), ("TLSv1.2", "TLSv1.3"))
            self.assertTrue(p.getwelcome().startswith(b"+OK"))
        finally:
            p.quit()

    def test_status_text(self):
        rc, out, err = self.d.ctl("status")
        self.assertEqual(rc, 0, err)
        for svc, _ in SERVICES:
            self.assertIn(self.d.address(svc), out)
        self.assertIn(self.d.control_socket, out)
        db_line = [l for l in out.splitlines() if l.startswith("database")]
        self.assertEqual(len(db_line), 1, out)
        self.assertIn(self.d.db_name, db_line[0])
        self.assertRegex(db_line[0], r"\bup\b")

    def test_status_json(self):
        rc, out, err = self.d.ctl("status", json=True)
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        self.assertEqual(doc["database"]["state"], "up")
        self.assertEqual(doc["database"]["name"], self.d.db_name)
        self.assertEqual(doc["database"]["mode"], "external")
        listed = {(l["protocol"], l["address"]) for l in doc["listeners"]}
        for svc, _ in SERVICES:
            self.assertIn((svc, self.d.address(svc)), listed)


class Signals(unittest.TestCase):
    def check_graceful(self, sig):
        d = fx.Daemon(self)
        d.start()
        sock = d.control_socket
        self.assertTrue(os.path.exists(sock))
        t0 = time.monotonic()
        rc = d.stop(sig, timeout=10)
        self.assertEqual(rc, 0, d.log())
        self.assertLess(time.monotonic() - t0, 10)
        self.assertFalse(os.path.exists(sock), "control socket left behind")
        # The ports are free again.
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", d.ports["smtp"]))

    def test_sigterm(self):
        self.check_graceful(signal.SIGTERM)

    def test_sigint(self):
        self.check_graceful(signal.SIGINT)

    def test_sighup_reload(self):
        d = fx.Daemon(self)
        d.start()
        mark = len(d.log())
        new_port = fx.free_ports(1)[0]
        d.overrides["server.log_level"] = "debug"
        d.overrides["smtp.listen"] = [f"127.0.0.1:{new_port}"]
        d.write_config()
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"event=reload\.applied key=server\.log_level\b", start=mark)
        d.wait_log(r"event=reload\.restart_needed key=smtp\.listen\b", start=mark)
        self.assertTrue(d.running())
        rc, out, err = d.ctl("status")
        self.assertEqual(rc, 0, err)
        # The listener keeps its old address until a restart.
        self.assertIn(d.address("smtp"), out)

        # A broken file at SIGHUP is rejected; the daemon keeps running.
        mark = len(d.log())
        d.write_config(d.text + "\n[server]\nbogus_key = 1\n")
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"event=reload\.rejected", start=mark)
        time.sleep(0.2)
        self.assertTrue(d.running())
        rc, out, err = d.ctl("status")
        self.assertEqual(rc, 0, err)
        self.assertEqual(d.stop(), 0)

    def test_reload_through_control_socket(self):
        d = fx.Daemon(self)
        d.start()
        mark = len(d.log())
        d.set("server.log_level", "debug")
        rc, out, err = d.ctl("reload")
        self.assertEqual(rc, 0, err)
        d.wait_log(r"event=reload\.applied key=server\.log_level\b", start=mark)


class Refusals(unittest.TestCase):
    def test_second_daemon_on_same_control_socket(self):
        first = fx.Daemon(self)
        first.start()
        second = fx.Daemon(self, control_socket=first.control_socket)
        rc, out, err = second.run_to_exit(timeout=30)
        self.assertEqual(rc, 1, err)
        self.assertIn("already answering", err)
        # The first one is unaffected and still owns its socket.
        self.assertTrue(first.running())
        rc, out, err = first.ctl("status")
        self.assertEqual(rc, 0, err)
        self.assertEqual(first.stop(), 0)

    def test_stale_socket_is_replaced(self):
        d = fx.Daemon(self)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(d.control_socket)
        s.close()  # no unlink: a leftover of a dead process
        self.assertTrue(os.path.exists(d.control_socket))
        d.start()
        rc, out, err = d.ctl("status")
        self.assertEqual(rc, 0, err)
        self.assertEqual(d.stop(), 0)

    def test_port_in_use(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            d = fx.Daemon(self, overrides={"smtp.listen": [f"127.0.0.1:{port}"]})
            rc, out, err = d.run_to_exit(timeout=30)
        self.assertEqual(rc, 1, err)
        line = d.key_line("smtp", "listen")
        self.assertIn(f"{d.config_file}:{line}:", err)
        self.assertIn("smtp.listen", err)
        self.assertIn(f"127.0.0.1:{port}", err)
        self.assertNotIn("up & running", out)

    def test_wrong_database_socket(self):
        missing = os.path.join(fx.test_tmp(), "no-such-dir", "mysql.sock")
        d = fx.Daemon(self, overrides={"database.socket": missing}, create_db=False)
        t0 = time.monotonic()
        rc, out, err = d.run_to_exit(timeout=15)
        self.assertLess(time.monotonic() - t0, 15)
        self.assertEqual(rc, 1, err)
        self.assertIn("cannot connect to the database", err)


class Migrations(unittest.TestCase):
    def test_applied_once(self):
        d = fx.Daemon(self)
        d.start()
        rows = [(int(v), n) for v, n in d.sql_rows("SELECT version, name FROM schema_version ORDER BY version")]
        self.assertEqual(rows[0], (1, "0001_init.sql"))
        self.assertEqual(rows, known_migrations())
        newest = rows[-1][0]
        self.assertEqual(d.stop(), 0)

        d.start()
        self.assertRegex(d.log(), rf"event=db\.schema from={newest} to={newest} applied=0\b")
        self.assertNotIn("event=db.migrate", d.log())
        self.assertEqual(d.stop(), 0)
        self.assertEqual(len(d.sql_rows("SELECT version FROM schema_version")), len(rows))

    def test_newer_schema_refused(self):
        d = fx.Daemon(self)
        d.sql("CREATE TABLE schema_version (version INT UNSIGNED NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL,"
              " applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB")
        d.sql("INSERT INTO schema_version VALUES (1, '0001_init.sql', NOW(6)), (999, '0999_future.sql', NOW(6))")
        rc, out, err = d.run_to_exit(timeout=30)
        self.assertEqual(rc, 1, err)
        self.assertIn("newer", err)
        self.assertNotIn("up & running", out)


class RuntimeSettings(unittest.TestCase):
    def test_defaults_created_and_admin_value_kept(self):
        d = fx.Daemon(self)
        d.start()
        self.assertEqual(d.sql("SELECT value FROM settings WHERE name = 'spam.action'").strip(), "tag")
        self.assertEqual(d.sql("SELECT value FROM settings WHERE name = 'relay.host'"), "\n")
        count = int(d.sql("SELECT COUNT(*) FROM settings").strip())
        self.assertGreater(count, 1)
        self.assertEqual(d.stop(), 0)

        d.sql("UPDATE settings SET value = 'reject' WHERE name = 'spam.action'")
        d.start()
        self.assertEqual(d.stop(), 0)
        self.assertEqual(d.sql("SELECT value FROM settings WHERE name = 'spam.action'").strip(), "reject")
        self.assertEqual(int(d.sql("SELECT COUNT(*) FROM settings").strip()), count)


if __name__ == "__main__":
    unittest.main(verbosity=2)
