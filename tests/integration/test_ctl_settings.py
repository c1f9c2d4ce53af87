"""shicksctl relay, spam, queue, config, status and reload against the real daemon;
the `watch` stream; raw protocol errors; exit code 69 for every command when the
daemon is down; everything written through the socket survives a restart.

Expectations: interface.md (shicksctl), design.md 7, issue 5."""

import json
import os
import signal
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402
from test_ctl_users import CtlCase, send  # noqa: E402

RELAY_SECRET = "relay-Secret-0f-the-smarthost"

# Every shicksctl command with arguments that would be accepted (password from stdin).
EVERY_COMMAND = [
    ["status"], ["ping"], ["reload"],
    ["user", "add", "x", "--password-stdin"], ["user", "del", "x"], ["user", "list"], ["user", "show", "x"],
    ["user", "passwd", "x", "--password-stdin"], ["user", "disable", "x"], ["user", "enable", "x"],
    ["address", "add", "x@ex.test", "--user", "x"], ["address", "del", "x@ex.test"], ["address", "list"],
    ["mailbox", "list", "x"], ["mailbox", "purge", "x"],
    ["relay", "show"], ["relay", "set", "--host", "smart.example"], ["relay", "clear"],
    ["spam", "add-keyword", "k"], ["spam", "del-keyword", "k"], ["spam", "list"], ["spam", "import", "-"],
    ["relay", "test"], ["queue", "list"], ["queue", "show", "1"], ["queue", "flush"], ["queue", "del", "1"],
    ["config", "list"], ["config", "get", "spam.action"], ["config", "set", "spam.action", "tag"],
]


class Relay(CtlCase):
    def test_show_set_clear_password_never_printed(self):
        out = self.ok("relay", "show")
        self.assertIn("relaying is off", out)
        self.assertRegex(out, r"(?m)^password:\s+\(not set\)$")
        doc = self.js("relay", "set", "--host", "smart.example", "--port", "587", "--tls", "tls", "--username",
                      "mailer", "--password-stdin", input=RELAY_SECRET + "\n")
        self.assertEqual((doc["host"], doc["port"], doc["tls"], doc["username"]),
                         ("smart.example", "587", "tls", "mailer"))
        self.assertIs(doc["password_set"], True)
        self.assertIs(doc["enabled"], True)
        self.assertEqual(self.d.setting("relay.password"), RELAY_SECRET)  # stored for the daemon to use
        show = self.ok("relay", "show")
        self.assertRegex(show, r"(?m)^host:\s+smart\.example$")
        self.assertRegex(show, r"(?m)^port:\s+587$")
        self.assertRegex(show, r"(?m)^password:\s+\(set\)$")
        # Options not given keep their values.
        self.ok("relay", "set", "--host", "other.example")
        doc = self.js("relay", "show")
        self.assertEqual((doc["host"], doc["port"], doc["username"], doc["password_set"]),
                         ("other.example", "587", "mailer", True))
        outputs = [show, json.dumps(doc), self.ok("config", "list"), self.ok("config", "get", "relay.password"),
                   json.dumps(self.js("config", "list")), json.dumps(self.js("config", "get", "relay.password"))]
        for o in outputs:
            self.assertNotIn(RELAY_SECRET, o)
        self.assertEqual(self.ok("config", "get", "relay.password"), "(set)\n")
        self.assertIsNone(self.js("config", "get", "relay.password")["value"])
        self.d.wait_log(r"cmd=relay\.set .*password=\(new\) result=ok")
        self.assertNotIn(RELAY_SECRET, self.d.log())
        # Refusals and usage errors.
        self.usage("relay", "set", "--port", "25")            # --host is required
        self.usage("relay", "set", "--host", "h", "--tls", "ssl")
        self.usage("relay", "set", "--host", "h", "--port", "70000")
        self.refused("relay", "set", "--host", "bad host!", reason='relay.host "bad host!" is not a host name')
        self.refused("relay", "set", "--host", "h.example", "--username", "", "--password-stdin", input="pw\n",
                     reason="a relay password needs a relay username")
        self.refused("config", "set", "relay.password", "x", reason="relay.password is secret")
        self.assertEqual(self.d.setting("relay.host"), "other.example")
        # Clear.
        self.assertEqual(self.ok("relay", "clear"), "relay cleared: relaying is off\n")
        doc = self.js("relay", "show")
        self.assertEqual((doc["host"], doc["port"], doc["username"], doc["password_set"], doc["enabled"]),
                         ("", "25", "", False, False))
        self.assertEqual(self.d.setting("relay.password"), "")


class SpamKeywords(CtlCase):
    def test_add_del_list_import(self):
        counter = int(self.d.sql("SELECT value FROM change_counters WHERE name = 'spam_keywords'").strip())
        self.assertEqual(self.ok("spam", "list"), "no spam keywords\n")
        self.assertEqual(self.ok("spam", "add-keyword", "viagra", "free money"),
                         "added 2 keywords: viagra, free money\n")
        self.assertGreater(int(self.d.sql("SELECT value FROM change_counters WHERE name = 'spam_keywords'")), counter)
        self.refused("spam", "add-keyword", "lottery", "VIAGRA", reason='spam keyword "VIAGRA" exists already')
        self.refused("spam", "add-keyword", "   ", reason="a spam keyword must not be empty")
        self.usage("spam", "add-keyword")
        table = self.ok("spam", "list")
        self.assertEqual(table.splitlines()[0].split(), ["KEYWORD", "HITS", "LAST", "HIT", "(UTC)"])
        self.assertRegex(table, r"(?m)^free money\s+0\s+never$")
        self.assertNotIn("lottery", table)  # all or nothing
        with tempfile.NamedTemporaryFile("w", suffix=".txt", dir=self.d.dir, delete=False) as f:
            f.write("# keywords from the old server\ncasino\n\n  lottery  \nViagra\r\n#done\n")
        doc = self.js("spam", "import", f.name)
        self.assertEqual(doc, {"added": 2, "present": 1})
        self.assertEqual(self.ok("spam", "import", f.name), "imported 0 keywords (3 already present)\n")
        self.assertEqual(self.ok("spam", "import", "-", input="stdin-word\n"),
                         "imported 1 keyword (0 already present)\n")
        err = self.usage("spam", "import", os.path.join(self.d.dir, "missing.txt"))
        self.assertIn("cannot read", err)
        err = self.usage("spam", "import", "-", input="# only a comment\n")
        self.assertIn("holds no keywords", err)
        keywords = {k["keyword"]: k for k in self.js("spam", "list")["keywords"]}
        self.assertEqual(sorted(keywords), ["casino", "free money", "lottery", "stdin-word", "viagra"])
        self.assertEqual(keywords["casino"]["hits"], 0)
        self.assertIsNone(keywords["casino"]["last_hit_at"])
        self.assertEqual(self.js("spam", "del-keyword", "CASINO", "lottery"), {"deleted": ["casino", "lottery"]})
        self.refused("spam", "del-keyword", "casino", reason='no such spam keyword "casino"')
        self.assertEqual(len(self.js("spam", "list")["keywords"]), 3)


class Queue(CtlCase):
    def test_list_show_flush_del(self):
        self.assertEqual(self.ok("queue", "list"), "the relay queue is empty\n")
        self.assertEqual(self.js("queue", "list"), {"entries": []})
        self.ok("user", "add", "q_ivy", "--password-stdin", "--email", "q_ivy@ex.test", input="pw\n")
        # A relay where nothing listens lets the trusted test client send to a foreign
        # domain: the runner's first attempt fails and the rows wait an hour.
        self.ok("config", "set", "relay.retry_initial_seconds", "3600")
        self.ok("relay", "set", "--host", "127.0.0.1", "--port", str(fx.free_ports(1)[0]), "--tls", "none")
        fx.send_mail(self.d, ["far@remote.example", "away@remote.example", "q_ivy@ex.test"],
                     b"From: <q_ivy@ex.test>\r\nSubject: outbound\r\n\r\nhello\r\n", sender="q_ivy@ex.test",
                     mail_options=())
        fx.wait_until(lambda: [e["attempts"] for e in self.js("queue", "list")["entries"]] == [1, 1], 15,
                      what="the first attempts")
        entries = self.js("queue", "list")["entries"]
        self.assertEqual(sorted(e["recipient"] for e in entries), ["away@remote.example", "far@remote.example"])
        for e in entries:
            self.assertEqual(e["sender"], "q_ivy@ex.test")
            self.assertEqual(e["subject"], "outbound")
            self.assertIn("connecting to 127.0.0.1 port", e["last_error"])
        table = self.ok("queue", "list")
        self.assertEqual(table.splitlines()[0].split()[:4], ["ID", "RECIPIENT", "SENDER", "SIZE"])
        self.assertRegex(table, r"(?m)^\s*\d+\s+far@remote\.example\s+q_ivy@ex\.test")
        first, second = entries[0]["id"], entries[1]["id"]
        show = self.ok("queue", "show", str(first))
        self.assertRegex(show, rf"(?m)^id:\s+{first}$")
        self.assertRegex(show, r"(?m)^attempts:\s+1$")
        self.assertEqual(self.js("queue", "show", str(first))["id"], first)
        # flush: due now; a lease in force (a runner is sending the row) stays.
        self.d.sql("UPDATE relay_queue SET claimed_by = 'elsewhere', claimed_until = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR, "
                   "next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR")
        self.assertEqual(self.ok("queue", "flush"), "2 queue entries are due now\n")
        self.assertEqual(self.d.count("relay_queue", "claimed_by = 'elsewhere' AND next_attempt_at <= UTC_TIMESTAMP(6)"), 2)
        self.assertEqual(self.js("queue", "flush"), {"flushed": 2})
        # del: the body stays while the other row (and ivy's mailbox) hold it.
        message_id = entries[0]["message_id"]
        doc = self.js("queue", "del", str(first))
        self.assertEqual(doc["deleted"]["id"], first)
        self.assertIs(doc["body_removed"], False)
        self.refused("queue", "del", str(first), reason=f"no queue entry {first}")
        self.refused("queue", "show", str(first), reason=f"no queue entry {first}")
        self.usage("queue", "show", "abc")
        self.usage("queue", "del")
        self.ok("mailbox", "purge", "q_ivy")
        self.assertEqual(self.d.count("messages", f"id = {message_id}"), 1)  # the queue still holds it
        self.assertIn("deleted", self.ok("queue", "del", str(second)))
        self.assertEqual(self.d.count("messages", f"id = {message_id}"), 0)
        self.ok("relay", "clear")


class Config(CtlCase):
    def test_list_get_set(self):
        table = self.ok("config", "list")
        self.assertEqual(table.splitlines()[0].split(), ["KEY", "VALUE", "DEFAULT"])
        self.assertRegex(table, r"(?m)^spam\.action\s+tag\s+tag$")
        self.assertRegex(table, r"(?m)^relay\.password\s+\(not set\)")
        settings = {s["name"]: s for s in self.js("config", "list")["settings"]}
        self.assertIn("auth.max_failures", settings)
        self.assertTrue(settings["spam.action"]["description"])
        self.assertIsNone(settings["relay.password"]["value"])
        self.assertEqual(self.ok("config", "get", "spam.action"), "tag\n")
        before = int(self.d.sql("SELECT value FROM change_counters WHERE name = 'settings'").strip())
        self.assertEqual(self.ok("config", "set", "spam.action", "reject"), "spam.action = reject\n")
        self.assertEqual(self.d.setting("spam.action"), "reject")
        self.assertGreater(int(self.d.sql("SELECT value FROM change_counters WHERE name = 'settings'")), before)
        self.assertEqual(self.js("config", "get", "spam.action")["value"], "reject")
        doc = self.js("config", "set", "auth.max_failures", "7")
        self.assertEqual((doc["name"], doc["value"], doc["default"]), ("auth.max_failures", "7", "5"))
        self.refused("config", "set", "no.such.key", "1", reason="unknown setting no.such.key")
        self.refused("config", "get", "no.such.key", reason="unknown setting no.such.key")
        self.refused("config", "set", "spam.action", "delete", reason="spam.action must be one of tag, reject, off")
        self.refused("config", "set", "auth.max_failures", "0", reason="auth.max_failures must be a whole number")
        self.usage("config", "set", "spam.action")
        self.usage("config", "get")
        self.assertEqual(self.d.setting("spam.action"), "reject")
        self.d.wait_log(r"event=control\.request cmd=config\.set user=\S+ pid=\d+ key=spam\.action value=reject "
                        r"result=ok")
        self.ok("config", "set", "spam.action", "tag")

    def test_setting_takes_effect_at_once(self):
        # auth.allow_plaintext_on_loopback=false: plaintext AUTH is no longer offered
        # on the next connection, without waiting for the periodic refresh.
        def auth_offered():
            with fx.smtp_client(self.d, "submission", helo="c.example") as s:
                s.ehlo()
                return s.has_extn("auth")
        self.assertTrue(auth_offered())
        self.ok("config", "set", "auth.allow_plaintext_on_loopback", "false")
        try:
            self.assertFalse(auth_offered())
        finally:
            self.ok("config", "set", "auth.allow_plaintext_on_loopback", "true")

    def test_status_ping_reload(self):
        out = self.ok("status")
        self.assertRegex(out, r"^shicksd \S+ on mx\.test\.example, up ")
        self.assertRegex(out, r"(?m)^database\s+external \S+\s+up")
        self.assertRegex(out, r"(?m)^relay queue\s+\d+ entr")
        doc = self.js("status")
        self.assertEqual(doc["database"]["state"], "up")
        self.assertIn("relay_queue", doc["database"])
        self.assertIn("smtp_messages_accepted", doc["counters"])
        self.assertIn("answers", self.ok("ping"))
        self.assertIs(self.js("ping")["pong"], True)
        self.assertIn("reloaded", self.ok("reload"))
        self.assertEqual(self.js("reload"), {"reloaded": True})

    def test_global_options_after_the_command(self):
        rc, out, err = self.d.ctl("ping")
        self.assertEqual(rc, 0, err)
        import subprocess
        p = subprocess.run([fx.shicksctl_path(), "config", "get", "spam.action", "--json", "--socket",
                            self.d.control_socket], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["name"], "spam.action")
        env = dict(os.environ, SHICKS_SOCKET=self.d.control_socket)
        p = subprocess.run([fx.shicksctl_path(), "ping"], capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run([fx.shicksctl_path(), "-c", self.d.config_file, "ping"], capture_output=True, text=True,
                           timeout=30, env={k: v for k, v in os.environ.items() if k != "SHICKS_SOCKET"})
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_every_command_has_help(self):
        import subprocess
        for cmd in EVERY_COMMAND:
            words = [w for w in cmd if not w.startswith("-")][:2]
            if words[0] in ("status", "ping", "reload"):
                words = words[:1]
            p = subprocess.run([fx.shicksctl_path(), *words, "--help"], capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 0, (words, p.stderr))
            self.assertIn("Usage:", p.stdout, words)


class Protocol(CtlCase):
    """What reaches the daemon without shicksctl: malformed arguments are answered
    with an error, never a crash."""

    def ask(self, request):
        return self.d.control_request(json.dumps(request) + "\n")

    def test_bad_arguments_are_errors(self):
        bad = [
            ({"cmd": "user.add", "args": {"name": "x"}}, 'missing argument "password"'),
            ({"cmd": "user.add", "args": {"name": 5, "password": "p"}}, 'argument "name" must be a string'),
            ({"cmd": "user.add", "args": {"name": "x", "password": "p", "addresses": "a@b"}},
             'argument "addresses" must be a list of strings'),
            ({"cmd": "user.add", "args": {"name": "x", "password": "p", "addresses": [1]}},
             'argument "addresses" must be a list of strings'),
            ({"cmd": "user.show", "args": {"name": "x", "extra": 1}}, 'user.show takes no argument "extra"'),
            ({"cmd": "queue.show", "args": {"id": -1}}, 'argument "id" must be a whole number'),
            ({"cmd": "queue.show", "args": {"id": "7"}}, 'argument "id" must be a whole number'),
            ({"cmd": "address.add", "args": {"address": "a@ex.test", "users": []}}, 'argument "users" must not be empty'),
            ({"cmd": "spam.add", "args": {}}, 'missing argument "keywords"'),
            ({"cmd": "config.set", "args": {"key": "spam.action"}}, 'missing argument "value"'),
            ({"cmd": "watch", "args": {"interval_seconds": 0}}, "interval_seconds"),
            ({"cmd": "watch", "args": {"interval_seconds": "1"}}, "interval_seconds"),
            ({"cmd": "watch", "args": {"bogus": 1}}, 'watch takes no argument "bogus"'),
            ({"cmd": "relay.test", "args": {"host": "x"}}, 'relay.test takes no argument "host"'),
            ({"cmd": "spam.test"}, 'missing argument "subject"'),
        ]
        for request, reason in bad:
            with self.subTest(request=request):
                r = self.ask(dict(request, id=3))
                self.assertIs(r["ok"], False, r)
                self.assertEqual(r["id"], 3)
                self.assertIn(reason, r["error"])
        self.assertTrue(self.d.running())
        self.assertIs(self.ask({"cmd": "ping"})["ok"], True)

    def test_watch_streams_snapshots_and_events_until_closed(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.d.control_socket)
        f = s.makefile("rb")
        s.sendall(b'{"v":1,"id":1,"cmd":"watch","args":{"interval_seconds":0.2}}\n')
        r = json.loads(f.readline())
        self.assertIs(r["ok"], True, r)
        self.assertEqual(r["result"]["interval_seconds"], 0.2)
        first = json.loads(f.readline())
        self.assertEqual(first["v"], 1)
        self.assertEqual(first["event"], "snapshot")
        self.assertEqual(first["database"]["state"], "up")
        for key in ("uptime_seconds", "listeners", "counters", "connections_open", "time_ms", "version"):
            self.assertIn(key, first)
        # A message arrives: its event follows, then snapshots with the new count.
        self.ok("user", "add", "w_jo", "--password-stdin", "--email", "w_jo@ex.test", input="pw\n")
        send(self.d, "a@remote.example", "w_jo@ex.test", "watched")
        seen_activity = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and seen_activity is None:
            line = json.loads(f.readline())
            if line["event"] == "activity":
                seen_activity = line
        self.assertIsNotNone(seen_activity)
        self.assertEqual(seen_activity["type"], "smtp.accepted")
        self.assertGreater(seen_activity["seq"], 0)
        self.assertIsInstance(seen_activity["fields"], list)
        self.assertIn(["rcpts", "1"], seen_activity["fields"])
        line = json.loads(f.readline())
        while line["event"] != "snapshot":
            line = json.loads(f.readline())
        self.assertGreaterEqual(line["counters"]["smtp_messages_accepted"], 1)
        # since_seq=0 replays the ring.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s2:
            s2.settimeout(10)
            s2.connect(self.d.control_socket)
            f2 = s2.makefile("rb")
            s2.sendall(b'{"cmd":"watch","args":{"since_seq":0,"interval_seconds":5}}\n')
            self.assertIs(json.loads(f2.readline())["ok"], True)
            kinds = [json.loads(f2.readline())["event"] for _ in range(2)]
            self.assertEqual(kinds[0], "activity")
        # The client closes: the daemon notices and stops streaming.
        mark = len(self.d.log())
        f.close()
        s.close()
        self.d.wait_log(r"event=control\.watch_end", start=mark)
        self.assertIs(self.ask({"cmd": "ping"})["ok"], True)


class Persistence(CtlCase):
    def test_survives_restart_and_watchers_do_not_block_shutdown(self):
        self.ok("user", "add", "r_kim", "--password-stdin", "--email", "r_kim@ex.test", input="kim-pw\n")
        self.ok("address", "add", "@kim.test", "--user", "r_kim")
        self.ok("spam", "add-keyword", "persistent")
        self.ok("config", "set", "spam.action", "off")
        self.ok("relay", "set", "--host", "smart.example", "--username", "u", "--password-stdin", input="rp\n")
        self.ok("user", "disable", "r_kim")
        # An open watch stream must not hold up a clean stop.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.d.control_socket)
        s.sendall(b'{"cmd":"watch"}\n')
        f = s.makefile("rb")
        self.assertIs(json.loads(f.readline())["ok"], True)
        started = time.monotonic()
        self.assertEqual(self.d.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - started, 8)
        s.settimeout(5)
        while s.recv(65536):  # the daemon closed the stream: EOF, not a hang
            pass
        s.close()
        self.d.start()
        doc = self.js("user", "show", "r_kim")
        self.assertIs(doc["enabled"], False)
        self.assertEqual(sorted(a["address"] for a in doc["addresses"]), ["@kim.test", "r_kim@ex.test"])
        self.assertIn("persistent", [k["keyword"] for k in self.js("spam", "list")["keywords"]])
        self.assertEqual(self.ok("config", "get", "spam.action"), "off\n")
        relay = self.js("relay", "show")
        self.assertEqual((relay["host"], relay["password_set"]), ("smart.example", True))
        self.ok("user", "enable", "r_kim")
        with fx.smtp_client(self.d, "submission", helo="c.example") as sm:
            sm.ehlo()
            self.assertEqual(sm.login("r_kim", "kim-pw")[0], 235)
        self.ok("relay", "clear")
        self.ok("config", "set", "spam.action", "tag")


class Unreachable(unittest.TestCase):
    def test_every_command_exits_69_when_the_daemon_is_down(self):
        folder = fx.short_tempdir("u")
        fx.remove_at_exit(folder)
        missing = os.path.join(folder, "gone.sock")
        # A stale socket file nobody listens on, as a crashed daemon leaves it.
        stale = os.path.join(folder, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(stale)
        s.close()
        import subprocess
        for path in (missing, stale):
            for cmd in EVERY_COMMAND:
                with self.subTest(path=path, cmd=cmd):
                    p = subprocess.run([fx.shicksctl_path(), "--socket", path, *cmd], capture_output=True,
                                       text=True, timeout=30, input="pw\n")
                    self.assertEqual(p.returncode, 69, p.stderr)
                    self.assertEqual(p.stdout, "")
                    self.assertIn(path, p.stderr)
                    self.assertIn("is shicksd running?", p.stderr)
            p = subprocess.run([fx.shicksctl_path(), "--socket", path, "--json", "user", "list"], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(p.returncode, 69)
            doc = json.loads(p.stdout)
            self.assertEqual((doc["ok"], doc["exit"]), (False, 69))


if __name__ == "__main__":
    unittest.main(verbosity=2)
