"""Reusable fixture for Shicks integration tests: a real shicksd on loopback ports.

Environment (set by tests/CMakeLists.txt; export them yourself to run a file by hand):
  SHICKSD, SHICKSCTL, SHICKS_TOP   paths of the built programs
  SHICKS_TEST_DB_SOCKET            unix socket of the shared private MariaDB of a test run
  SHICKS_SOURCE_DIR                the repository
  SHICKS_TEST_TMP                  scratch directory (created when missing)
  SHICKS_KEEP_TMP=1                keep every daemon's folder (config, logs) after the test

Typical use:

    d = Daemon(self)          # registers its own cleanup with the TestCase
    d.start()                 # returns once "control socket is up & running" is printed
    rc, out, err = d.ctl("status")
    d.sql("SELECT value FROM settings WHERE name = 'spam.action'")
    self.assertEqual(d.stop(), 0)

Every process the fixture starts is stopped by its PID at cleanup, even when a test
fails; every wait has a timeout.
"""

import atexit
import errno
import json as jsonlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

DEFAULT_START_TIMEOUT = 60
DEFAULT_STOP_TIMEOUT = 30
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes; stay well below

_counter = 0
_counter_lock = threading.Lock()
_live = []  # daemons not yet cleaned up, stopped at exit whatever happens


_dirs_at_exit = []  # (folder, state_dir or None) removed at exit when still there


def _cleanup_all():
    for d in list(_live):
        try:
            d.cleanup()
        except Exception as e:  # keep going: stop every other one too
            print(f"shicks_fixture: cleanup of {d.dir}: {e}", file=sys.stderr)
    for path, state_dir in _dirs_at_exit:
        if state_dir:
            stop_state_dir_databases(state_dir)
        if not keep_tmp():
            shutil.rmtree(path, ignore_errors=True)


def remove_at_exit(path, state_dir=None):
    """Removes `path` when the test process ends, however it ends (after the daemons
    are stopped; a mariadbd still running on `state_dir` is stopped first)."""
    _dirs_at_exit.append((path, state_dir))


def _on_sigterm(signum, frame):
    # ctest's timeout (or a user) stops the test: unwind, then atexit stops the daemons.
    raise KeyboardInterrupt(f"signal {signum}")


atexit.register(_cleanup_all)
if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _on_sigterm)


# ---------------------------------------------------------------- environment

def env(name, default=None):
    v = os.environ.get(name)
    if v:
        return v
    if default is not None:
        return default
    raise RuntimeError(f"environment variable {name} is not set (see shicks_fixture.py)")


def shicksd_path():
    return env("SHICKSD")


def shicksctl_path():
    return env("SHICKSCTL")


def source_dir():
    return env("SHICKS_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))


def test_db_socket():
    return env("SHICKS_TEST_DB_SOCKET")


def test_tmp():
    d = env("SHICKS_TEST_TMP", os.path.join(tempfile.gettempdir(), "shicks-test-tmp"))
    os.makedirs(d, exist_ok=True)
    return os.path.abspath(d)


def os_user():
    return pwd.getpwuid(os.geteuid()).pw_name


def keep_tmp():
    return os.environ.get("SHICKS_KEEP_TMP") == "1"


def next_id():
    global _counter
    with _counter_lock:
        _counter += 1
        return _counter


def short_tempdir(prefix="d", longest_inside=20):
    """A fresh folder under SHICKS_TEST_TMP, or under /tmp when paths inside it
    (of up to `longest_inside` more bytes) would be too long for a unix socket."""
    base = test_tmp()
    if len(base) + 1 + len(prefix) + 8 + 1 + longest_inside >= MAX_SOCKET_PATH:
        base = "/tmp"
    return tempfile.mkdtemp(prefix=prefix, dir=base)


# ---------------------------------------------------------------- small helpers

def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until it returns a true value (returned) or raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_ports(n, host="127.0.0.1"):
    """n distinct free TCP ports on loopback (kept bound until all are picked)."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
            p = s.getsockname()[1]
            if p not in ports:
                ports.append(p)
    finally:
        for s in socks:
            s.close()
    return ports


def read_text(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def pid_alive(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "r") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    close = stat.rfind(")")
    return not (close >= 0 and stat[close + 2:close + 3] == "Z")


def process_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []


def mariadbd_pids(needle):
    """PIDs of live mariadbd processes whose command line contains `needle`."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        args = process_cmdline(int(name))
        if not args or os.path.basename(args[0]) != "mariadbd":
            continue
        if any(needle in a for a in args) and pid_alive(int(name)):
            out.append(int(name))
    return out


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return jsonlib.dumps(v)  # a JSON string is a TOML basic string for our values
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def render_toml(sections):
    """{"server": {"hostname": "x"}, ...} -> TOML text (sections and keys in order)."""
    lines = []
    for section, keys in sections.items():
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        for k, v in keys.items():
            lines.append(f"{k} = {toml_value(v)}")
    return "\n".join(lines) + "\n"


def line_of(text, pattern, start=1):
    """1-based number of the first line (at or after `start`) matching regex `pattern`."""
    for i, line in enumerate(text.splitlines(), 1):
        if i >= start and re.search(pattern, line):
            return i
    raise AssertionError(f"no line matches {pattern!r} in:\n{text}")


def key_line(text, section, key):
    """Line of `key = ...` inside `[section]` of a TOML text."""
    sec = line_of(text, r"^\s*\[" + re.escape(section) + r"\]\s*(#.*)?$")
    return line_of(text, r"^\s*" + re.escape(key) + r"\s*=", sec + 1)


_tls_lock = threading.Lock()


def tls_pair():
    """(cert_file, key_file) of a self-signed certificate, made once with the openssl
    CLI and cached in SHICKS_TEST_TMP (safe when several test processes race)."""
    with _tls_lock:
        final = os.path.join(test_tmp(), "tls")
        cert, key = os.path.join(final, "cert.pem"), os.path.join(final, "key.pem")
        if os.path.exists(cert) and os.path.exists(key):
            return cert, key
        scratch = tempfile.mkdtemp(prefix="tls.", dir=test_tmp())
        try:
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                 "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                 "-keyout", os.path.join(scratch, "key.pem"), "-out", os.path.join(scratch, "cert.pem")],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
            os.chmod(scratch, 0o755)
            try:
                os.rename(scratch, final)
            except OSError as e:
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return cert, key


def mariadb_cli(socket_path, query, database=None, user=None, timeout=30, check=True):
    """Runs `query` with the mariadb CLI; returns stdout (batch mode, no column names)."""
    cmd = ["mariadb", f"--socket={socket_path}", "-u", user or os_user(), "-N", "-B", "-e", query]
    if database:
        cmd.append(database)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"mariadb failed ({p.returncode}) on {query!r}: {p.stderr.strip()}")
    return p.stdout


class DaemonExited(AssertionError):
    """shicksd exited while the fixture waited for it to come up."""


# ---------------------------------------------------------------- the daemon

class Daemon:
    """A shicksd with its own folder, ports and (external-mode) database.

    overrides: {"section.key": value} applied to the generated config; value None
               removes the key. Unknown sections are added.
    extra_toml: raw text appended to the file (e.g. a new [control] section or a
               deliberately broken line).
    control_socket: path of the control socket (default: DIR/c.sock). Relative
               paths are resolved like shicksd does: against the config's folder.
    create_db: False to skip CREATE DATABASE (e.g. when the config points elsewhere).
    """

    mode = "external"

    def __init__(self, testcase=None, overrides=None, extra_toml="", control_socket=None, create_db=True,
                 dir=None, hostname="mx.test.example"):
        self.dir = dir or short_tempdir("d")
        self._own_dir = dir is None
        self.config_file = os.path.join(self.dir, "shicks.toml")
        self.ports = dict(zip(("smtp", "submission", "smtps", "pop3", "pop3s"), free_ports(5)))
        self.cert_file, self.key_file = tls_pair()
        self.db_name = f"t_{os.getpid()}_{next_id()}"
        self.hostname = hostname
        self._control_socket = control_socket or os.path.join(self.dir, "c.sock")
        self.overrides = dict(overrides or {})
        self.extra_toml = extra_toml
        self.proc = None
        self.runs = 0
        self.stdout_file = self.stderr_file = None
        self._db_created = False
        self._closed = False
        _live.append(self)
        if testcase is not None:
            testcase.addCleanup(self.cleanup)
        if create_db and self.mode == "external":
            self.create_database()
        self.write_config()

    # ---- configuration
    def base_sections(self):
        p = self.ports
        return {
            "server": {
                "hostname": self.hostname,
                "state_dir": os.path.join(self.dir, "state"),
                "control_socket": self._control_socket,
                "log_level": "info",
                "threads": 2,
                "shutdown_timeout_seconds": 10,
            },
            "database": {
                "mode": "external",
                "name": self.db_name,
                "socket": test_db_socket(),
                "user": os_user(),
                "pool_size": 2,
                "connect_timeout_seconds": 5,
            },
            "smtp": {
                "listen": [f"127.0.0.1:{p['smtp']}"],
                "submission_listen": [f"127.0.0.1:{p['submission']}"],
                "smtps_listen": [f"127.0.0.1:{p['smtps']}"],
                "trusted_networks": ["127.0.0.0/8", "::1/128"],
            },
            "pop3": {
                "listen": [f"127.0.0.1:{p['pop3']}"],
                "pop3s_listen": [f"127.0.0.1:{p['pop3s']}"],
            },
            "tls": {
                "cert_file": self.cert_file,
                "key_file": self.key_file,
            },
        }

    def sections(self):
        s = self.base_sections()
        for full, v in self.overrides.items():
            section, key = full.split(".", 1)
            if v is None:
                s.get(section, {}).pop(key, None)
            else:
                s.setdefault(section, {})[key] = v
        return s

    def config_text(self):
        text = render_toml(self.sections())
        if self.extra_toml:
            text += "\n" + self.extra_toml.rstrip("\n") + "\n"
        return text

    def write_config(self, text=None):
        """Writes the config file (from the settings, or `text` verbatim)."""
        self.text = text if text is not None else self.config_text()
        tmp = self.config_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.text)
        os.replace(tmp, self.config_file)
        return self.config_file

    def set(self, key, value):
        """Changes one setting and rewrites the file (for SIGHUP / restart tests)."""
        self.overrides[key] = value
        self.write_config()

    def key_line(self, section, key):
        return key_line(self.text, section, key)

    @property
    def control_socket(self):
        sock = self.sections()["server"].get("control_socket", self._control_socket)
        if not os.path.isabs(sock):
            sock = os.path.normpath(os.path.join(self.dir, sock))
        return sock

    def address(self, service):
        return f"127.0.0.1:{self.ports[service]}"

    # ---- database
    def create_database(self):
        q = f"DROP DATABASE IF EXISTS `{self.db_name}`; CREATE DATABASE `{self.db_name}` " \
            f"CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        mariadb_cli(test_db_socket(), q)
        self._db_created = True

    def drop_database(self):
        if self._db_created:
            mariadb_cli(test_db_socket(), f"DROP DATABASE IF EXISTS `{self.db_name}`", check=False)
            self._db_created = False

    def db_socket(self):
        return test_db_socket()

    def sql(self, query, check=True):
        """Runs `query` on this daemon's database; returns the rows as tab-separated text."""
        return mariadb_cli(self.db_socket(), query, database=self.db_name, check=check)

    def sql_rows(self, query):
        return [line.split("\t") for line in self.sql(query).splitlines()]

    # ---- process
    def _spawn(self, cwd=None, args=()):
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("shicksd is already running")
        self.runs += 1
        self.stdout_file = os.path.join(self.dir, f"stdout.{self.runs}")
        self.stderr_file = os.path.join(self.dir, f"stderr.{self.runs}")
        with open(self.stdout_file, "wb") as out, open(self.stderr_file, "wb") as err:
            self.proc = subprocess.Popen([shicksd_path(), "-c", self.config_file, *args], stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, cwd=cwd or self.dir)
        self.started_at = time.monotonic()
        return self.proc

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def ready_line(self):
        return f"control socket is up & running on {self.control_socket}"

    def start(self, timeout=DEFAULT_START_TIMEOUT, cwd=None):
        """Starts shicksd and returns once its control socket is up; raises DaemonExited
        (with its log) when it exits first, TimeoutError when it takes too long."""
        self._spawn(cwd=cwd)
        want = self.ready_line()
        deadline = time.monotonic() + timeout
        while True:
            if want in self.stdout().splitlines():
                return self
            rc = self.proc.poll()
            if rc is not None:
                raise DaemonExited(f"shicksd exited with {rc} during start-up\n--- stdout\n{self.stdout()}"
                                   f"--- stderr\n{self.log()}")
            if time.monotonic() >= deadline:
                log = self.log()
                self.kill()
                raise TimeoutError(f"shicksd did not print {want!r} within {timeout} s\n--- stdout\n"
                                   f"{self.stdout()}--- stderr\n{log}")
            time.sleep(0.05)

    def run_to_exit(self, timeout=DEFAULT_START_TIMEOUT, cwd=None, args=()):
        """Starts shicksd expecting it to exit by itself; returns (rc, stdout, stderr)."""
        self._spawn(cwd=cwd, args=args)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"shicksd did not exit within {timeout} s\n--- stderr\n{self.log()}")
        return rc, self.stdout(), self.log()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        if not self.running():
            raise AssertionError(f"shicksd is not running (exit code {self.proc.poll() if self.proc else None})")
        os.kill(self.proc.pid, sig)

    def wait(self, timeout=DEFAULT_STOP_TIMEOUT):
        """Waits for exit; returns the exit code (negative: killed by that signal)."""
        try:
            rc = self.proc.wait(timeout=timeout)
            self.check_sanitizers()
            return rc
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"shicksd (pid {self.proc.pid}) did not exit within {timeout} s; killed it\n"
                                 f"--- stderr\n{self.log()}")

    def stop(self, sig=signal.SIGTERM, timeout=DEFAULT_STOP_TIMEOUT):
        """Sends `sig` and waits for the exit; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        return self.wait(timeout)

    def check_sanitizers(self):
        """Fails when an ASan/UBSan/LSan build of shicksd reported anything."""
        text = self.log()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in text:
                raise AssertionError(f"shicksd reported a sanitizer error ({marker})\n--- stderr\n{text}")

    def kill(self):
        """SIGKILL and reap (no clean shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            kill_pid(self.proc.pid, signal.SIGKILL)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass

    def stdout(self):
        return read_text(self.stdout_file) if self.stdout_file else ""

    def log(self):
        """shicksd's stderr (the key=value event log) of the current run."""
        return read_text(self.stderr_file) if self.stderr_file else ""

    def wait_log(self, pattern, timeout=15, start=0):
        """Waits until the log (from character `start`) matches regex `pattern`; returns the match."""
        rx = re.compile(pattern, re.M)
        try:
            return wait_until(lambda: rx.search(self.log(), start), timeout, what=f"log /{pattern}/")
        except TimeoutError as e:
            raise AssertionError(f"{e}\n--- stderr\n{self.log()}") from None

    # ---- clients
    def ctl(self, *args, json=False, timeout=30, prefix=(), socket_path=None, input=None):
        """Runs shicksctl --socket PATH [--json] ARGS...; returns (rc, stdout, stderr)."""
        cmd = [*prefix, shicksctl_path(), "--socket", socket_path or self.control_socket]
        if json:
            cmd.append("--json")
        cmd += list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
        return p.returncode, p.stdout, p.stderr

    def ctl_json(self, *args, **kw):
        rc, out, err = self.ctl(*args, json=True, **kw)
        if rc != 0:
            raise AssertionError(f"shicksctl --json {' '.join(args)} exited {rc}: {err}")
        return jsonlib.loads(out)

    def control_request(self, line, timeout=10):
        """Sends one raw line on a fresh control connection; returns the decoded answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.control_socket)
            s.sendall(line if isinstance(line, bytes) else line.encode())
            return jsonlib.loads(recv_line(s))

    # ---- mail data (rows written the way shicksctl will write them; read back raw)
    def add_user(self, name, password="secret", enabled=True, addresses=()):
        """Inserts a user (crypt(3) SHA-512 hash of `password`) and its `addresses`;
        returns the user's id."""
        self.sql(f"INSERT INTO users (name, password_hash, enabled, created_at) VALUES "
                 f"({sql_quote(name)}, {sql_quote(hash_password(password))}, {1 if enabled else 0}, "
                 f"UTC_TIMESTAMP(6))")
        uid = int(self.sql(f"SELECT id FROM users WHERE name = {sql_quote(name)}").strip())
        for a in addresses:
            self.add_address(a, name)
        return uid

    def add_address(self, address, *users):
        """Adds `address` ("local@domain", or "@domain" for a catch-all) delivering to
        the named users (an alias when several); returns the address id. Stored the way
        Shicks stores addresses: ASCII letters lowercased, everything else as given."""
        address = address.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))
        domain = address.rsplit("@", 1)[1]
        self.sql(f"INSERT INTO addresses (address, domain, created_at) VALUES ({sql_quote(address)}, "
                 f"{sql_quote(domain)}, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE id = id")
        aid = int(self.sql(f"SELECT id FROM addresses WHERE address = {sql_quote(address)}").strip())
        for u in users:
            self.sql(f"INSERT IGNORE INTO address_targets (address_id, user_id) "
                     f"SELECT {aid}, id FROM users WHERE name = {sql_quote(u)}")
        self.bump_addresses()
        return aid

    def bump_addresses(self):
        """What the admin store does with every change to users or addresses: the
        daemons forget their remembered recipient lookups (within a second)."""
        self.sql("INSERT INTO change_counters (name, value) VALUES ('addresses', 1) "
                 "ON DUPLICATE KEY UPDATE value = value + 1")

    def set_user_enabled(self, name, enabled):
        self.sql(f"UPDATE users SET enabled = {1 if enabled else 0} WHERE name = {sql_quote(name)}")
        self.bump_addresses()

    def set_setting(self, name, value):
        """Writes a runtime setting straight into the table (a running daemon reads it
        within ~5 s, a restarted one at once)."""
        self.sql(f"INSERT INTO settings (name, value, updated_at) VALUES ({sql_quote(name)}, "
                 f"{sql_quote(str(value))}, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE value = VALUES(value), "
                 f"updated_at = VALUES(updated_at); "
                 f"UPDATE change_counters SET value = value + 1 WHERE name = 'settings'")

    def setting(self, name):
        return self.sql(f"SELECT value FROM settings WHERE name = {sql_quote(name)}").rstrip("\n")

    def count(self, table, where="1"):
        return int(self.sql(f"SELECT COUNT(*) FROM {table} WHERE {where}").strip())

    def message_body(self, message_id):
        """The stored bytes of a message (its chunks concatenated in order)."""
        rows = self.sql(f"SELECT HEX(data) FROM message_chunks WHERE message_id = {int(message_id)} ORDER BY seq")
        return b"".join(bytes.fromhex(r) for r in rows.split())

    def messages(self, user=None, where=None):
        """Mailbox entries (of `user`, or all) in id order, as dicts: entry_id, user,
        user_id, message_id, size (entry), uidl, message_size, envelope_from,
        header_from, subject (str), chunk_count, spam, body (bytes)."""
        cond = []
        if user is not None:
            cond.append(f"u.name = {sql_quote(user)}")
        if where:
            cond.append(f"({where})")
        q = ("SELECT e.id, u.name, e.user_id, e.message_id, e.size, e.uidl, m.size, HEX(m.envelope_from), "
             "HEX(m.header_from), HEX(m.subject), m.chunk_count, m.spam FROM mailbox_entries e "
             "JOIN users u ON u.id = e.user_id JOIN messages m ON m.id = e.message_id"
             + (" WHERE " + " AND ".join(cond) if cond else "") + " ORDER BY e.id")
        out = []
        bodies = {}
        for r in self.sql_rows(q):
            def text(h):
                return bytes.fromhex(h).decode("utf-8", "replace")
            mid = int(r[3])
            if mid not in bodies:
                bodies[mid] = self.message_body(mid)
            out.append({"entry_id": int(r[0]), "user": r[1], "user_id": int(r[2]), "message_id": mid,
                        "size": int(r[4]), "uidl": r[5], "message_size": int(r[6]), "envelope_from": text(r[7]),
                        "header_from": text(r[8]), "subject": text(r[9]), "chunk_count": int(r[10]),
                        "spam": int(r[11]), "body": bodies[mid]})
        return out

    def relay_queue(self):
        """relay_queue rows as dicts: id, message_id, sender, recipient, attempts."""
        rows = self.sql_rows("SELECT id, message_id, HEX(sender), HEX(recipient), attempts FROM relay_queue ORDER BY id")
        return [{"id": int(r[0]), "message_id": int(r[1]), "sender": bytes.fromhex(r[2]).decode(),
                 "recipient": bytes.fromhex(r[3]).decode(), "attempts": int(r[4])} for r in rows]

    def smtp(self, service="smtp", **kw):
        """A RawSmtp connected to one of this daemon's SMTP listeners (greeting read)."""
        return RawSmtp(self.ports[service], **kw)

    # ---- cleanup
    def cleanup(self):
        if self._closed:
            return
        self._closed = True
        if self in _live:
            _live.remove(self)
        try:
            if self.proc is not None and self.proc.poll() is None:
                kill_pid(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.kill()
        finally:
            self._cleanup_extra()
            self.drop_database()
            if self._own_dir and not keep_tmp():
                shutil.rmtree(self.dir, ignore_errors=True)

    def _cleanup_extra(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def recv_line(sock, limit=1 << 20):
    """Reads from `sock` up to and including the first newline (the socket's timeout applies)."""
    buf = b""
    while b"\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        if len(buf) > limit:
            raise AssertionError("answer longer than expected")
    return buf.split(b"\n", 1)[0].decode()


class ManagedDaemon(Daemon):
    """shicksd with database.mode = "managed": its own mariadbd under state_dir.

    state_dir: share an initialised state folder between daemons (the caller then
               owns it and removes it); default: a fresh one inside the daemon's folder.
    """

    mode = "managed"

    def __init__(self, testcase=None, state_dir=None, **kw):
        self._state_dir = state_dir
        super().__init__(testcase, create_db=False, **kw)
        self.db_name = "maildb"

    @property
    def state_dir(self):
        return self._state_dir or os.path.join(self.dir, "state")

    @property
    def datadir(self):
        return os.path.join(self.state_dir, "mysql")

    def base_sections(self):
        s = super().base_sections()
        s["server"]["state_dir"] = self.state_dir
        s["database"] = {
            "mode": "managed",
            "name": "maildb",
            "pool_size": 2,
            "buffer_pool_bytes": 16 << 20,
        }
        return s

    def db_socket(self):
        return os.path.join(self.state_dir, "run", "mariadb.sock")

    def mariadbd_pids(self):
        return mariadbd_pids("--datadir=" + self.datadir)

    def _cleanup_extra(self):
        # shicksd is gone; a mariadbd it left behind is stopped by its PID.
        try:
            wait_until(lambda: not self.mariadbd_pids(), 30, 0.1, "mariadbd to stop")
        except TimeoutError:
            for pid in self.mariadbd_pids():
                kill_pid(pid, signal.SIGKILL)
            wait_until(lambda: not self.mariadbd_pids(), 10, 0.1, "mariadbd to die")


def stop_state_dir_databases(state_dir, timeout=30):
    """Stops (by PID) any mariadbd still running on `state_dir`'s data folder."""
    needle = "--datadir=" + os.path.join(state_dir, "mysql")
    for pid in mariadbd_pids(needle):
        kill_pid(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not mariadbd_pids(needle), timeout, 0.1, "mariadbd to stop")
    except TimeoutError:
        for pid in mariadbd_pids(needle):
            kill_pid(pid, signal.SIGKILL)


# ---------------------------------------------------------------- mail data and SMTP helpers

def sql_quote(v):
    """A SQL literal for v (None, int, str, bytes) that no content can break out of."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return f"_utf8mb4 X'{v.encode('utf-8').hex()}'" if v else "''"
    if isinstance(v, (bytes, bytearray)):
        return f"X'{bytes(v).hex()}'" if v else "''"
    raise TypeError(f"cannot quote {v!r}")


def hash_password(password):
    """crypt(3) SHA-512 hash, as any libcrypt verifies it."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))


def unverified_tls_context():
    """A client TLS context that accepts the tests' self-signed certificate."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def split_received(body):
    """(received_header_unfolded_str, rest_bytes) of a stored message that starts with
    our Received: header (a folded header: continuation lines start with SP/HT)."""
    if not body.startswith(b"Received:"):
        raise AssertionError(f"stored message does not start with Received: {body[:200]!r}")
    pos = 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            raise AssertionError(f"unterminated Received header: {body[:300]!r}")
        if body[end + 2:end + 3] in (b" ", b"\t"):
            pos = end + 2
            continue
        header = body[:end]
        return re.sub(r"\r\n[ \t]+", " ", header.decode("utf-8", "replace")), body[end + 2:]


class SmtpReply:
    """One (possibly multi-line) SMTP reply: code, lines (text after "NNN-"/"NNN "),
    status (the enhanced status code of the last line, or "")."""

    def __init__(self, raw_lines):
        self.raw_lines = raw_lines
        first = raw_lines[0]
        self.code = int(first[:3])
        self.lines = [l[4:].decode("utf-8", "replace") for l in raw_lines]
        m = re.match(r"([245]\.\d{1,3}\.\d{1,3})(?: |$)", self.lines[-1])
        self.status = m.group(1) if m else ""

    @property
    def text(self):
        return "\n".join(self.lines)

    def __repr__(self):
        return "SmtpReply(" + repr(b"\r\n".join(self.raw_lines).decode("utf-8", "replace")) + ")"

    __str__ = __repr__


class RawSmtp:
    """A byte-level SMTP client for protocol tests: sends exactly the bytes it is
    given and parses replies. Every read has a timeout (socket.timeout on expiry)."""

    def __init__(self, port, host="127.0.0.1", timeout=15, tls=False, greeting=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        if tls:
            self.sock = unverified_tls_context().wrap_socket(self.sock)
        self.greeting = self.reply() if greeting else None

    def send(self, data):
        self.sock.sendall(data.encode("utf-8") if isinstance(data, str) else data)

    def read_line(self, limit=1 << 20):
        """One line without its CRLF; EOFError when the server closed first."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed by the server (unparsed: {self.buf!r})")
            self.buf += chunk
            if len(self.buf) > limit:
                raise AssertionError("reply line too long")
        line, self.buf = self.buf.split(b"\n", 1)
        return line[:-1] if line.endswith(b"\r") else line

    def reply(self):
        lines = []
        while True:
            line = self.read_line()
            if not re.match(rb"^\d{3}([ -]|$)", line):
                raise AssertionError(f"malformed reply line {line!r} after {lines!r}")
            lines.append(line)
            if len(line) == 3 or line[3:4] == b" ":
                return SmtpReply(lines)

    def cmd(self, line):
        """Sends `line` + CRLF and returns the reply."""
        self.send((line.encode("utf-8") if isinstance(line, str) else line) + b"\r\n")
        return self.reply()

    def ehlo(self, name="client.example"):
        return self.cmd(f"EHLO {name}")

    def open_data(self, sender, rcpts):
        """MAIL, a RCPT for each of `rcpts`, DATA: raises AssertionError with the reply
        unless they get 250, 250 and 354. The message's bytes are the caller's to send."""
        for line, want in [(f"MAIL FROM:<{sender}>", 250)] + [(f"RCPT TO:<{r}>", 250) for r in rcpts] + [("DATA", 354)]:
            r = self.cmd(line)
            if r.code != want:
                raise AssertionError(f"{line}: {r}")

    def starttls(self):
        """Wraps the connection in TLS (after a 220 to STARTTLS)."""
        if self.buf:
            raise AssertionError(f"unread bytes before the TLS handshake: {self.buf!r}")
        self.sock = unverified_tls_context().wrap_socket(self.sock)

    def closed(self, timeout=10):
        """True once the server has closed the connection (EOF or reset) within
        `timeout` s; any bytes sent before that are kept in self.buf."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            except OSError as e:  # e.g. an SSL EOF without close_notify
                if "EOF" in str(e) or "closed" in str(e):
                    return True
                raise
            if not chunk:
                return True
            self.buf += chunk
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main():
    """unittest.main() that exits non-zero on failure."""
    import unittest
    unittest.main(verbosity=2)


if __name__ == "__main__":
    print(__doc__)
    sys.exit(0)



QUEUED_RX = r"2\.0\.0 Ok: queued as ([0-9A-Za-z]+)$"


def queue_id(text):
    """The queue id in the text of a 250 reply to end-of-DATA (bytes or str);
    AssertionError when it has none."""
    text = text.decode() if isinstance(text, bytes) else text
    m = re.match(QUEUED_RX, text)
    if m is None:
        raise AssertionError(f"no queue id in the reply to DATA: {text!r}")
    return m.group(1)


def smtp_client(d, service="smtp", helo="client.example", timeout=15):
    """An smtplib.SMTP connected to `d`'s `service` listener (greeting read); use it
    in a `with` block, which ends it with QUIT."""
    import smtplib
    return smtplib.SMTP("127.0.0.1", d.ports[service], local_hostname=helo, timeout=timeout)


def send_mail(d, rcpts, *bodies, sender="sender@remote.test", timeout=15, service="smtp",
              mail_options=("BODY=8BITMIME",)):
    """Sends each of `bodies` (bytes with CRLF line ends, as the client's DATA) to
    `rcpts` through `d`'s SMTP listener, in one session, with `mail_options` on each
    MAIL command (8BITMIME declared unless told otherwise). Returns smtplib's dict of
    the recipients the last message was refused for; raises as smtplib does."""
    refused = {}
    with smtp_client(d, service, timeout=timeout) as s:
        s.ehlo()
        for body in bodies:
            refused = s.sendmail(sender, rcpts, body, mail_options=list(mail_options))
    return refused


def smtp_transaction(s, sender, rcpts, message):
    """MAIL, a RCPT for each of `rcpts` and DATA on the smtplib session `s`; raises
    AssertionError (naming the command) unless MAIL and every RCPT get 250. Returns
    (code, text) of the reply to the message's end."""
    code, text = s.mail(sender)
    if code != 250:
        raise AssertionError(f"MAIL FROM:<{sender}>: {code} {text!r}")
    for r in rcpts:
        code, text = s.rcpt(r)
        if code != 250:
            raise AssertionError(f"RCPT {r}: {code} {text!r}")
    return s.data(message)


def rcpt_code(d, address, sender="sender@remote.test", timeout=15):
    """The reply code to RCPT TO:<address> in a fresh session on `d`'s SMTP listener
    (the transaction is reset)."""
    with smtp_client(d, timeout=timeout) as s:
        s.ehlo()
        s.mail(sender)
        code, _ = s.rcpt(address)
        s.rset()
        return code


def smtp_login_code(d, user, password, service="submission", timeout=15):
    """The reply code to an smtplib login (AUTH) as `user` in a fresh session: 235 or the refusal's."""
    import smtplib
    with smtp_client(d, service, timeout=timeout) as s:
        s.ehlo()
        try:
            return s.login(user, password)[0]
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code


def numbered_messages(n):
    """n small messages: "Subject: m0" / "body 0", and so on."""
    return [f"Subject: m{i}\r\n\r\nbody {i}\r\n".encode() for i in range(n)]

class RawPop3:
    """A byte-level POP3 client for protocol tests: sends exactly the bytes it is
    given; reads status lines and multi-line responses raw (still byte-stuffed, so
    tests can check the stuffing). Every read has a timeout."""

    def __init__(self, port, host="127.0.0.1", timeout=15, tls=False, greeting=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        if tls:
            self.sock = unverified_tls_context().wrap_socket(self.sock)
        self.greeting = self.line() if greeting else None

    def send(self, data):
        self.sock.sendall(data.encode("utf-8") if isinstance(data, str) else data)

    def line(self):
        """One line without its CRLF (bytes); EOFError when the server closed first."""
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError(f"connection closed; unterminated data {self.buf[:200]!r}")
            self.buf += chunk
        out, self.buf = self.buf.split(b"\r\n", 1)
        return out

    def cmd(self, text):
        """Sends one command line; returns the status line as str."""
        self.send(text + "\r\n")
        return self.line().decode("utf-8", "replace")

    def multi_raw(self):
        """The body of a multi-line response as sent (stuffed, CRLFs), without the
        terminating ".\\r\\n"."""
        while True:
            if self.buf.startswith(b".\r\n"):
                self.buf = self.buf[3:]
                return b""
            i = self.buf.find(b"\r\n.\r\n")
            if i >= 0:
                out, self.buf = self.buf[:i + 2], self.buf[i + 5:]
                return out
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("connection closed inside a multi-line response")
            self.buf += chunk

    def multi(self, text):
        """(status line, raw body) of a command with a multi-line answer (body None
        when the status is -ERR)."""
        status = self.cmd(text)
        if not status.startswith("+OK"):
            return status, None
        return status, self.multi_raw()

    def starttls(self):
        self.sock = unverified_tls_context().wrap_socket(self.sock)

    def login(self, user, password):
        r = self.cmd(f"USER {user}")
        if not r.startswith("+OK"):
            return r
        return self.cmd(f"PASS {password}")

    def closed(self, timeout=5):
        """True when the server has closed the connection (EOF) within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except (socket.timeout, TimeoutError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def unstuff(raw):
    """The message of a RETR/TOP body as sent: leading dots removed (RFC 1939 3)."""
    lines = raw.split(b"\r\n")
    return b"\r\n".join(l[1:] if l.startswith(b".") else l for l in lines)


# ---------------------------------------------------------------- spam filter helpers

def header_fields(message):
    """The header section of `message` (bytes) as a list of (name, raw value) pairs in
    order; folded fields keep their CRLFs (RFC 5322 2.2.3)."""
    head = message.split(b"\r\n\r\n", 1)[0]
    fields = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + b"\r\n" + line)
        elif b":" in line:
            name, value = line.split(b":", 1)
            fields.append((name.strip().decode("utf-8", "replace"), value))
    return fields


def header_values(message, name):
    """The raw values of every `name` field (case-insensitive) of `message` (bytes)."""
    return [v for n, v in header_fields(message) if n.lower() == name.lower()]


def pop3_fetch_all(port, user, password, timeout=15):
    """Logs in over POP3 and returns [(LIST size, RETR message bytes unstuffed)] of
    the whole maildrop (nothing deleted)."""
    p = RawPop3(port, timeout=timeout)
    try:
        r = p.login(user, password)
        if not r.startswith("+OK"):
            raise AssertionError(f"POP3 login of {user}: {r}")
        status, listing = p.multi("LIST")
        sizes = [int(line.split()[1]) for line in listing.split(b"\r\n") if line]
        out = []
        for i, size in enumerate(sizes, 1):
            status, raw = p.multi(f"RETR {i}")
            if not status.startswith("+OK"):
                raise AssertionError(f"RETR {i}: {status}")
            out.append((size, unstuff(raw)))
        p.cmd("QUIT")
        return out
    finally:
        p.close()


# ---------------------------------------------------------------- an SMTP sink for relay tests

class SmtpSink:
    """A scriptable SMTP server on loopback standing in for the relay (smarthost).

    tls:   None (plaintext), "starttls" (offers STARTTLS) or "implicit" (TLS from the
           first byte); the certificate is the tests' self-signed one (tls_pair()).
    auth:  (user, password) to require AUTH PLAIN/LOGIN before MAIL (offered only
           under TLS unless auth_plaintext=True).
    Behaviour is changed on the fly through these attributes (functions called per
    command; a reply is a (code, text) pair):
      rcpt_reply(address) -> reply          default 250 2.1.5
      data_reply(message) -> reply | None   default 250 2.0.0; None stalls: no reply,
                                            the connection is held until release()
    Recorded: messages (accepted transactions: dicts mail_from, mail_params, rcpts,
    data (bytes, dot-unstuffed), tls, auth_user), commands (every command line, AUTH
    payloads included), sessions (connections accepted), stalled (an Event).
    """

    def __init__(self, testcase=None, tls=None, auth=None, auth_plaintext=False, pipelining=True, eightbitmime=True,
                 size=None, host="127.0.0.1"):
        import ssl
        self.tls, self.auth, self.auth_plaintext = tls, auth, auth_plaintext
        self.pipelining, self.eightbitmime, self.size = pipelining, eightbitmime, size
        self.rcpt_reply = lambda address: (250, "2.1.5 Ok")
        self.data_reply = lambda message: (250, "2.0.0 Ok: queued")
        self.messages, self.commands = [], []
        self.sessions = 0
        self.stalled = threading.Event()
        self._release = threading.Event()
        self._cond = threading.Condition()
        self._closed = False
        self._conns = []
        if tls:
            cert, key = tls_pair()
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.host, self.port = host, self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if testcase is not None:
            testcase.addCleanup(self.close)

    # ---- control
    def release(self):
        """Ends a stall (the held connection is closed without a reply)."""
        self._release.set()

    def wait_messages(self, n, timeout=30):
        """Waits until at least n messages were accepted; returns the list."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"sink got {len(self.messages)} messages, expected {n}; commands: "
                                         f"{self.commands[-30:]}")
                self._cond.wait(left)
            return list(self.messages)

    def close(self):
        self._closed = True
        self._release.set()
        try:
            self.sock.close()
        except OSError:
            pass
        for c in list(self._conns):
            try:
                c.close()
            except OSError:
                pass

    # ---- server
    def _serve(self):
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.sessions += 1
            self._conns.append(conn)
            threading.Thread(target=self._session_safe, args=(conn,), daemon=True).start()

    def _session_safe(self, conn):
        try:
            self._session(conn)
        except (OSError, EOFError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _session(self, conn):
        import base64
        conn.settimeout(60)
        tls_active = False
        if self.tls == "implicit":
            conn = self.ctx.wrap_socket(conn, server_side=True)
            self._conns.append(conn)
            tls_active = True
        buf = [b""]

        def readline():
            while b"\r\n" not in buf[0]:
                chunk = conn.recv(65536)
                if not chunk:
                    raise EOFError()
                buf[0] += chunk
            line, buf[0] = buf[0].split(b"\r\n", 1)
            return line

        def reply(code, text):
            lines = text if isinstance(text, list) else [text]
            out = b""
            for i, l in enumerate(lines):
                sep = " " if i == len(lines) - 1 else "-"
                out += f"{code}{sep}{l}\r\n".encode()
            conn.sendall(out)

        auth_user = None
        tx = None
        reply(220, "sink.test ESMTP")
        while True:
            line = readline()
            text = line.decode("utf-8", "replace")
            self.commands.append(text)
            verb = text.split(" ", 1)[0].upper()
            arg = text[len(verb) + 1:] if " " in text else ""
            if verb == "EHLO":
                ext = ["sink.test"]
                if self.pipelining:
                    ext.append("PIPELINING")
                if self.eightbitmime:
                    ext.append("8BITMIME")
                if self.size is not None:
                    ext.append(f"SIZE {self.size}")
                if self.tls == "starttls" and not tls_active:
                    ext.append("STARTTLS")
                if self.auth and (tls_active or self.auth_plaintext):
                    ext.append("AUTH PLAIN LOGIN")
                ext.append("ENHANCEDSTATUSCODES")
                reply(250, ext)
            elif verb == "HELO":
                reply(250, "sink.test")
            elif verb == "STARTTLS" and self.tls == "starttls" and not tls_active:
                reply(220, "2.0.0 Ready to start TLS")
                if buf[0]:
                    return  # plaintext injection: drop
                conn = self.ctx.wrap_socket(conn, server_side=True)
                self._conns.append(conn)
                tls_active = True
            elif verb == "AUTH" and self.auth:
                parts = arg.split(" ")
                mech = parts[0].upper()
                if mech == "PLAIN":
                    resp = parts[1] if len(parts) > 1 else None
                    if resp is None:
                        reply(334, "")
                        resp = readline().decode()
                    fields = base64.b64decode(resp).split(b"\0")
                    user, pw = fields[1].decode(), fields[2].decode()
                elif mech == "LOGIN":
                    reply(334, "VXNlcm5hbWU6")
                    user = base64.b64decode(readline()).decode()
                    reply(334, "UGFzc3dvcmQ6")
                    pw = base64.b64decode(readline()).decode()
                else:
                    reply(504, "5.5.4 mechanism not supported")
                    continue
                if (user, pw) == tuple(self.auth):
                    auth_user = user
                    reply(235, "2.7.0 Authentication successful")
                else:
                    reply(535, "5.7.8 Authentication credentials invalid")
            elif verb == "MAIL":
                if self.auth and not auth_user:
                    reply(530, "5.7.0 Authentication required")
                    continue
                m = re.match(r"FROM:<([^>]*)>(.*)$", arg, re.I)
                tx = {"mail_from": m.group(1), "mail_params": m.group(2).split(), "rcpts": [], "tls": tls_active,
                      "auth_user": auth_user}
                reply(250, "2.1.0 Ok")
            elif verb == "RCPT":
                if tx is None:
                    reply(503, "5.5.1 MAIL first")
                    continue
                address = re.match(r"TO:<([^>]*)>", arg, re.I).group(1)
                code, t = self.rcpt_reply(address)
                if 200 <= code < 300:
                    tx["rcpts"].append(address)
                reply(code, t)
            elif verb == "DATA":
                if tx is None or not tx["rcpts"]:
                    reply(554, "5.5.1 No valid recipients")
                    continue
                reply(354, "End data with <CR><LF>.<CR><LF>")
                lines = []
                while True:
                    l = readline()
                    if l == b".":
                        break
                    lines.append(l[1:] if l.startswith(b".") else l)
                tx["data"] = b"".join(l + b"\r\n" for l in lines)
                r = self.data_reply(tx)
                if r is None:
                    self.stalled.set()
                    self._release.wait(120)
                    return
                if 200 <= r[0] < 300:
                    with self._cond:
                        self.messages.append(tx)
                        self._cond.notify_all()
                reply(*r)
                tx = None
            elif verb == "RSET":
                tx = None
                reply(250, "2.0.0 Ok")
            elif verb == "NOOP":
                reply(250, "2.0.0 Ok")
            elif verb == "QUIT":
                reply(221, "2.0.0 Bye")
                return
            else:
                reply(502, "5.5.2 Command not recognized")


def relay_to(daemon, sink, tls="none", verify=None):
    """Points `daemon`'s relay at `sink` (through shicksctl, effective at once)."""
    rc, out, err = daemon.ctl("relay", "set", "--host", sink.host, "--port", str(sink.port), "--tls", tls)
    if rc != 0:
        raise AssertionError(f"relay set failed: {err}")
    if verify is not None:
        daemon.ctl("config", "set", "relay.tls_verify", "true" if verify else "false")
