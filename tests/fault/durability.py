"""Durability under faults: "250 means committed" (shicksd(8), "Message transfer")
with shicksd and its managed MariaDB killed under load, the database dying and not
coming back, POP3 deletions cut off before QUIT, and a full disk.

Each scenario is function(env, size) -> Result; size is "smoke" or "full"."""

import os
import random
import re
import shutil
import socket
import struct
import threading
import time

from harness import DOMAIN, Env, Result, log, make_message, mount_tmpfs, strip_trace, token_of, unmount
import harness
import shicks_fixture as fx


def pick(size, smoke, full):
    return smoke if size == "smoke" else full


def tally_key(code, text):
    """A reply as 'CODE X.Y.Z' (or 'connection' for a failed connection/session)."""
    if code == 0:
        return "connection"
    m = re.match(r"([245]\.\d{1,3}\.\d{1,3})", text or "")
    return f"{code} {m.group(1)}" if m else str(code)


def fmt_tally(t):
    return ", ".join(f"{k} x{v}" for k, v in sorted(t.items(), key=lambda kv: -kv[1])) or "none"


# ---------------------------------------------------------------- a load of tokens

class Load:
    """`sessions` SMTP clients delivering the messages of `tokens` to `rcpt`, each a
    client that keeps its session, and on anything but 250 reconnects and retries
    the same message a moment later (as an MTA would). Every attempt is recorded as
    (token, started, ended, code, text), times as time.time()."""

    def __init__(self, env, rcpt, messages, sessions, deadline, stop_on=None):
        self.env, self.rcpt, self.messages = env, rcpt, messages
        self.todo = list(reversed(list(messages)))
        self.lock = threading.Lock()
        self.attempts = []
        self.accepted = {}  # token -> time of its 250
        self.deadline = deadline
        self.stop = threading.Event()
        self.stop_on = stop_on  # f(code, text) -> True to stop retrying that token
        self.given_up = []
        self.threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(sessions)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout=None):
        end = time.monotonic() + (timeout or 1e9)
        for t in self.threads:
            t.join(max(0.1, end - time.monotonic()))

    def done(self):
        return not any(t.is_alive() for t in self.threads)

    def next_token(self):
        with self.lock:
            return self.todo.pop() if self.todo else None

    def worker(self):
        import smtplib
        s = None
        token = self.next_token()
        while token is not None and not self.stop.is_set() and time.monotonic() < self.deadline:
            t0 = time.time()
            if s is None:
                try:
                    s = smtplib.SMTP("127.0.0.1", self.env.ports["smtp"], local_hostname="load.fault.example",
                                     timeout=30)
                except (OSError, smtplib.SMTPException) as e:
                    s = None
                    code, text = 0, repr(e)
            if s is not None:
                code, text = harness.smtp_transaction(s, "sender@remote.test", self.rcpt, self.messages[token])
            t1 = time.time()
            with self.lock:
                self.attempts.append((token, t0, t1, code, text))
                if code == 250:
                    self.accepted[token] = t1
            if code == 250:
                token = self.next_token()
                continue
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
                s = None
            if self.stop_on and code and self.stop_on(code, text):
                with self.lock:
                    self.given_up.append(token)
                token = self.next_token()
            time.sleep(random.uniform(0.05, 0.2))
        if s is not None:
            try:
                s.quit()
            except Exception:  # noqa: BLE001 -- the session is over either way
                s.close()


def verify_mailbox(env, user, sent, accepted, res, what="mailbox"):
    """Every accepted token is in `user`'s maildrop exactly as sent. Failures: lost,
    corrupted. Returns (stored tokens -> count, duplicates)."""
    stored = {}
    for _, msg in env.pop3_fetch(user, timeout=120):
        tok = token_of(msg)
        body = strip_trace(msg)
        stored.setdefault(tok, []).append(body)
    lost = [t for t in accepted if t not in stored]
    corrupted = [t for t in accepted if t in stored and any(b != sent[t] for b in stored[t])]
    dups = sum(len(v) - 1 for t, v in stored.items() if t in sent and len(v) > 1)
    res.fail("lost", len(lost), f"{len(lost)} tokens answered 250 are not in the {what}: {lost[:5]}")
    res.fail("corrupted", len(corrupted), f"{len(corrupted)} stored differently from what was sent: {corrupted[:5]}")
    return stored, dups


# ---------------------------------------------------------------- crash during load

def crash_during_load(env, size):
    res = Result()
    n = pick(size, 300, 10000)
    sessions = 8
    shicksd_kills, db_kills = pick(size, (2, 1), (25, 5))
    rng = random.Random(int(os.environ.get("SHICKS_FAULT_SEED", "0")) or None)
    env.add_user("crash")
    rcpt = f"crash@{DOMAIN}"
    sent = {}
    for i in range(n):
        tok = f"crash-{i:05d}-{rng.getrandbits(32):08x}"
        sent[tok] = make_message(tok, rcpt, rng.randint(200, 6000), rng)

    # Kill points: random moments of the load, by count of messages accepted; never five
    # database kills without a shicksd kill between them (shicksd gives up after five
    # database failures within 60 s, by design).
    kinds = ["shicksd"] * shicksd_kills + ["mariadbd"] * db_kills
    while True:
        rng.shuffle(kinds)
        run, ok = 0, True
        for k in kinds:
            run = run + 1 if k == "mariadbd" else 0
            ok = ok and run < 5
        if ok:
            break
    points = sorted(rng.sample(range(max(1, n // 40), max(2, n - n // 40)), len(kinds)))
    t_limit = pick(size, 90, 1800)
    load = Load(env, rcpt, sent, sessions, time.monotonic() + t_limit).start()
    t_start = time.monotonic()
    outages = []  # (start, end) of database outages
    restarts = []  # seconds from a shicksd kill to its control socket up again
    unexpected_exits = 0
    try:
        for point, kind in zip(points, kinds):
            while len(load.accepted) < point and not load.done():
                time.sleep(0.01)
                if not env.running():
                    unexpected_exits += 1
                    res.fail("shicksd-exited", 1, f"shicksd exited by itself: {env.log()[-2000:]}")
                    env.start()
            if load.done():
                break
            time.sleep(rng.uniform(0, 0.02))
            res.attempts += 1
            if kind == "shicksd":
                t0 = time.monotonic()
                env.kill_shicksd()
                env.start()
                restarts.append(time.monotonic() - t0)
            else:
                pid, mark = env.kill_db()
                if pid is None:
                    res.fail("no-mariadbd", 1, "no mariadbd to kill")
                    continue
                try:
                    env.wait_db_restarted(mark, timeout=60)
                except AssertionError as e:
                    res.fail("db-not-restarted", 1, str(e)[:2000])
                    env.restart()
                    continue
                # No database at all: from its death until the next one is spawned.
                spawned = env.log_time(r"event=db\.managed\.start ", mark)
                outages.append((env.db_dead_at, spawned or env.db_dead_at))
        load.join(timeout=max(1, t_limit - (time.monotonic() - t_start)))
    finally:
        load.stop.set()
        load.join(timeout=60)
    elapsed = time.monotonic() - t_start
    accepted = set(load.accepted)
    unfinished = [t for t in sent if t not in accepted]
    res.fail("not-delivered", len(unfinished), f"{len(unfinished)} messages never got 250 within {t_limit} s")

    stored, dups = verify_mailbox(env, "crash", sent, accepted, res)
    refused = {}
    during = {}
    for tok, t0, t1, code, text in load.attempts:
        if code != 250:
            k = tally_key(code, text)
            refused[k] = refused.get(k, 0) + 1
            if code >= 500:
                res.fail("5xx", 1, f"{tok}: {code} {text}")
        if any(a <= t0 and t1 <= b for a, b in outages):  # begun and ended while no database ran
            k = tally_key(code, text)
            during[k] = during.get(k, 0) + 1
            if code == 250:
                res.fail("250-without-database", 1, f"{tok}: {text}")
    res.note(f"{len(accepted)} of {n} messages accepted over {sessions} sessions in {elapsed:.0f} s "
             f"({len(load.attempts)} attempts); shicksd killed {env.kills['shicksd']}x "
             f"(back up in {max(restarts or [0]):.1f} s at most), mariadbd killed {env.kills['mariadbd']}x")
    res.note(f"every 250 checked in the maildrop by byte comparison: lost {res.failures.get('lost', 0)}, "
             f"corrupted {res.failures.get('corrupted', 0)}, duplicates {dups} (allowed)")
    res.note(f"not 250 (retried): {fmt_tally(refused)}")
    res.note(f"transactions begun and ended while no mariadbd ran (from its death to the start of the next, "
             f"{len(outages)} outages, {sum(b - a for a, b in outages):.1f} s in all): {fmt_tally(during)}")
    return res


# ---------------------------------------------------------------- managed database dies

def probe_outage(env, user, until, res, stats, accepted=None):
    """While until() is false: SMTP transactions on fresh connections and POP3 logins,
    every answer tallied. A 250 or +OK is a failure, unless `accepted` is given: the
    database may answer a moment before the supervisor logs it back, so the subjects
    of 250s go there, to be looked for in the maildrop afterwards."""
    while not until():
        subject = f"outage-{stats['n']}"
        stats["n"] += 1
        code, text = env.send(f"{user}@{DOMAIN}", f"Subject: {subject}\r\n\r\nduring the outage\r\n".encode(),
                              timeout=20)
        if until():  # came back while the probe ran: no verdict
            if code == 250 and accepted is not None:
                accepted.append(subject)
            break
        res.attempts += 1
        k = tally_key(code, text)
        stats["smtp"][k] = stats["smtp"].get(k, 0) + 1
        if code == 250 and accepted is not None:
            accepted.append(subject)
        elif code == 250:
            res.fail("250-while-down", 1, text)
        elif code and not (code == 451 and "4.3.0" in text) and code != 421:
            res.fail("smtp-not-451", 1, f"{code} {text}")
        try:
            p = env.pop3(timeout=20)
            try:
                r = p.login(user, harness.PASSWORD)
            finally:
                p.close()
        except (OSError, EOFError) as e:
            r = f"connection: {e!r}"
        if until():
            break
        key = r.split(" ", 2)[0] + (" " + r.split(" ", 2)[1] if r.startswith("-ERR [") else "")
        stats["pop3"][key] = stats["pop3"].get(key, 0) + 1
        if r.startswith("+OK") and accepted is None:
            res.fail("pop3-ok-while-down", 1, r)
        elif r.startswith("-ERR") and "[SYS/TEMP]" not in r:
            res.fail("pop3-not-sys-temp", 1, r)
        time.sleep(0.1)


def managed_db_dies(env, size):
    res = Result()
    once = pick(size, 1, 3)
    env.add_user("down")
    stats = {"smtp": {}, "pop3": {}, "n": 0}
    notice, recover = [], []
    stored_before = []
    for i in range(once):
        code, _ = env.send(f"down@{DOMAIN}", f"Subject: before-{i}\r\n\r\nbefore {i}\r\n".encode())
        if code != 250:
            res.fail("no-250-before", 1, f"{code}")
        else:
            stored_before.append(f"before-{i}")
        t_kill = time.monotonic()
        pid, mark = env.kill_db()
        m = env.wait_log(rf"event=db\.managed\.exited pid={pid} ", timeout=30, start=mark)
        notice.append(time.monotonic() - t_kill)
        restarted = re.compile(r"event=db\.managed\.restarted ")
        probe_outage(env, "down", lambda: restarted.search(env.log(), mark), res, stats, stored_before)
        try:
            recover.append(env.wait_accepting("down", timeout=60) + (time.monotonic() - t_kill))
        except AssertionError as e:
            res.fail("no-recovery", 1, str(e)[:2000])
        del m
        time.sleep(1)

    # Repeatedly: the restarts cannot succeed (the socket's folder is a file now), so
    # shicksd must give up after five failures and exit 1 with db.managed.gave_up.
    run_dir = os.path.join(env.state_dir, "run")
    saved = run_dir + ".saved"
    t_kill = time.monotonic()
    pid, mark = env.kill_db()
    os.rename(run_dir, saved)
    with open(run_dir, "w") as f:
        f.write("not a folder\n")
    try:
        probe_outage(env, "down", lambda: not env.running() or "event=db.managed.gave_up" in env.log(), res, stats)
        try:
            rc = env.proc.wait(timeout=120)
        except Exception:  # noqa: BLE001
            rc = None
            res.fail("no-exit", 1, "shicksd still runs 120 s after its database stopped coming back")
            env.kill()
        gave_up = [l for l in env.log().splitlines() if "event=db.managed.gave_up" in l]
        res.attempts += 1
        if rc == 0 or rc is None:
            res.fail("exit-status", 1, f"shicksd exited {rc}")
        if len(gave_up) != 1:
            res.fail("no-gave-up-line", 1, env.log()[-2000:])
        gave_up_after = time.monotonic() - t_kill
        failures = re.search(r"failures=(\d+)", gave_up[0]).group(1) if gave_up else "?"
    finally:
        os.remove(run_dir)
        os.rename(saved, run_dir)
    fx.wait_until(lambda: not env.mariadbd_pids(), 30, 0.1, "mariadbd to be gone")
    env.start()
    try:
        env.wait_accepting("down", timeout=60)
    except AssertionError as e:
        res.fail("no-recovery", 1, str(e)[:2000])
    subjects = [token_of(m) for _, m in env.pop3_fetch("down")]
    missing = [s for s in stored_before if s not in subjects]
    res.fail("lost", len(missing), f"missing: {missing}")
    early = [x for x in stored_before if x.startswith("outage-")]
    res.note(f"kill -9 of mariadbd {once}x: noticed (db.managed.exited) after "
             f"{max(notice) * 1000:.0f} ms at most; 250 again {max(recover or [0]):.1f} s after the kill at most")
    res.note(f"restarts made to fail: shicksd exited {rc} with db.managed.gave_up failures={failures} "
             f"{gave_up_after:.1f} s after the kill; started again, it accepted mail")
    res.note(f"while down, SMTP: {fmt_tally(stats['smtp'])}; POP3 login: {fmt_tally(stats['pop3'])}"
             + (f"; {len(early)} probe(s) got 250 from a restarted database that answered before "
                "db.managed.restarted was logged (while the probe ran or just before), all stored"
                if early and not missing else ""))
    return res


# ---------------------------------------------------------------- POP3 deletion safety

def pop3_deletion(env, size):
    res = Result()
    runs = pick(size, 3, 200)
    per_run = 3
    env.setting("pop3.lease_seconds", 3)  # a lease left by a killed session frees soon
    figures = {}
    for mode in ("drop", "kill-shicksd", "kill-db", "quit"):
        user = f"dele-{mode}"
        env.add_user(user)
        figures[mode] = {"runs": 0, "removed": 0, "kept": 0, "quit": {}}
    t0 = time.monotonic()
    for mode in ("drop", "kill-shicksd", "kill-db", "quit"):
        user = f"dele-{mode}"
        f = figures[mode]
        for i in range(runs):
            for k in range(per_run):
                code, text = env.send(f"{user}@{DOMAIN}", f"Subject: {mode}-{i}-{k}\r\n\r\nrun {i}\r\n".encode())
                if code != 250:
                    env.wait_accepting(user)  # e.g. just after a database restart
                    code, _ = env.send(f"{user}@{DOMAIN}", f"Subject: {mode}-{i}-{k}\r\n\r\nrun {i}\r\n".encode())
                    if code != 250:
                        res.fail("delivery", 1, f"{mode} run {i}: {code} {text}")
            p = env.pop3(timeout=60)
            r = p.login(user, harness.PASSWORD)
            if not r.startswith("+OK"):
                res.fail("pop3-login", 1, r)
                p.close()
                continue
            _, listing = p.multi("UIDL")
            before = [line.split()[1].decode() for line in listing.split(b"\r\n") if line]
            for n in range(1, len(before) + 1):
                r = p.cmd(f"DELE {n}")
                if not r.startswith("+OK"):
                    res.fail("dele-refused", 1, r)
            res.attempts += 1
            f["runs"] += 1
            if mode == "drop":
                p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
                p.close()
            elif mode == "kill-shicksd":
                env.kill_shicksd()
                p.close()
                env.start()
            elif mode == "kill-db":
                # Five database failures within 60 s make shicksd give up, and its back-off
                # doubles with each: a fresh shicksd every second kill keeps outages short.
                if env.db_kills_this_run >= 2:
                    p.close()
                    env.restart()
                    p = env.pop3(timeout=60)
                    p.login(user, harness.PASSWORD)
                    p.multi("UIDL")
                    for n in range(1, len(before) + 1):
                        p.cmd(f"DELE {n}")
                pid, mark = env.kill_db()
                try:
                    r = p.cmd("QUIT")
                except (OSError, EOFError) as e:
                    r = f"connection: {e!r}"
                p.close()
                key = r.split(" ", 2)[0] + (" " + r.split(" ", 2)[1] if r.startswith("-ERR [") else "")
                f["quit"][key] = f["quit"].get(key, 0) + 1
                if r.startswith("+OK"):
                    res.fail("quit-ok-without-db", 1, r)
                env.wait_db_restarted(mark)
            else:
                r = p.cmd("QUIT")
                p.close()
                if not r.startswith("+OK"):
                    res.fail("quit-refused", 1, r)
            after = env.pop3_uidls(user)
            if mode == "quit":
                f["removed"] += len(set(before) - set(after))
                left = set(before) & set(after)
                res.fail("not-removed", len(left), f"run {i}: {sorted(left)} still there after QUIT")
            else:
                gone = set(before) - set(after)
                f["kept"] += len(set(before) & set(after))
                f["removed"] += len(gone)
                res.fail(f"removed-after-{mode}", len(gone), f"run {i}: {sorted(gone)} removed without QUIT")
        log(f"pop3 deletion: {mode} done ({runs} runs)")
    for mode, f in figures.items():
        if mode == "quit":
            res.note(f"QUIT: {f['runs']} runs, {f['removed']} messages removed, none left; a second session saw them gone")
        else:
            extra = f"; QUIT answered {fmt_tally(f['quit'])}" if f["quit"] else ""
            res.note(f"{mode}: {f['runs']} runs of DELE of every message, then the fault: "
                     f"{f['removed']} of {f['kept'] + f['removed']:,} marked messages removed (the maildrop "
                     f"grew by {per_run} a run){extra}")
    return res


# ---------------------------------------------------------------- disk full

MAX_MESSAGE = 1 << 20  # smtp.max_message_size_bytes on the small disk
RESERVE = 2 * MAX_MESSAGE + (64 << 20)  # what shicksd keeps free for InnoDB (shicksd(8))


def disk_full(env, size):
    res = Result()
    msg_size = pick(size, 32 << 10, 64 << 10)
    fill = pick(size, 8 << 20, 48 << 20)  # what the load has to fill above the reserve
    refusals_wanted = pick(size, 20, 200)
    env.stop()  # this scenario needs its own shicksd, with its state on the small disk
    mount = os.path.join(env.work, "disk")
    template = os.path.join(env.template, "mysql")
    need = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(template) for f in fs)
    mount_tmpfs(mount, need + RESERVE + fill + (64 << 20))
    try:
        # The whole state folder (data, socket, mariadbd's error log) on the small disk.
        state = os.path.join(mount, "state")
        d = Env(os.path.join(env.work, "df"), template=env.template, state_dir=state,
                overrides={"smtp.max_message_size_bytes": MAX_MESSAGE})
        try:
            disk_full_on(d, mount, msg_size, fill, refusals_wanted, res)
        finally:
            d.cleanup()
            fx.stop_state_dir_databases(state)
            errlog = os.path.join(state, "log", "mariadb.err")
            if os.path.exists(errlog):
                if "failed with error 28" in fx.read_text(errlog):
                    res.fail("db-out-of-space", 1, "mariadbd met ENOSPC (see mariadb.err)")
                shutil.copy(errlog, os.path.join(env.work, "mariadb.err"))  # kept with --keep
    finally:
        if not unmount(mount):
            res.fail("unmount", 1, f"cannot unmount {mount}")
    return res


def disk_full_on(env, mount, msg_size, fill, refusals_wanted, res):
    env.start()
    env.add_user("disk")
    rcpt = f"disk@{DOMAIN}"
    rng = random.Random(7)
    shicksd_pid, db_pid = env.pid, env.db_pid()
    ballast = os.path.join(mount, "ballast")
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.posix_fallocate(fd, 0, max(1, env.disk_usage() - RESERVE - fill))
    finally:
        os.close(fd)
    log(f"disk full: {env.disk_usage() >> 20} MiB left on {mount}, {RESERVE >> 20} MiB of them the reserve")
    cap = int(fill * 4 / msg_size) + refusals_wanted * 4
    sent = {}
    for i in range(cap):
        tok = f"disk-{i:05d}"
        sent[tok] = make_message(tok, rcpt, msg_size, rng)
    refused = {}

    def refusal(code, text):
        return code >= 400  # while the disk is full, a refusal is the answer we wait for

    load = Load(env, rcpt, sent, 4, time.monotonic() + 300, stop_on=refusal).start()
    while not load.done() and len(load.given_up) < refusals_wanted:
        time.sleep(0.05)
    load.stop.set()
    load.join(timeout=60)
    for tok, t0, t1, code, text in load.attempts:
        if code != 250:
            k = tally_key(code, text)
            refused[k] = refused.get(k, 0) + 1
            res.attempts += 1
            if not (code in (451, 452) or code == 0):
                res.fail("unexpected-reply", 1, f"{tok}: {code} {text}")
    accepted_full = set(load.accepted)
    if not load.given_up:
        res.fail("never-full", 1, "the disk never filled up")
    left = env.disk_usage()
    log(f"disk full: {len(accepted_full)} accepted, refusals {fmt_tally(refused)}, {left >> 20} MiB left")
    os.remove(ballast)
    try:
        recovered = env.wait_accepting("disk", timeout=60)
    except AssertionError as e:
        res.fail("not-recovered", 1, str(e)[:2000])
        recovered = None
    after = {}
    for i in range(20):
        tok = f"disk-after-{i:03d}"
        after[tok] = make_message(tok, rcpt, msg_size, rng)
    load2 = Load(env, rcpt, after, 2, time.monotonic() + 120).start()
    load2.join(timeout=130)
    res.fail("refused-after-free", len(after) - len(load2.accepted))
    if env.pid != shicksd_pid or not env.running():
        res.fail("shicksd-restarted", 1, "shicksd is not the same process")
    if env.db_pid() != db_pid:
        res.fail("db-crashed", 1, "mariadbd is not the same process")
    sent.update(after)
    accepted = accepted_full | set(load2.accepted)
    _, dups = verify_mailbox(env, "disk", sent, accepted, res)
    res.note(f"{len(accepted_full)} messages of {msg_size >> 10} KiB accepted until the disk was full "
             f"({left >> 20} MiB still free), then refused: {fmt_tally(refused)}")
    res.note(f"space freed: 250 again after {recovered or 0:.1f} s, same shicksd, "
             f"{'same' if env.db_pid() == db_pid else 'a restarted'} mariadbd; "
             f"{len(load2.accepted)} of {len(after)} more accepted")
    res.note(f"every 250 in the maildrop as sent: lost {res.failures.get('lost', 0)}, "
             f"corrupted {res.failures.get('corrupted', 0)}, duplicates {dups}")


SCENARIOS = [
    ("crash-during-load", crash_during_load),
    ("managed-db-dies", managed_db_dies),
    ("pop3-deletion", pop3_deletion),
    ("disk-full", disk_full),
]
