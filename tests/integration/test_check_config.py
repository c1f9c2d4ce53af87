"""shicksd's command line and `--check-config`: every problem as FILE:LINE: message,
exit codes 0 / 64 (usage) / 78 (configuration), relative paths."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

EX_USAGE = 64
EX_CONFIG = 78


def shicksd(*args, cwd=None, timeout=30):
    p = subprocess.run([fx.shicksd_path(), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def project_version():
    with open(os.path.join(fx.source_dir(), "CMakeLists.txt")) as f:
        m = re.search(r"project\(\s*shicks\s+VERSION\s+([0-9.]+)", f.read(), re.I)
    return m.group(1) if m else "0.1.0"


class CheckConfig(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cc", dir=fx.test_tmp())
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, text, name="shicks.toml"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def check(self, text):
        path = self.write(text)
        rc, out, err = shicksd("-c", path, "--check-config")
        return path, rc, out, err

    def assertProblem(self, err, path, line, *fragments):
        """stderr has a line `path:line: ...` containing every fragment."""
        prefix = f"{path}:{line}: "
        for l in err.splitlines():
            if l.startswith(prefix) and all(f in l for f in fragments):
                return
        self.fail(f"no line {prefix}... with {fragments} in stderr:\n{err}")

    def test_repository_config_is_valid(self):
        rc, out, err = shicksd("-c", os.path.join(fx.source_dir(), "shicks.toml"), "--check-config")
        self.assertEqual(rc, 0, err)
        self.assertIn("valid", out)

    def test_generated_test_config_is_valid(self):
        d = fx.Daemon(self, create_db=False)
        rc, out, err = shicksd("-c", d.config_file, "--check-config")
        self.assertEqual(rc, 0, err)

    def test_unknown_key(self):
        text = ('[server]\nhostname = "mx.example.org"\n\n'
                '[smtp]\nlisten = ["127.0.0.1:2525"]\nbogus = 1\n')
        path, rc, out, err = self.check(text)
        self.assertEqual(rc, EX_CONFIG, err)
        self.assertProblem(err, path, 6, "unknown key smtp.bogus")

    def test_unknown_section(self):
        text = '[server]\nhostname = "mx.example.org"\n\n[bogus]\nx = 1\n'
        path, rc, out, err = self.check(text)
        self.assertEqual(rc, EX_CONFIG, err)
        self.assertProblem(err, path, 4, "unknown section", "bogus")

    def test_every_bad_value_reported_in_one_run(self):
        text = "\n".join([
            '[server]',                                   # 1
            'hostname = "mx.example.org"',                # 2
            'log_level = "loud"',                         # 3 bad log level
            'threads = -1',                               # 4 negative number
            'shutdown_timeout_seconds = "ten"',           # 5 wrong type
            '',                                           # 6
            '[database]',                                 # 7
            'mode = "external"',                          # 8
            'user = "shicks"',                            # 9
            'password = "secret"',                        # 10
            'password_file = "db.pass"',                  # 11 both password and password_file
            '',                                           # 12
            '[smtp]',                                     # 13
            'listen = ["127.0.0.1:70000"]',               # 14 port out of range
            'trusted_networks = ["10.0.0.0/33"]',         # 15 bad CIDR
            'max_recipients = 1.5',                       # 16 wrong type
            '',                                           # 17
            '[pop3]',                                     # 18
            'listen = "127.0.0.1:110"',                   # 19 not a list
        ]) + "\n"
        path, rc, out, err = self.check(text)
        self.assertEqual(rc, EX_CONFIG, err)
        self.assertProblem(err, path, 3, "server.log_level")
        self.assertProblem(err, path, 4, "server.threads")
        self.assertProblem(err, path, 5, "server.shutdown_timeout_seconds")
        self.assertTrue(any(l.startswith((f"{path}:10: ", f"{path}:11: ")) and "password_file" in l
                            and "password" in l.replace("password_file", "") for l in err.splitlines()), err)
        self.assertProblem(err, path, 14, "smtp.listen", "70000")
        self.assertProblem(err, path, 15, "smtp.trusted_networks", "10.0.0.0/33")
        self.assertProblem(err, path, 16, "smtp.max_recipients")
        self.assertProblem(err, path, 19, "pop3.listen")
        self.assertNotIn("password = ", err)
        self.assertNotIn("secret", err, "a password must not be echoed")

    def test_toml_syntax_error(self):
        text = '[server]\nhostname = "mx.example.org"\nthreads = = 3\n\n[smtp]\nlisten = []\n'
        path, rc, out, err = self.check(text)
        self.assertEqual(rc, EX_CONFIG, err)
        self.assertRegex(err, rf"(?m)^{re.escape(path)}:3: ")

    def test_missing_file(self):
        path = os.path.join(self.dir, "missing.toml")
        rc, out, err = shicksd("-c", path, "--check-config")
        self.assertEqual(rc, EX_CONFIG, err)
        self.assertIn(path, err)
        rc, out, err = shicksd("-c", path)
        self.assertEqual(rc, EX_CONFIG, err)

    def test_errors_without_check_config_also_exit_78(self):
        path = self.write('[server]\nbogus = 1\n')
        rc, out, err = shicksd("-c", path)
        self.assertEqual(rc, EX_CONFIG, err)
        self.assertProblem(err, path, 2, "unknown key server.bogus")
        self.assertNotIn("up & running", out)


class CommandLine(unittest.TestCase):
    def test_no_config_is_usage_error(self):
        rc, out, err = shicksd()
        self.assertEqual(rc, EX_USAGE, out + err)
        self.assertIn("-c", out + err)

    def test_unknown_option_is_usage_error(self):
        rc, out, err = shicksd("--no-such-option")
        self.assertEqual(rc, EX_USAGE, out + err)

    def test_version(self):
        rc, out, err = shicksd("--version")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), f"shicksd {project_version()}")
        self.assertRegex(out.strip(), r"^shicksd \d+\.\d+\.\d+$")

    def test_help(self):
        rc, out, err = shicksd("--help")
        self.assertEqual(rc, 0, err)
        self.assertIn("--check-config", out)
        self.assertIn("-c", out)


class RelativePaths(unittest.TestCase):
    def test_relative_to_the_config_folder(self):
        d = fx.Daemon(self, overrides={
            "server.control_socket": "run/ctl.sock",
            "server.state_dir": "state",
            "tls.cert_file": "tls/cert.pem",
            "tls.key_file": "tls/key.pem",
        })
        os.makedirs(os.path.join(d.dir, "tls"))
        shutil.copy(d.cert_file, os.path.join(d.dir, "tls", "cert.pem"))
        shutil.copy(d.key_file, os.path.join(d.dir, "tls", "key.pem"))
        elsewhere = tempfile.mkdtemp(prefix="cwd", dir=fx.test_tmp())
        self.addCleanup(shutil.rmtree, elsewhere, True)

        expected = os.path.join(d.dir, "run", "ctl.sock")
        self.assertEqual(d.control_socket, expected)
        rc, out, err = shicksd("-c", d.config_file, "--check-config", cwd=elsewhere)
        self.assertEqual(rc, 0, err)
        d.start(cwd=elsewhere)
        self.assertIn(f"control socket is up & running on {expected}", d.stdout().splitlines())
        self.assertTrue(os.path.exists(expected))
        self.assertFalse(os.path.exists(os.path.join(elsewhere, "run")))
        rc, out, err = d.ctl("status")
        self.assertEqual(rc, 0, err)
        self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(expected))


if __name__ == "__main__":
    unittest.main(verbosity=2)
