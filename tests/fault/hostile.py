"""Hostile clients: SMTP smuggling through every end-of-data look-alike, commands
injected behind STARTTLS/STLS, open-relay address forms from an untrusted address,
and sessions of garbage. What shicksd(8) promises ("only CRLF.CRLF ends DATA",
"plaintext pipelined behind STARTTLS is discarded", "a non-local recipient only from
a trusted network or an authenticated session"), checked at volume.

Each scenario is function(env, size) -> Result; size is "smoke" or "full"."""

import random
import re
import socket
import ssl
import threading
import time

from harness import DOMAIN, PASSWORD, Result, log, token_of
import shicks_fixture as fx


def pick(size, smoke, full):
    return smoke if size == "smoke" else full


def fmt_tally(t, limit=8):
    items = sorted(t.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{k} x{v}" for k, v in items[:limit])
    if len(items) > limit:
        text += f", ... ({len(items) - limit} more)"
    return text or "none"


def run_parallel(jobs, fn, workers):
    """fn(job) for every job on `workers` threads; exceptions are returned in place."""
    out = [None] * len(jobs)
    it = iter(enumerate(jobs))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                try:
                    i, job = next(it)
                except StopIteration:
                    return
            try:
                out[i] = fn(job)
            except Exception as e:  # noqa: BLE001 -- the caller tallies it
                out[i] = e
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


# ---------------------------------------------------------------- a byte-level client

class Wire:
    """A byte-level client socket (optionally from a given loopback source address)
    that reads whole SMTP replies or POP3 lines, and can be wrapped in TLS."""

    def __init__(self, port, source=None, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """One SMTP reply: (code, [lines])."""
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if not re.match(rb"^\d{3}[ -]", line + b" "):
                return 0, lines
            if line[3:4] != b"-":
                return int(line[:3]), lines

    def cmd(self, data):
        self.send(data + b"\r\n")
        return self.reply()

    def starttls(self):
        ctx = fx.unverified_tls_context()
        self.sock = ctx.wrap_socket(self.sock)

    def drain(self, timeout):
        """Everything the server sends until it closes or is quiet for `timeout` s."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
        except (socket.timeout, OSError):
            pass
        data, self.buf = self.buf, b""
        return data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def smtp_open(env, service="smtp", tls=False, source=None, ehlo=b"EHLO client.fault.example"):
    w = Wire(env.ports[service], source=source)
    code, _ = w.reply()
    if code != 220:
        raise AssertionError(f"greeting {code}")
    if ehlo:
        code, lines = w.cmd(ehlo)
        if code != 250:
            raise AssertionError(f"EHLO {code}")
    if tls:
        code, _ = w.cmd(b"STARTTLS")
        if code != 220:
            raise AssertionError(f"STARTTLS {code}")
        w.starttls()
        code, _ = w.cmd(ehlo)
        if code != 250:
            raise AssertionError(f"EHLO after STARTTLS {code}")
    return w


def healthy(env, user):
    """A normal session still works: one message to `user` gets 250 and the POP3
    login of `user` works. Returns None or what went wrong."""
    code, text = env.send(f"{user}@{DOMAIN}", b"Subject: health\r\n\r\nstill here\r\n", timeout=20)
    if code != 250:
        return f"SMTP {code} {text}"
    try:
        env.pop3_uidls(user, timeout=30)
    except Exception as e:  # noqa: BLE001
        return f"POP3 {e}"
    return None


# ---------------------------------------------------------------- 1. smtp-smuggling

LEADS = [b"\r\n", b"\n", b"\r"]
TRAILS = [b"\n", b"\r", b"\r\n", b"\x00\r\n", b"\x00", b"\x01\r\n", b" \r\n", b"\t\r\n", b"\x7f\r\n",
          b"\xff\r\n", b"\r\r\n", b"\x0b\r\n", b"\x0c\r\n"]
SEPARATORS = [lead + b"." + trail for lead in LEADS for trail in TRAILS if (lead, trail) != (b"\r\n", b"\r\n")]
POSITIONS = ["data-start", "after-headers", "after-lines"]
# The smuggled transaction, in the forms a receiving server could be tricked into
# reading as commands ({T} is the token, {R} the second local recipient).
SMUGGLED = [
    b"MAIL FROM:<evil@smuggler.test>\r\nRCPT TO:<{R}>\r\nDATA\r\nSubject: smuggled-{T}\r\n\r\nevil {T}\r\n",
    b"mail from:<evil@smuggler.test>\r\nrcpt to:<{R}>\r\ndata\r\nSubject: smuggled-{T}\r\n\r\nevil {T}\r\n",
    b"MAIL FROM:<evil@smuggler.test>\nRCPT TO:<{R}>\nDATA\nSubject: smuggled-{T}\n\nevil {T}\n",
    b"RSET\r\nMAIL FROM:<evil@smuggler.test>\r\nRCPT TO:<{R}>\r\nDATA\r\nSubject: smuggled-{T}\r\n\r\nevil {T}\r\n",
    b"EHLO smuggler.test\r\nMAIL FROM:<> BODY=8BITMIME\r\nRCPT TO:<{R}>\r\nDATA\r\nSubject: smuggled-{T}\r\n\r\nevil {T}\r\n",
]


def smuggle_variants(size):
    variants = []
    for si, sep in enumerate(SEPARATORS):
        for pos in POSITIONS:
            for pipelined in (True, False):
                for tls in (False, True):
                    for mi in range(len(SMUGGLED)):
                        variants.append((si, pos, pipelined, tls, mi))
    if size == "smoke":
        rng = random.Random(5)
        rng.shuffle(variants)
        variants = variants[:50]
    return variants


def smuggle_body(token, sep, pos, smuggled):
    header = b"From: <sender@remote.test>\r\nSubject: carrier-" + token + b"\r\n"
    if pos == "data-start":
        # The look-alike's line end stands for the end of the (empty) previous line.
        data = sep + smuggled + header + b"\r\ncarrier " + token + b"\r\n"
    elif pos == "after-headers":
        data = header + sep + smuggled + b"\r\ncarrier " + token + b"\r\n"
    else:
        data = header + b"\r\ncarrier " + token + b"\r\nline two\r\n.stuffed line\r\nlast" + sep + smuggled
    # The real end of data on a line of its own, whatever line end the smuggled part used.
    return data + b"\r\n.\r\n"


def smtp_smuggling(env, size):
    res = Result()
    env.add_user("alice")
    env.add_user("bob")
    rcpt_a, rcpt_b = f"alice@{DOMAIN}".encode(), f"bob@{DOMAIN}".encode()
    variants = smuggle_variants(size)
    outcomes = {}

    def one(job):
        i, (si, pos, pipelined, tls, mi) = job
        token = f"s{i:05d}".encode()
        sep = SEPARATORS[si]
        smuggled = SMUGGLED[mi].replace(b"{T}", token).replace(b"{R}", rcpt_b)
        data = smuggle_body(token, sep, pos, smuggled)
        head = b"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<" + rcpt_a + b">\r\nDATA\r\n"
        w = smtp_open(env, tls=tls)
        try:
            if pipelined:
                w.send(head + data + b"QUIT\r\n")
                replies = []
                while True:
                    try:
                        code, _ = w.reply()
                    except (EOFError, OSError):
                        break
                    replies.append(code)
                    if code == 221:
                        break
            else:
                replies = [w.cmd(line)[0] for line in head.split(b"\r\n")[:3]]
                # The data in pieces, cut after every CR and LF, each its own write.
                for piece in re.split(rb"(?<=[\r\n])", data):
                    if piece:
                        w.send(piece)
                        time.sleep(0.001)
                replies.append(w.reply()[0])
                replies.append(w.cmd(b"QUIT")[0])
            return ",".join(str(c) for c in replies)
        finally:
            w.close()

    results = run_parallel(list(enumerate(variants)), one, workers=4)
    by_sep = {}
    for (si, pos, pipelined, tls, mi), r in zip(variants, results):
        res.attempts += 1
        key = repr(r) if isinstance(r, Exception) else r
        if isinstance(r, Exception):
            res.fail("session", 1, f"{SEPARATORS[si]!r} {pos} pipelined={pipelined} tls={tls}: {r!r}")
        outcomes[key] = outcomes.get(key, 0) + 1
        by_sep.setdefault(SEPARATORS[si], {}).setdefault(key, 0)
        by_sep[SEPARATORS[si]][key] += 1

    smuggled = 0
    found = {"alice": 0, "bob": 0}
    intact = 0
    for user in ("alice", "bob"):
        for _, msg in env.pop3_fetch(user, timeout=300):
            found[user] += 1
            tok = token_of(msg) or ""
            m = re.search(rb"carrier (s\d{5})", msg)
            if user == "alice" and m:
                ok = b"evil " + m.group(1) in msg
                intact += ok
                if not ok:
                    res.fail("truncated", 1, f"accepted without its smuggled text: {msg[:600]!r}")
            if user == "bob" or tok.startswith("smuggled-") or b"\r\nSubject: smuggled-" in msg.split(b"\r\n\r\n", 1)[0]:
                smuggled += 1
                res.fail("smuggled", 1, f"{user} holds {msg[:300]!r}")
    res.note(f"{len(variants)} variants: {len(SEPARATORS)} look-alikes x {len(POSITIONS)} positions x "
             f"pipelined/line by line x plaintext/STARTTLS x {len(SMUGGLED)} smuggled forms"
             if size == "full" else f"{len(variants)} variants drawn from the full matrix")
    res.note(f"replies (MAIL,RCPT,DATA,end of data,QUIT): {fmt_tally(outcomes)}")
    for code in sorted({r.split(",")[3] for r in outcomes if r.count(",") >= 3}):
        seps = sorted({repr(sep)[1:] for sep, t in by_sep.items() for k in t if k.split(",")[3:4] == [code]})
        res.note(f"end of data {code} for: {' '.join(seps)}")
    res.note(f"stored: alice {found['alice']} carrier message(s) ({intact} holding the smuggled part as text), "
             f"bob {found['bob']}; smuggled {smuggled}")
    return res


# ---------------------------------------------------------------- 2. starttls-injection

SMTP_INJECT = [b"NOOP\r\n", b"MAIL FROM:<inj@x.test>\r\n", b"RSET\r\nNOOP\r\n", b"HELP\r\n",
               b"QUIT\r\n", b"VRFY bob\r\n", b"EHLO injected.test\r\nMAIL FROM:<inj@x.test>\r\nRCPT TO:<bob@"
               + DOMAIN.encode() + b">\r\n"]
POP3_INJECT = [b"USER bob\r\nPASS " + PASSWORD.encode() + b"\r\n", b"NOOP\r\n", b"QUIT\r\n", b"CAPA\r\n",
               b"USER bob\r\n", b"STAT\r\n"]


def split_segments(data, how, rng):
    if how == "one":
        return [data]
    if how == "lines":
        return [p for p in re.split(rb"(?<=\n)", data) if p]
    cuts = sorted(rng.sample(range(1, len(data)), min(3, len(data) - 1)))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


def smtp_replies(data):
    """Splits bytes into SMTP replies; (count, malformed)."""
    n, bad = 0, False
    for line in data.split(b"\r\n"):
        if not line:
            continue
        if not re.match(rb"^\d{3}([ -]|$)", line):
            bad = True
        elif line[3:4] != b"-":
            n += 1
    return n, bad


def injection_session(env, job):
    """One session; returns 'ok', 'answered ...', or another outcome word."""
    service, inject, how, seed = job
    rng = random.Random(seed)
    pop = service == "pop3"
    w = Wire(env.ports[service])
    try:
        if pop:
            if not w.line().startswith(b"+OK"):
                return "greeting"
            verb = b"STLS\r\n"
        else:
            if w.reply()[0] != 220 or w.cmd(b"EHLO client.fault.example")[0] != 250:
                return "greeting"
            verb = b"STARTTLS\r\n"
        try:
            for piece in split_segments(verb + inject, how, rng):
                w.send(piece)
            first = w.line()
        except (EOFError, OSError):
            # the server switched to TLS and dropped the plaintext as a bad handshake
            return "handshake failed"
        if pop and not first.startswith(b"+OK") or not pop and not first.startswith(b"220"):
            return "refused " + first[:20].decode("ascii", "replace")
        if w.buf:
            return "answered before TLS"
        try:
            w.starttls()
        except (ssl.SSLError, OSError):
            return "handshake failed"
        w.send(b"CAPA\r\nQUIT\r\n" if pop else b"EHLO after.fault.example\r\nQUIT\r\n")
        data = w.drain(5)
        if pop:
            lines = [l for l in data.split(b"\r\n")]
            if lines and lines[-1] == b"":
                lines.pop()
            # exactly: +OK (CAPA), capability lines, ".", +OK (QUIT)
            if not lines or not lines[0].startswith(b"+OK"):
                return "answered " + (lines[0][:30].decode("ascii", "replace") if lines else "nothing")
            try:
                end = lines.index(b".")
            except ValueError:
                return "answered (no CAPA end)"
            body = lines[1:end]
            if any(l.startswith((b"+OK", b"-ERR")) for l in body) or lines[end + 1:] != lines[end + 1:end + 2] \
                    or not lines[end + 1:] or not lines[end + 1].startswith(b"+OK"):
                return "answered " + repr(data[:60])
            return "ok"
        n, bad = smtp_replies(data)
        if not data:
            return "closed in TLS"
        if bad or n != 2 or not data.startswith(b"250-") or b"\r\n221" not in data:
            return "answered " + repr(data[:60])
        return "ok"
    except (EOFError, OSError) as e:
        return f"connection {type(e).__name__}"
    finally:
        w.close()


def starttls_injection(env, size):
    res = Result()
    env.add_user("bob")
    n = pick(size, 20, 1000)
    rng = random.Random(11)
    jobs = []
    for i in range(n):
        service = ("smtp", "submission", "pop3")[i % 3]
        inject = rng.choice(POP3_INJECT if service == "pop3" else SMTP_INJECT)
        jobs.append((service, inject, ("one", "lines", "random")[(i // 3) % 3], i))
    results = run_parallel(jobs, lambda j: injection_session(env, j), workers=4)
    tally = {}
    answered = 0
    for job, r in zip(jobs, results):
        res.attempts += 1
        r = repr(r) if isinstance(r, Exception) else r
        key = f"{job[0]} {r.split(' ')[0] if r.startswith('answered') else r}"
        tally[key] = tally.get(key, 0) + 1
        if r.startswith("answered"):
            answered += 1
            res.fail("answered", 1, f"{job[0]} {job[1]!r} segments={job[2]}: {r}")
        elif (r == "handshake failed" or r.startswith("connection")) and job[2] != "one":
            pass  # plaintext that arrived after the 220 is read as TLS records: nothing answered
        elif r != "ok":
            res.fail("other", 1, f"{job[0]} {job[1]!r} segments={job[2]}: {r}")
    res.note(f"{n} sessions (smtp, submission, pop3; in one segment, line by line, cut at random)")
    res.note(f"outcomes: {fmt_tally(tally)}")
    res.note("a failed handshake or dropped connection had plaintext arrive after the 220 (read as TLS "
             "records): a failure only for the single-segment sessions")
    res.note(f"answered inside TLS: {answered}; injection events logged: "
             f"{len(re.findall(r'(starttls|stls)_injection', env.log()))}")
    err = healthy(env, "bob")
    if err:
        res.fail("unhealthy", 1, err)
    return res


# ---------------------------------------------------------------- 3. open-relay

UNTRUSTED = "127.0.0.2"


def relay_forms():
    L = DOMAIN
    domains = ["victim.test", "VICTIM.TEST", "Victim.Test.", "xn--bcher-kva.test", "b\u00fccher.test",
               "[192.0.2.7]", "[IPv6:2001:db8::7]", "sub." + L, L + ".victim.test"]
    patterns = ["u@{D}", "u%{D}@{L}", "u%{D}@{LU}", "@{L}:u@{D}", "@{L},@relay.test:u@{D}",
                "\"u@{D}\"@{L}", "{D}!u@{L}", "\"u\"@{D}", "u@{D}.", "\"u%{D}\"@{L}", "U%{D}@{L}.",
                "\u00fc%{D}@{L}"]
    forms = []
    for d in domains:
        for p in patterns:
            forms.append(p.replace("{D}", d).replace("{LU}", L.upper()).replace("{L}", L))
    forms += [f"victim.test!u", f"victim.test!{L}!u", f"u@victim.test@{L}", f"u%victim.test%{L}@{L}",
              f"u@[127.0.0.2]", f"postmaster@victim.test", f"u@{L}x", f"u@x{L}", f"u@{L[:-1]}",
              f"\"u\\@victim.test\"@{L}", f"u\\@victim.test@{L}", f"u@victim.test:25",
              f"u@victim.test>", f"u@victim.test> NOTIFY=NEVER",
              f"u@\uff56ictim.test", f"\u00fc@victim.test", f"bob@{L}@victim.test"]
    return forms


def relay_rcpt(env, form, source):
    """One session from `source`: MAIL (SMTPUTF8 when needed), RCPT TO:<form>; (code, line)."""
    utf8 = any(ord(c) > 127 for c in form)
    w = smtp_open(env, source=source)
    try:
        mail = b"MAIL FROM:<sender@remote.test>" + (b" SMTPUTF8" if utf8 else b"")
        code, lines = w.cmd(mail)
        if code != 250:
            return code, b"MAIL: " + lines[-1]
        raw = form.encode("utf-8")
        rcpt = b"RCPT TO:" + (raw if raw.endswith(b"NEVER") or raw.endswith(b">") else b"<" + raw + b">")
        if raw.endswith(b"NEVER") or raw.endswith(b">"):
            rcpt = b"RCPT TO:<" + raw
        code, lines = w.cmd(rcpt)
        try:
            w.cmd(b"RSET")
            w.cmd(b"QUIT")
        except (EOFError, OSError):
            pass
        return code, lines[-1]
    finally:
        w.close()


def open_relay(env, size):
    res = Result()
    env.add_user("bob")
    # 127.0.0.1 stays trusted (the positive control); mail from 127.0.0.2 is not.
    env.set("smtp.trusted_networks", ["127.0.0.1/32", "::1/128"])
    env.restart()
    forms = relay_forms()
    if size == "smoke":
        forms = forms[::4]
    dead_port = fx.free_ports(1)[0]  # nothing listens: queued mail stays deferred on loopback
    tally = {}
    for relay in (False, True):
        if relay:
            env.ctlx("relay", "set", "--host", "127.0.0.1", "--port", str(dead_port), "--tls", "none")
        else:
            env.ctl("relay", "clear")
        for form in forms:
            res.attempts += 1
            try:
                code, line = relay_rcpt(env, form, UNTRUSTED)
            except Exception as e:  # noqa: BLE001
                res.fail("session", 1, f"{form!r}: {e!r}")
                continue
            m = re.match(rb"\d{3} (\d\.\d+\.\d+)", line)
            key = f"{code} {m.group(1).decode()}" if m else str(code)
            tally[key] = tally.get(key, 0) + 1
            if code == 250 or 200 <= code < 300:
                res.fail("accepted", 1, f"relay={'set' if relay else 'none'} RCPT TO:<{form}> from {UNTRUSTED}: {line!r}")
    # Positive control: the same check sees a relay when one is allowed.
    code, line = relay_rcpt(env, "u@victim.test", "127.0.0.1")
    control = "250 from the trusted 127.0.0.1 with a relay set" if code == 250 else f"{code} {line!r}"
    if code != 250:
        res.fail("control", 1, f"trusted relay control got {code} {line!r}")
    code, _ = relay_rcpt(env, f"bob@{DOMAIN}", UNTRUSTED)
    if code != 250:
        res.fail("control", 1, f"local delivery from {UNTRUSTED} got {code}")
    # A source route to a local mailbox is delivered locally (RFC 5321 C: the route is
    # ignored), never queued for the relay.
    routed = f"@victim.test,@relay.test:bob@{DOMAIN}"
    w = smtp_open(env, source=UNTRUSTED)
    try:
        codes = [w.cmd(b"MAIL FROM:<sender@remote.test>")[0], w.cmd(b"RCPT TO:<" + routed.encode() + b">")[0]]
        if codes[-1] == 250:
            codes.append(w.cmd(b"DATA")[0])
            codes.append(w.cmd(b"Subject: routed-local\r\n\r\nrouted\r\n.")[0])
        w.cmd(b"QUIT")
    finally:
        w.close()
    queued = env.relay_queue()
    local = sum(1 for _, m in env.pop3_fetch("bob") if token_of(m) == "routed-local")
    if queued:
        res.fail("relayed", len(queued), f"relay queue: {queued}")
    env.ctl("relay", "clear")
    res.note(f"{len(forms)} address forms x (no relay, relay set), RCPT from untrusted {UNTRUSTED} without AUTH")
    res.note(f"replies: {fmt_tally(tally)}")
    res.note(f"control: {control}; local bob@{DOMAIN} from {UNTRUSTED}: {code}; <{routed}> from {UNTRUSTED}: "
             f"{','.join(map(str, codes))}, {local} stored for bob; relay queue at the end: {len(queued)} rows")
    return res


# ---------------------------------------------------------------- 4. garbage

SMTP_SESSION = [b"EHLO client.fault.example", b"MAIL FROM:<sender@remote.test> SIZE=100 BODY=8BITMIME",
                b"RCPT TO:<bob@" + DOMAIN.encode() + b">", b"DATA", b"Subject: g\r\n\r\nbody\r\n.",
                b"AUTH PLAIN AGJvYgB4", b"VRFY bob", b"BDAT 5 LAST", b"HELP", b"RSET", b"NOOP", b"STARTTLS", b"QUIT"]
POP3_SESSION = [b"CAPA", b"USER bob", b"PASS wrong-password", b"APOP bob 0123456789abcdef0123456789abcdef",
                b"AUTH PLAIN", b"STAT", b"LIST", b"RETR 1", b"TOP 1 0", b"UIDL 1", b"DELE 1", b"RSET", b"NOOP",
                b"STLS", b"QUIT"]
SPECIAL = [b"\x00", b"\r", b"\n", b"\xff", b"\x16\x03\x01", b"%n%s", b"A" * 5000, b"\r\n.\r\n", b" ", b":", b"<",
           b">", b"\x80\x81", b"\xc0\xaf"]


def mutate(rng, lines):
    lines = [bytearray(l) for l in rng.sample(lines, rng.randint(1, len(lines)))]
    for _ in range(rng.randint(1, 6)):
        l = rng.choice(lines)
        op = rng.randrange(6)
        if op == 0 and l:
            l[rng.randrange(len(l))] = rng.randrange(256)
        elif op == 1:
            l[rng.randint(0, len(l)):rng.randint(0, len(l))] = rng.choice(SPECIAL)
        elif op == 2 and l:
            del l[rng.randrange(len(l))]
        elif op == 3:
            lines.append(bytearray(rng.choice(lines)) * rng.randint(1, 50))
        elif op == 4:
            lines.insert(rng.randrange(len(lines) + 1), bytearray(rng.choice(SPECIAL)))
        else:
            l[:] = l.swapcase()
    ends = [b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b""]
    return b"".join(bytes(l) + rng.choice(ends) for l in lines)


def garbage_session(env, job):
    seed, service = job
    rng = random.Random(seed)
    if rng.random() < 0.3:
        data = bytes(rng.randrange(256) for _ in range(rng.choice([1, 16, 200, 3000, 70000])))
    else:
        data = mutate(rng, POP3_SESSION if service == "pop3" else SMTP_SESSION)
    source = f"127.0.{rng.randint(1, 200)}.{rng.randint(2, 250)}"  # failed logins ban sources, not 127.0.0.1
    try:
        s = socket.create_connection(("127.0.0.1", env.ports[service]), timeout=5, source_address=(source, 0))
    except OSError as e:
        return f"connect {type(e).__name__}"
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pieces = [data] if rng.random() < 0.5 else [data[i:i + 97] for i in range(0, len(data), 97)]
        for p in pieces:
            s.sendall(p)
        if rng.random() < 0.7:
            s.shutdown(socket.SHUT_WR)
        s.settimeout(2)
        got = 0
        try:
            while got < 1 << 20:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += len(chunk)
        except (socket.timeout, OSError):
            pass
        return "ok"
    except OSError:
        return "ok"  # the server closed on us mid-send: allowed
    finally:
        s.close()


def garbage(env, size):
    res = Result()
    env.add_user("bob")
    n = pick(size, 50, 5000)
    batch = pick(size, 25, 250)
    services = ["smtp", "submission", "pop3"]
    tally = {}
    for start in range(0, n, batch):
        jobs = [(seed, services[seed % 3]) for seed in range(start, min(n, start + batch))]
        for r in run_parallel(jobs, lambda j: garbage_session(env, j), workers=8):
            r = repr(r) if isinstance(r, Exception) else r
            tally[r] = tally.get(r, 0) + 1
            res.attempts += 1
        if not env.running():
            res.fail("down", 1, f"shicksd exited in the batch from seed {start}: {env.log()[-2000:]}")
            env.restart()
            continue
        err = healthy(env, "bob")
        if err:
            res.fail("unhealthy", 1, f"after the batch from seed {start}: {err}")
    res.note(f"{n} sessions ({n // batch} batches; 30% random bytes, the rest mutated SMTP/POP3 sessions)")
    res.note(f"client side: {fmt_tally(tally)}; after every batch: up, a 250 and a POP3 login")
    return res


# ---------------------------------------------------------------- 5. brute-force

def counter(env, name):
    def find(o):
        if isinstance(o, dict):
            if name in o and isinstance(o[name], int):
                return o[name]
            for v in o.values():
                r = find(v)
                if r is not None:
                    return r
        return None
    return find(env.ctl_json("status"))


def smtp_auth_try(env, source, user, password):
    """One AUTH PLAIN on submission from `source`; (first reply line, seconds for AUTH)."""
    import base64
    w = smtp_open(env, service="submission", tls=True, source=source)
    try:
        blob = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
        t0 = time.monotonic()
        code, lines = w.cmd(b"AUTH PLAIN " + blob)
        return lines[-1].decode("utf-8", "replace"), time.monotonic() - t0
    finally:
        w.close()


def pop3_try(env, source, user, password):
    """USER/PASS from `source`; (PASS reply, seconds for PASS)."""
    w = Wire(env.ports["pop3"], source=source, timeout=30)
    try:
        w.line()
        w.send(f"USER {user}\r\n".encode())
        w.line()
        t0 = time.monotonic()
        w.send(f"PASS {password}\r\n".encode())
        line = w.line()
        return line.decode("utf-8", "replace"), time.monotonic() - t0
    finally:
        w.close()


def reply_kind(line):
    m = re.match(r"(\d{3} \d\.\d+\.\d+|[+-]\w+(?: \[[A-Z/-]+\])?)", line)
    return m.group(1) if m else line[:20]


def brute_force(env, size):
    res = Result()
    env.add_user("bob")
    ban = pick(size, 4, 20)
    env.setting("auth.ban_seconds", ban)
    seconds = pick(size, 8, 60)
    attacker = "127.0.0.3"
    checks0 = counter(env, "auth_checks")
    # 300 wrong passwords a minute: one attempt every 0.2 s, SMTP AUTH and POP3 in turn,
    # each on its own connection (a delayed attempt does not hold back the next).
    results, lock, threads = [], threading.Lock(), []

    def attempt(i):
        fn = smtp_auth_try if i % 2 == 0 else pop3_try
        try:
            line, dt = fn(env, attacker, "bob", f"wrong-{i}")
        except Exception as e:  # noqa: BLE001
            line, dt = f"error {type(e).__name__}", 0.0
        with lock:
            results.append(("smtp" if i % 2 == 0 else "pop3", reply_kind(line), dt))
    t_end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < t_end:
        t = threading.Thread(target=attempt, args=(i,), daemon=True)
        t.start()
        threads.append(t)
        i += 1
        time.sleep(0.2)
    for t in threads:
        t.join(60)
    checked = counter(env, "auth_checks") - checks0
    res.attempts += len(results)
    tally = {}
    for proto, kind, _ in results:
        tally[f"{proto} {kind}"] = tally.get(f"{proto} {kind}", 0) + 1
    accepted = [r for r in results if r[1].startswith(("235", "+OK"))]
    if accepted:
        res.fail("accepted", len(accepted), "a wrong password was accepted")
    # Five failures (auth.max_failures) per ban window at most; the goal, at
    # most 30 a minute, is the full size's (60 s, bans of 20 s: at most 20).
    goal = min(5 * (seconds // ban + 1), 30 * max(1, seconds // 60))
    if checked > goal:
        res.fail("checked", 1, f"{checked} passwords reached the hash check in {seconds} s (goal <= {goal:.0f})")
    delays = sorted(dt for _, _, dt in results)
    res.note(f"{len(results)} wrong passwords in {seconds} s from {attacker} (300/min, SMTP AUTH and POP3); "
             f"reached the hash check: {checked} (goal <= {goal:.0f}); auth.ban_seconds {ban}")
    res.note(f"replies: {fmt_tally(tally)}; reply time median {delays[len(delays) // 2]:.2f} s, "
             f"max {delays[-1]:.2f} s")
    # After the ban: the right password works again.
    time.sleep(ban + 1)
    line, _ = pop3_try(env, attacker, "bob", PASSWORD)
    if not line.startswith("+OK"):
        res.fail("locked-out", 1, f"right password {ban + 1} s after the last failure: {line}")
    line2, _ = smtp_auth_try(env, attacker, "bob", PASSWORD)
    if not line2.startswith("235"):
        res.fail("locked-out", 1, f"right password over SMTP AUTH after the ban: {line2}")
    res.note(f"after the ban, right password: POP3 {reply_kind(line)}, SMTP AUTH {reply_kind(line2)}")
    # Known and unknown names: the same reply, the same time. Each try from a fresh
    # source address so no delay of the throttle applies.
    n = pick(size, 10, 60)
    timing = {"known": [], "unknown": []}
    texts = {"known": set(), "unknown": set()}
    for j in range(n):
        for who, name in (("known", "bob"), ("unknown", f"nobody{j}")):
            src = f"127.0.{50 + (2 * j + (who == 'unknown')) // 250}.{2 + (2 * j + (who == 'unknown')) % 250}"
            fn = pop3_try if j % 2 else smtp_auth_try
            line, dt = fn(env, src, name, "wrong-password")
            timing[who].append(dt)
            texts[who].add(("pop3 " if j % 2 else "smtp ") + line)
    med = {k: sorted(v)[len(v) // 2] for k, v in timing.items()}
    diff_ms = abs(med["known"] - med["unknown"]) * 1000
    if texts["known"] != texts["unknown"]:
        res.fail("enumeration", 1, f"replies differ: known {texts['known']} unknown {texts['unknown']}")
    if diff_ms >= 5 and size == "full":  # ten tries each (smoke) are too few to judge 5 ms
        res.fail("timing", 1, f"median known {med['known'] * 1000:.1f} ms, unknown {med['unknown'] * 1000:.1f} ms")
    res.attempts += 2 * n
    res.note(f"known vs unknown name ({n} each): same replies {texts['known'] == texts['unknown']}; "
             f"median {med['known'] * 1000:.1f} ms vs {med['unknown'] * 1000:.1f} ms (difference {diff_ms:.1f} ms, goal < 5)")
    return res


# ---------------------------------------------------------------- 6. slow-clients

def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def slow_clients(env, size):
    """Slowloris: n clients that connect and send one byte now and then, never a whole
    command in time, fill the server's connection cap (the default 1000 at full size).
    Under stress (server.stress_timeout_seconds) they must be closed within seconds,
    so a legitimate client that is turned away at first (421 4.7.0, -ERR [SYS/TEMP])
    gets in soon, and then sends and fetches at normal speed beside them."""
    import resource
    res = Result()
    env.add_user("bob")
    n = pick(size, 40, 1000)
    every = pick(size, 1.0, 10.0)
    messages = pick(size, 10, 100)
    stress_timeout = pick(size, 2, 10)
    if size != "full":  # the smoke fills a small server the same way
        env.set("server.max_connections", n)
        env.set("server.stress_timeout_seconds", stress_timeout)
        env.restart()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 512)), hard))
    rss0 = rss_kib(env.pid)
    slow = []
    t_flood = time.monotonic()
    for i in range(n):
        service = "smtp" if i % 2 == 0 else "pop3"
        src = f"127.0.{100 + i // 250}.{2 + i % 250}"
        try:
            s = socket.create_connection(("127.0.0.1", env.ports[service]), timeout=10, source_address=(src, 0))
            s.setblocking(False)
            slow.append([s, b"NOOP\r\n", 0])
        except OSError as e:
            res.fail("connect", 1, f"slow client {i}: {e!r}")
    stop = threading.Event()
    dropped = [0]

    def dribble():
        while not stop.is_set():
            for c in slow:
                if c[0] is None:
                    continue
                try:
                    try:
                        while True:
                            chunk = c[0].recv(65536)
                            if not chunk:
                                raise ConnectionResetError("closed by the server")
                    except BlockingIOError:
                        pass
                    c[0].send(c[1][c[2] % len(c[1]):][:1])
                    c[2] += 1
                except OSError:
                    c[0].close()
                    c[0] = None
                    dropped[0] += 1
            stop.wait(every)
    t = threading.Thread(target=dribble, daemon=True)
    t.start()
    # Every slow client accepted (not only queued in the listen backlog) first.
    try:
        fx.wait_until(lambda: env.ctl_json("status")["counters"]["connections_open"] >= len(slow) - dropped[0], 60,
                      interval=0.2, what="the slow clients accepted")
    except AssertionError as e:
        res.note(str(e).splitlines()[0])
    t_full = time.monotonic() - t_flood
    # Turned away while the slow clients hold every place, then let in.
    refused, first_in = 0, None
    deadline = time.monotonic() + stress_timeout + 30
    while first_in is None and time.monotonic() < deadline:
        code, text = env.send(f"bob@{DOMAIN}", b"Subject: slow-probe\r\n\r\nprobe\r\n", timeout=30)
        if code == 250:
            first_in = time.monotonic() - t_flood
        else:
            refused += 1
            time.sleep(0.5)
    if first_in is None:
        res.fail("locked-out", 1, f"no message accepted within {stress_timeout + 30} s of the flood ({refused} refusals)")
    elif first_in > stress_timeout + 5:
        res.fail("locked-out", 1, f"first message accepted {first_in:.1f} s after the flood began")
    lat = []
    rss_peak = rss_kib(env.pid)
    t0 = time.monotonic()
    for k in range(messages if first_in is not None else 0):
        a = time.monotonic()
        code, text = env.send(f"bob@{DOMAIN}", f"Subject: slow-{k}\r\n\r\nbody {k}\r\n".encode(), timeout=30)
        lat.append(time.monotonic() - a)
        if code != 250:
            res.fail("send", 1, f"message {k}: {code} {text}")
        a = time.monotonic()
        for _ in range(120):  # near the cap a place may be free only a moment later
            p = env.pop3(timeout=30)
            if p.greeting.startswith(b"+OK"):
                break
            refused += 1
            p.close()
            time.sleep(0.5)
        try:
            if not p.login("bob", PASSWORD).startswith("+OK"):
                res.fail("fetch", 1, f"login {k}")
            else:
                status, raw = p.multi(f"RETR {k + 2}")  # 1 is the probe
                if not status.startswith("+OK") or f"slow-{k}".encode() not in raw:
                    res.fail("fetch", 1, f"RETR {k + 2}: {status}")
                p.cmd("QUIT")
        finally:
            p.close()
        lat.append(time.monotonic() - a)
        rss_peak = max(rss_peak, rss_kib(env.pid))
        res.attempts += 2
    # Keep the remaining slow clients a while longer at the smallest sizes so bytes keep dribbling.
    while time.monotonic() - t0 < 3 * every:
        time.sleep(0.5)
    stop.set()
    t.join(every + 5)
    alive = sum(1 for c in slow if c[0] is not None)
    for c in slow:
        if c[0] is not None:
            c[0].close()
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("inf")
    if p99 >= 2.0:
        res.fail("slow", 1, f"p99 {p99:.2f} s")
    if not env.running():
        res.fail("down", 1, "shicksd exited")
    cap = n if size != "full" else 1000
    res.note(f"{n} clients (SMTP and POP3, {cap} places: the server is full) sending one byte every "
             f"{every:.0f} s; server.stress_timeout_seconds {stress_timeout}")
    if first_in is not None:
        res.note(f"all slow clients accepted {t_full:.1f} s after the flood began; legitimate client: turned away "
                 f"{refused} times in all, first message accepted {first_in:.1f} s after the flood began; then {messages} messages sent and fetched, median "
                 f"{lat[len(lat) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (goal < 2 s), max {lat[-1] * 1000:.0f} ms")
    res.note(f"slow clients closed by the server {dropped[0]} (until the server was below its stress level), "
             f"still connected at the end {alive} (they get the full command timeout)")
    res.note(f"shicksd RSS {rss0 // 1024} MiB before, {rss_peak // 1024} MiB at the peak")
    return res


SCENARIOS = [
    ("smtp-smuggling", smtp_smuggling),
    ("starttls-injection", starttls_injection),
    ("open-relay", open_relay),
    ("garbage", garbage),
    ("brute-force", brute_force),
    ("slow-clients", slow_clients),
]
