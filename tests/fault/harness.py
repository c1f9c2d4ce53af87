"""What every fault scenario gets: an Env (one real shicksd with its managed MariaDB
on loopback ports, in a folder of its own) and a Result. The interface is described
at the top of tests/fault/run; this file is the implementation.

It builds on the integration tests' fixture (tests/integration/shicks_fixture.py):
the same generated configuration, the same way of starting, waiting for and killing
shicksd, and the same byte-level SMTP and POP3 clients."""

import datetime
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import shicks_fixture as fx  # noqa: E402

PASSWORD = "fault-secret-1"
DOMAIN = "fault.example"


def log(msg):
    print(f"fault: {msg}", file=sys.stderr, flush=True)


class Result:
    """What a scenario returns: attempts (how many times the fault was tried or a
    check made), failures {kind: count} (an empty dict is a pass) and notes (lines
    of figures and observations for the table)."""

    def __init__(self):
        self.attempts = 0
        self.failures = {}
        self.notes = []

    def fail(self, kind, n=1, detail=None):
        if n:
            self.failures[kind] = self.failures.get(kind, 0) + n
            if detail:
                log(f"FAILURE {kind}: {detail}")

    def note(self, text):
        log(text)
        self.notes.append(text)

    @property
    def ok(self):
        return not any(self.failures.values())


class Env(fx.ManagedDaemon):
    """A shicksd in managed mode with a private data folder.

    Besides the fixture's Daemon API (ports, start, stop, kill, log, wait_log, sql,
    ctl, ctl_json, mariadbd_pids, smtp()) it has the helpers the scenarios share."""

    def __init__(self, work, template=None, state_dir=None, overrides=None):
        os.makedirs(work, exist_ok=True)
        base = {
            "server.log_level": "info",
            "server.threads": 2,
            "database.pool_size": 4,
            "smtp.max_connections_per_ip": 500,
            "pop3.max_connections_per_ip": 500,
            # A login waits for a maildrop still held by a session that just ended.
            "pop3.lock_wait_seconds": 30,
        }
        base.update(overrides or {})
        self.work = work
        self.template = template
        state = state_dir or os.path.join(work, "state")
        if template and not os.path.exists(os.path.join(state, "mysql")):
            os.makedirs(state, exist_ok=True)
            subprocess.run(["cp", "-a", os.path.join(template, "mysql"), os.path.join(state, "mysql")], check=True)
        super().__init__(None, state_dir=state, overrides=base, dir=work)
        self.kills = {"shicksd": 0, "mariadbd": 0}
        self.db_kills_this_run = 0

    # ---- process control
    def start(self, timeout=120, cwd=None):
        super().start(timeout=timeout, cwd=cwd)
        self.db_kills_this_run = 0
        return self

    def kill_shicksd(self):
        """kill -9 shicksd and reap it; its mariadbd stops by itself (and is stopped by
        the next start if it has not)."""
        self.kill()
        self.kills["shicksd"] += 1

    def restart(self, timeout=120):
        """Starts shicksd again after it was killed or exited (a graceful stop first
        when it still runs)."""
        if self.running():
            self.stop(signal.SIGTERM, timeout=60)
        return self.start(timeout=timeout)

    def db_pid(self):
        pids = self.mariadbd_pids()
        return pids[0] if len(pids) == 1 else None

    def kill_db(self):
        """kill -9 the managed mariadbd and waits until it is gone; returns
        (pid, log offset just before the kill) or (None, None) when none runs.
        self.db_dead_at is then the time (time.time()) it was seen gone."""
        pid = self.db_pid()
        if pid is None:
            return None, None
        mark = len(self.log())
        fx.kill_pid(pid, signal.SIGKILL)
        fx.wait_until(lambda: not fx.pid_alive(pid), 30, 0.01, "mariadbd to die")
        self.db_dead_at = time.time()
        self.kills["mariadbd"] += 1
        self.db_kills_this_run += 1
        return pid, mark

    def log_time(self, pattern, start=0):
        """The time (seconds since the epoch) of the first log line after offset
        `start` that matches regex `pattern`, or None."""
        for line in self.log()[start:].splitlines():
            if re.search(pattern, line):
                stamp = line.split(" ", 1)[0]
                return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                    tzinfo=datetime.timezone.utc).timestamp()
        return None

    def wait_db_restarted(self, mark, timeout=60):
        """Waits for the supervisor's db.managed.restarted line after `mark`."""
        self.wait_log(r"event=db\.managed\.restarted ", timeout=timeout, start=mark)

    def wait_accepting(self, user, timeout=60):
        """Waits until a test message to `user` gets 250; returns the seconds waited."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            code, _ = self.send(f"{user}@{DOMAIN}", b"Subject: probe\r\n\r\nprobe\r\n", timeout=10)
            if code == 250:
                return time.monotonic() - t0
            time.sleep(0.1)
        raise AssertionError(f"no 250 within {timeout} s\n{self.log()[-3000:]}")

    # ---- administration, through the control socket as an admin would
    def ctlx(self, *args, input=None):
        """shicksctl ARGS; raises with its stderr unless it exits 0; returns stdout."""
        rc, out, err = self.ctl(*args, input=input, timeout=60)
        if rc != 0:
            raise AssertionError(f"shicksctl {' '.join(args)} exited {rc}: {err.strip()}")
        return out

    def add_user(self, name, password=PASSWORD, enabled=True, addresses=()):
        args = ["user", "add", name, "--password-stdin"]
        for a in addresses or [f"{name}@{DOMAIN}"]:
            args += ["--email", a]
        self.ctlx(*args, input=password + "\n")

    def setting(self, key, value):
        self.ctlx("config", "set", key, str(value))

    # ---- clients
    def send(self, rcpt, message, timeout=30, sender="sender@remote.test"):
        """One message in one SMTP session (smtplib, so dot-stuffing is the client's).
        Returns (code, text): the reply at the first stage that was not a success,
        (250, ...) for the end of DATA, or (0, error) when the connection failed."""
        try:
            s = smtplib.SMTP("127.0.0.1", self.ports["smtp"], local_hostname="client.fault.example",
                             timeout=timeout)
        except (OSError, smtplib.SMTPException) as e:
            return 0, repr(e)
        try:
            return smtp_transaction(s, sender, rcpt, message)
        finally:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                s.close()

    def pop3(self, timeout=30):
        return fx.RawPop3(self.ports["pop3"], timeout=timeout)

    def pop3_fetch(self, user, password=PASSWORD, timeout=60):
        """The whole maildrop of `user` over POP3, nothing deleted: [(uidl, message)],
        each message as the client would store it (unstuffed, with the Return-Path and
        Received lines the server puts on top)."""
        p = self.pop3(timeout=timeout)
        try:
            uidls = self._login_and_list(p, user, password)
            out = []
            for i, uidl in enumerate(uidls, 1):
                status, raw = p.multi(f"RETR {i}")
                if not status.startswith("+OK"):
                    raise AssertionError(f"RETR {i}: {status}")
                out.append((uidl, fx.unstuff(raw)))
            p.cmd("QUIT")
            return out
        finally:
            p.close()

    def pop3_uidls(self, user, password=PASSWORD, timeout=60):
        """UIDLs of `user`'s maildrop (a session that deletes nothing)."""
        p = self.pop3(timeout=timeout)
        try:
            uidls = self._login_and_list(p, user, password)
            p.cmd("QUIT")
            return uidls
        finally:
            p.close()

    @staticmethod
    def _login_and_list(p, user, password):
        """Logs `user` in on POP3 session `p` and returns the maildrop's UIDLs."""
        r = p.login(user, password)
        if not r.startswith("+OK"):
            raise AssertionError(f"POP3 login of {user}: {r}")
        _, listing = p.multi("UIDL")
        return [line.split()[1].decode() for line in listing.split(b"\r\n") if line]

    def disk_usage(self):
        st = os.statvfs(self.state_dir)
        return st.f_bavail * st.f_frsize



def smtp_transaction(s, sender, rcpt, message):
    """MAIL, RCPT, DATA on an open smtplib session; (code, text) as Env.send."""
    try:
        if not getattr(s, "esmtp_features", None):
            code, text = s.ehlo()
            if code != 250:
                return code, text.decode("utf-8", "replace")
        code, text = s.mail(sender)
        if code != 250:
            return code, text.decode("utf-8", "replace")
        code, text = s.rcpt(rcpt)
        if code != 250:
            return code, text.decode("utf-8", "replace")
        code, text = s.data(message)
        return code, text.decode("utf-8", "replace")
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode("utf-8", "replace") if isinstance(e.smtp_error, bytes) else str(e)
    except (OSError, smtplib.SMTPException) as e:
        return 0, repr(e)


def strip_trace(message):
    """The message as the client sent it: without the Return-Path line and the
    Received field (folded) that the server puts on top."""
    if message.startswith(b"Return-Path:"):
        message = message.split(b"\r\n", 1)[1]
    _, rest = fx.split_received(message)
    return rest


SUBJECT_RX = re.compile(rb"^Subject: (\S+)\r$", re.M)


def token_of(message):
    m = SUBJECT_RX.search(message.split(b"\r\n\r\n", 1)[0] + b"\r")
    return m.group(1).decode() if m else None


def make_message(token, rcpt, size, rng):
    """A message of about `size` bytes carrying `token` in its Subject and body, with
    lines that start with dots (so dot-stuffing is exercised both ways) and random
    printable text. Returns the bytes as the client means them (CRLF line ends)."""
    lines = [f"From: <sender@remote.test>", f"To: <{rcpt}>", f"Subject: {token}",
             f"Message-ID: <{token}@remote.test>", "", f"token {token}"]
    total = sum(len(l) + 2 for l in lines)
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:-_=+"
    while total < size:
        n = rng.randint(0, 76)
        line = "".join(rng.choice(alphabet) for _ in range(n))
        if rng.random() < 0.05:
            line = "." + line
        lines.append(line)
        total += len(line) + 2
    lines.append(f"end of {token}")
    return ("\r\n".join(lines) + "\r\n").encode()


def mount_tmpfs(path, size_bytes):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", path], check=True)


def unmount(path):
    """Unmounts `path` (lazily when something still holds it); False when it failed."""
    if subprocess.run(["umount", path], capture_output=True).returncode == 0:
        return True
    return subprocess.run(["umount", "-l", path], capture_output=True).returncode == 0


def is_mount(path):
    return os.path.ismount(path)


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
