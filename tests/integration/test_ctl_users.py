"""shicksctl user, address and mailbox commands against the real daemon and MariaDB:
table and --json output, each refusal (exit 1 with the reason), usage errors (exit 2),
passwords (stdin, terminal prompts, never on a command line, in a log or an output),
and the effect on mail: a user made with shicksctl logs in over SMTP AUTH and mail to
an address added with shicksctl lands in the mailbox that `mailbox list` shows.

Expectations: interface.md (shicksctl), issue 5."""

import json
import os
import pty
import select
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

TIMEOUT = 15
SECRET = "Tr0ub4dor&3-ctl-secret"


def message(subject, sender, to):
    return (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n").encode()


def send(d, sender, to, subject):
    fx.send_mail(d, [to], message(subject, sender, to), sender=sender, timeout=TIMEOUT, mail_options=())


class CtlCase(unittest.TestCase):
    """One daemon for the class; helpers for running shicksctl."""

    @classmethod
    def setUpClass(cls):
        cls.d = fx.Daemon(None)
        try:
            cls.d.start()
        except BaseException:
            cls.d.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def ok(self, *args, input=None):
        rc, out, err = self.d.ctl(*args, input=input)
        self.assertEqual(rc, 0, f"shicksctl {' '.join(args)}: {err}")
        self.assertEqual(err, "")
        return out

    def js(self, *args, input=None):
        rc, out, err = self.d.ctl(*args, json=True, input=input)
        self.assertEqual(rc, 0, f"shicksctl --json {' '.join(args)}: {err}")
        return json.loads(out)  # exactly one document (json.loads refuses trailing data)

    def refused(self, *args, reason, input=None):
        rc, out, err = self.d.ctl(*args, input=input)
        self.assertEqual(rc, 1, f"shicksctl {' '.join(args)}: {out}{err}")
        self.assertEqual(out, "")
        self.assertEqual(err.count("\n"), 1, err)
        self.assertIn(reason, err)
        rc, out, err = self.d.ctl(*args, json=True, input=input)
        self.assertEqual(rc, 1, err)
        doc = json.loads(out)
        self.assertIs(doc["ok"], False)
        self.assertIn(reason, doc["error"])
        return err

    def usage(self, *args, input=None):
        rc, out, err = self.d.ctl(*args, input=input)
        self.assertEqual(rc, 2, f"shicksctl {' '.join(args)}: {out}{err}")
        return err

    def add_user(self, name, *emails, password=SECRET):
        args = ["user", "add", name, "--password-stdin"]
        for e in emails:
            args += ["--email", e]
        return self.ok(*args, input=password + "\n")


class Users(CtlCase):
    def test_add_list_show_table_and_json(self):
        out = self.add_user("u_alice", "U_Alice@Ex.test", "@alice-u.test")
        self.assertIn("user u_alice added", out)
        doc = self.js("user", "add", "u_bob", "--password-stdin", "--email", "u_bob@ex.test", input="pw-bob\n")
        self.assertEqual(doc["name"], "u_bob")
        self.assertIs(doc["enabled"], True)
        self.assertEqual([a["address"] for a in doc["addresses"]], ["u_bob@ex.test"])
        self.assertIsNone(doc["last_login_at"])

        table = self.ok("user", "list")
        lines = table.splitlines()
        self.assertEqual(lines[0].split()[:5], ["NAME", "ENABLED", "ADDRESSES", "MESSAGES", "SIZE"])
        row = next(l for l in lines if l.startswith("u_alice "))
        self.assertEqual(row.split()[:4], ["u_alice", "yes", "2", "0"])
        self.assertIn("never", row)
        # Columns line up: every row starts its second column where the header does.
        col = lines[0].index("ENABLED")
        for l in lines[1:]:
            self.assertIn(l[col:col + 3], ("yes", "no "), table)

        users = {u["name"]: u for u in self.js("user", "list")["users"]}
        self.assertEqual(users["u_alice"]["address_count"], 2)
        self.assertEqual(users["u_alice"]["messages"], 0)

        show = self.ok("user", "show", "u_alice")
        self.assertRegex(show, r"(?m)^user:\s+u_alice$")
        self.assertRegex(show, r"(?m)^enabled:\s+yes$")
        self.assertRegex(show, r"(?m)^last login:\s+never$")
        self.assertRegex(show, r"(?m)^\s+u_alice@ex\.test$")
        self.assertRegex(show, r"(?m)^\s+@alice-u\.test$")
        doc = self.js("user", "show", "u_alice")
        self.assertEqual(sorted(a["address"] for a in doc["addresses"]), ["@alice-u.test", "u_alice@ex.test"])
        # Stored as Shicks stores addresses: ASCII lowercased.
        self.assertEqual(self.d.count("addresses", "address = 'u_alice@ex.test'"), 1)

    def test_user_refusals_and_usage_errors(self):
        self.add_user("u_dup")
        self.refused("user", "add", "u_dup", "--password-stdin", input="x\n", reason='user "u_dup" exists already')
        self.refused("user", "add", "bad name", "--password-stdin", input="x\n", reason="may only contain")
        self.refused("user", "add", "u_new", "--password-stdin", "--email", "not-an-address", input="x\n",
                     reason='"not-an-address" is not a valid address')
        self.refused("user", "add", "u_new", "--password-stdin", input="\n", reason="the password must not be empty")
        self.assertEqual(self.d.count("users", "name = 'u_new'"), 0)
        for cmd in (["user", "show", "nobody"], ["user", "del", "nobody"], ["user", "enable", "nobody"],
                    ["user", "disable", "nobody"]):
            self.refused(*cmd, reason='no such user "nobody"')
        self.refused("user", "passwd", "nobody", "--password-stdin", input="x\n", reason='no such user "nobody"')
        # Usage: missing NAME, unknown option, a password on the command line, no such subcommand.
        self.usage("user", "add")
        self.usage("user", "add", "u_x", "--password", "secret")
        self.usage("user", "add", "u_x", "--password-stdin=secret")
        self.usage("user")
        self.usage("user", "frobnicate")
        self.usage("user", "show")
        self.assertEqual(self.d.count("users", "name = 'u_x'"), 0)
        # No password on stdin (not a terminal, nothing sent): a usage error, nothing done.
        err = self.usage("user", "add", "u_x", input="")
        self.assertIn("no password", err)
        self.assertEqual(self.d.count("users", "name = 'u_x'"), 0)

    def test_passwd_enable_disable_del(self):
        self.add_user("u_carol", "u_carol@ex.test")
        out = self.ok("user", "passwd", "u_carol", "--password-stdin", input="new-carol-pw\r\n")
        self.assertIn("password of u_carol changed", out)
        self.assertEqual(fx.smtp_login_code(self.d, "u_carol", "new-carol-pw"), 235)
        self.assertEqual(self.ok("user", "disable", "u_carol"), "user u_carol disabled\n")
        self.assertEqual(self.ok("user", "disable", "u_carol"), "user u_carol was already disabled\n")
        self.assertEqual(self.js("user", "show", "u_carol")["enabled"], False)
        self.assertEqual(fx.smtp_login_code(self.d, "u_carol", "new-carol-pw"), 535)
        doc = self.js("user", "enable", "u_carol")
        self.assertEqual(doc, {"name": "u_carol", "enabled": True, "changed": True})
        self.assertEqual(fx.smtp_login_code(self.d, "u_carol", "new-carol-pw"), 235)
        out = self.ok("user", "del", "u_carol")
        self.assertIn("user u_carol deleted", out)
        self.assertIn("u_carol@ex.test", out)
        self.assertEqual(self.d.count("users", "name = 'u_carol'"), 0)
        self.assertEqual(self.d.count("addresses", "address = 'u_carol@ex.test'"), 0)

    def test_created_user_authenticates_over_smtp(self):
        self.add_user("u_dave", "u_dave@ex.test", password="dave's pass phrase")
        self.assertEqual(fx.smtp_login_code(self.d, "u_dave", "dave's pass phrase"), 235)
        self.assertEqual(fx.smtp_login_code(self.d, "u_dave", "wrong"), 535)
        # The login is recorded and shown.
        doc = self.js("user", "show", "u_dave")
        self.assertRegex(doc["last_login_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Addresses(CtlCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for name in ("a_alice", "a_bob"):
            rc, out, err = cls.d.ctl("user", "add", name, "--password-stdin", input="pw\n")
            assert rc == 0, err

    def test_add_alias_list_del(self):
        out = self.ok("address", "add", "Team@Ex.test", "--user", "a_alice", "--user", "a_bob")
        self.assertEqual(out, "address team@ex.test delivers to a_alice, a_bob\n")
        doc = self.js("address", "add", "@catch.test", "--user", "a_bob")
        self.assertEqual(doc, {"address": "@catch.test", "catch_all": True, "users": ["a_bob"]})
        table = self.ok("address", "list")
        self.assertEqual(table.splitlines()[0].split(), ["ADDRESS", "DELIVERS", "TO"])
        self.assertRegex(table, r"(?m)^team@ex\.test\s+a_alice, a_bob$")
        self.assertRegex(table, r"(?m)^@catch\.test\s+a_bob$")
        listed = {a["address"]: a["users"] for a in self.js("address", "list", "--user", "a_alice")["addresses"]}
        self.assertEqual(listed, {"team@ex.test": ["a_alice", "a_bob"]})
        self.refused("address", "add", "team@ex.test", "--user", "a_alice",
                     reason="address team@ex.test exists already (delivers to a_alice, a_bob)")
        self.refused("address", "add", "x@ex.test", "--user", "nobody", reason='no such user "nobody"')
        self.refused("address", "add", "a b@ex.test", "--user", "a_bob", reason="is not a valid address")
        self.refused("address", "add", "@", "--user", "a_bob", reason="catch-all")
        self.refused("address", "list", "--user", "nobody", reason='no such user "nobody"')
        self.usage("address", "add", "x@ex.test")  # --user is required
        self.usage("address", "add", "--user", "a_bob")
        # Mail to the alias reaches both.
        send(self.d, "someone@remote.example", "team@ex.test", "to-the-team")
        for user in ("a_alice", "a_bob"):
            subjects = [m["subject"] for m in self.js("mailbox", "list", user)["messages"]]
            self.assertIn("to-the-team", subjects)
        doc = self.js("address", "del", "TEAM@ex.test")
        self.assertEqual(doc["address"], "team@ex.test")
        self.refused("address", "del", "team@ex.test", reason="no such address team@ex.test")
        self.assertEqual(fx.rcpt_code(self.d, "team@ex.test", sender="someone@remote.example", timeout=TIMEOUT), 550)


class Mailboxes(CtlCase):
    def test_delivered_mail_is_listed_and_purged(self):
        self.add_user("m_erin", "m_erin@ex.test")
        self.add_user("m_frank", "m_frank@ex.test")
        self.ok("address", "add", "both@ex.test", "--user", "m_erin", "--user", "m_frank")
        self.assertEqual(self.ok("mailbox", "list", "m_erin"), "the mailbox of m_erin is empty\n")
        send(self.d, "sender@remote.example", "m_erin@ex.test", "first for erin")
        send(self.d, "sender@remote.example", "both@ex.test", "shared one")
        send(self.d, "sender@remote.example", "m_erin@ex.test", "evil subject")
        # The SMTP side cleans Subjects for listings; a stored one with an escape
        # sequence (an older row, another writer) must still not reach the terminal.
        subject_with_escape = "evil \x1b[2J subject"
        self.d.sql(f"UPDATE messages SET subject = {fx.sql_quote(subject_with_escape)} WHERE subject = 'evil subject'")

        table = self.ok("mailbox", "list", "m_erin")
        lines = table.splitlines()
        self.assertEqual(lines[0].split()[:4], ["ID", "SIZE", "RECEIVED", "(UTC)"])
        self.assertIn("first for erin", table)
        self.assertIn("shared one", table)
        self.assertNotIn("\x1b", table)  # a Subject cannot drive the terminal
        self.assertIn("evil ?[2J subject", table)
        self.assertRegex(lines[-1], r"^3 messages, ")
        doc = self.js("mailbox", "list", "m_erin")
        self.assertEqual(doc["user"], "m_erin")
        msgs = doc["messages"]
        self.assertEqual([m["subject"] for m in msgs], ["first for erin", "shared one", subject_with_escape])
        for m in msgs:
            self.assertEqual(m["envelope_from"], "sender@remote.example")
            self.assertEqual(m["from"], "<sender@remote.example>")
            self.assertIs(m["spam"], False)
            self.assertGreater(m["size"], 0)
            self.assertRegex(m["received_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(doc["total_bytes"], sum(m["size"] for m in msgs))
        self.assertEqual(self.js("user", "show", "m_erin")["messages"], 3)

        shared_id = int(self.d.sql("SELECT id FROM messages WHERE subject = 'shared one'").strip())
        first_id = int(self.d.sql("SELECT id FROM messages WHERE subject = 'first for erin'").strip())
        out = self.ok("mailbox", "purge", "m_erin")
        self.assertRegex(out, r"^purged 3 messages \(.+\) from the mailbox of m_erin\n$")
        self.assertEqual(self.js("mailbox", "list", "m_erin")["messages"], [])
        # The body only erin had is gone (with its chunks); the shared one stays for frank.
        self.assertEqual(self.d.count("messages", f"id = {first_id}"), 0)
        self.assertEqual(self.d.count("message_chunks", f"message_id = {first_id}"), 0)
        self.assertEqual(self.d.count("messages", f"id = {shared_id}"), 1)
        self.assertEqual([m["subject"] for m in self.js("mailbox", "list", "m_frank")["messages"]], ["shared one"])
        doc = self.js("mailbox", "purge", "m_frank")
        self.assertEqual(doc["messages_removed"], 1)
        self.assertEqual(doc["bodies_removed"], 1)
        self.assertEqual(self.d.count("messages", f"id = {shared_id}"), 0)
        self.refused("mailbox", "list", "nobody", reason='no such user "nobody"')
        self.refused("mailbox", "purge", "nobody", reason='no such user "nobody"')
        self.usage("mailbox", "list")


class Passwords(CtlCase):
    """A password goes only through stdin or a terminal prompt: never on a command
    line (ps), in the daemon's log, or in any output."""

    def test_password_stdin_never_visible(self):
        secret = "pw-" + SECRET
        cmd = [fx.shicksctl_path(), "--socket", self.d.control_socket, "user", "add", "p_gina", "--password-stdin",
               "--email", "p_gina@ex.test"]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # While shicksctl waits for the password, everything ps shows is checked.
            time.sleep(0.2)
            ps = subprocess.run(["ps", "-eo", "pid,args", "ww"], capture_output=True, text=True, timeout=10).stdout
            self.assertIn("p_gina", ps)
            self.assertNotIn(secret, ps)
            self.assertNotIn(secret, " ".join(fx.process_cmdline(p.pid)))
            out, err = p.communicate(secret + "\n", timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertNotIn(secret, out + err)
        rc, out, err = self.d.ctl("user", "passwd", "p_gina", "--password-stdin", json=True, input=secret + "2\n")
        self.assertEqual(rc, 0, err)
        self.assertNotIn(secret, out + err)
        self.assertEqual(json.loads(out), {"name": "p_gina", "password_changed": True})
        for cmd in (["user", "show", "p_gina"], ["user", "list"]):
            for as_json in (False, True):
                rc, out, err = self.d.ctl(*cmd, json=as_json)
                self.assertEqual(rc, 0, err)
                self.assertNotIn(secret, out + err)
        self.d.wait_log(r"event=control\.request cmd=user\.passwd .*name=p_gina .*result=ok")
        log = self.d.log()
        self.assertIn("cmd=user.add", log)
        self.assertNotIn(secret, log)
        self.assertNotIn(secret, self.d.stdout())
        # Stored as a hash only.
        stored = self.d.sql("SELECT password_hash FROM users WHERE name = 'p_gina'").strip()
        self.assertTrue(stored.startswith("$y$"), stored)
        self.assertNotIn(secret, stored)

    def run_on_terminal(self, args, answers):
        """Runs shicksctl with a pseudo-terminal as stdin/stdout/stderr; types each
        answer after a prompt. Returns (exit code, everything the terminal showed)."""
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(fx.shicksctl_path(), [fx.shicksctl_path(), "--socket", self.d.control_socket, *args])
        shown = b""
        pending = list(answers)
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                r, _, _ = select.select([fd], [], [], 0.2)
                if r:
                    try:
                        chunk = os.read(fd, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    shown += chunk
                    if pending and shown.rstrip().endswith(b":"):
                        time.sleep(0.05)
                        os.write(fd, pending.pop(0).encode() + b"\n")
                        shown += b"<typed>"
            _, status = os.waitpid(pid, 0)
        finally:
            os.close(fd)
        return os.waitstatus_to_exitcode(status), shown.decode("utf-8", "replace")

    def test_terminal_prompts_twice_without_echo(self):
        secret = "tty-" + SECRET
        rc, shown = self.run_on_terminal(["user", "add", "p_hank"], [secret, secret])
        self.assertEqual(rc, 0, shown)
        self.assertIn("New password for user p_hank:", shown)
        self.assertIn("Retype the new password:", shown)
        self.assertNotIn(secret, shown)  # no echo
        self.assertIn("user p_hank added", shown)
        self.assertEqual(fx.smtp_login_code(self.d, "p_hank", secret), 235)
        # Two different answers: nothing is changed, a usage error.
        rc, shown = self.run_on_terminal(["user", "passwd", "p_hank"], [secret + "x", secret + "y"])
        self.assertEqual(rc, 2, shown)
        self.assertIn("the passwords do not match", shown)
        self.assertEqual(fx.smtp_login_code(self.d, "p_hank", secret), 235)


if __name__ == "__main__":
    unittest.main(verbosity=2)
