#!/usr/bin/env python3
"""Every #include of the sources points down a layer.

The layers, lowest first, are those written at the top of CMakeLists.txt and in the
README's source tour. A file may include a file of a lower layer, or of its own
folder in its own layer; an include that points up a layer, or sideways into another folder of the
same layer, is reported with the file and line. Run: tests/layers/check.py [SRC]
(--self-test checks that an upward include is caught).
"""
import fnmatch
import os
import re
import sys
import tempfile

# (layer, name, patterns relative to src/). The first pattern that matches a file
# decides its layer, so the I/O files of a protocol folder come before the folder.
LAYERS = [
    (1, "common", ["common/*", "shicks/*"]),  # shicks/version.hpp is generated from common/
    (2, "control", ["control/*"]),
    (2, "config", ["server/config/*"]),
    (3, "mail", ["server/mail/*"]),
    (4, "auth", ["server/auth/*"]),
    (4, "spam", ["server/spam/*"]),
    (8, "sessions", ["server/smtp/session.*", "server/pop3/session.*",
                     "server/relay/queue_runner.*", "server/relay/smtp_client.*"]),
    (5, "protocol cores", ["server/smtp/*", "server/pop3/*", "server/relay/*", "server/admin/*"]),
    (6, "net", ["server/net/*"]),
    (6, "store", ["server/store/*"]),
    (7, "services", ["server/services/*"]),
    (9, "daemon", ["server/daemon/*"]),
    (10, "programs", ["server/main.cpp", "ctl/*", "tui/*"]),
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(path):
    for number, name, patterns in LAYERS:
        if any(fnmatch.fnmatchcase(path, p) for p in patterns):
            return number, name
    return None


def check(src):
    problems = []
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith((".cpp", ".hpp", ".hpp.in")):
                continue
            path = os.path.relpath(os.path.join(root, f), src)
            mine = layer_of(path)
            if mine is None:
                problems.append(f"src/{path}: in no layer (add it to tests/layers/check.py and CMakeLists.txt)")
                continue
            with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
                for lineno, line in enumerate(fh, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = m.group(1)
                    theirs = layer_of(target)
                    if theirs is None:
                        problems.append(f"src/{path}:{lineno}: includes {target}, which is in no layer")
                        continue
                    if theirs == mine and os.path.dirname(target) == os.path.dirname(path):
                        continue  # its own folder, its own layer
                    if theirs[0] >= mine[0]:
                        way = "up" if theirs[0] > mine[0] else "sideways"
                        problems.append(f"src/{path}:{lineno}: includes {target}: points {way} "
                                        f"(layer {mine[0]} {mine[1]} -> layer {theirs[0]} {theirs[1]})")
    return problems


def self_test():
    with tempfile.TemporaryDirectory() as d:
        def write(rel, text):
            os.makedirs(os.path.join(d, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(d, rel), "w") as fh:
                fh.write(text)
        write("common/a.hpp", "#pragma once\n")
        write("server/mail/b.hpp", '#include "common/a.hpp"\n#include "server/mail/c.hpp"\n')
        write("server/mail/c.hpp", "#pragma once\n")
        write("server/smtp/session.cpp", '#include "server/smtp/protocol.hpp"\n')
        write("server/smtp/protocol.hpp", '#include "server/mail/b.hpp"\n')
        if check(d):
            print("self-test: a tree whose includes all point down was refused:", check(d))
            return 1
        write("server/mail/d.cpp", '#include "server/services/context.hpp"\n')
        write("server/smtp/protocol.cpp", '#include "server/smtp/session.hpp"\n')
        write("server/net/e.cpp", '#include "server/store/f.hpp"\n')
        got = check(d)
        want = ["src/server/mail/d.cpp:1: includes server/services/context.hpp: points up",
                "src/server/net/e.cpp:1: includes server/store/f.hpp: points sideways",
                "src/server/smtp/protocol.cpp:1: includes server/smtp/session.hpp: points up"]
        for w in want:
            if not any(p.startswith(w) for p in got):
                print(f"self-test: not reported: {w}\n  got: {got}")
                return 1
    print("self-test: upward and sideways includes are reported")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "src")
    problems = check(os.path.normpath(src))
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} include(s) break the layers (see the top of CMakeLists.txt)")
        return 1
    print("every include points down a layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
