"""The managed MariaDB is sized for its machine and its data: a new database gets a
32 MiB buffer pool and small caches for what Shicks does not use (so the whole
private server needs some 60 MiB at rest), a database that holds more starts with a
pool a quarter larger than its data, database.managed_memory_mb bounds that, and
database.buffer_pool_bytes fixes it. The plan is logged.

Expectations: shicks.toml(5) managed_memory_mb, buffer_pool_bytes."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shicks_fixture as fx  # noqa: E402

MiB = 1 << 20


class AutoSized(fx.ManagedDaemon):
    """A managed daemon without the fixture's fixed 16 MiB pool."""

    def __init__(self, testcase, database=None, **kw):
        self._database = database or {}
        super().__init__(testcase, **kw)

    def base_sections(self):
        s = super().base_sections()
        del s["database"]["buffer_pool_bytes"]
        s["database"].update(self._database)
        return s


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


class ManagedMemory(unittest.TestCase):
    def variable(self, d, name):
        return int(d.sql_rows(f"SELECT @@{name}")[0][0])

    def plan(self, d, start=0):
        m = d.wait_log(r"event=db\.managed\.memory buffer_pool_mib=(\d+) budget_mib=(\d+) data_mib=(\d+) "
                       r"machine_mib=(\d+) sizing=(\S+)", start=start)
        return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(5)

    def test_a_new_database_is_small(self):
        d = AutoSized(self)
        d.start()
        pool, budget, data, sizing = self.plan(d)
        self.assertEqual((pool, sizing), (32, "automatic"))
        self.assertGreaterEqual(budget, 64)
        self.assertEqual(self.variable(d, "innodb_buffer_pool_size"), 32 * MiB)
        self.assertEqual(self.variable(d, "key_buffer_size"), MiB)
        self.assertEqual(self.variable(d, "performance_schema"), 0)
        self.assertEqual(self.variable(d, "query_cache_size"), 0)
        # A default MariaDB holds about 100 MiB at rest; the managed one, much less.
        (pid,) = d.mariadbd_pids()
        self.assertLess(rss_mib(pid), 90)

    def test_the_pool_follows_the_data_and_its_bounds(self):
        d = AutoSized(self)
        d.start()
        d.sql("CREATE TABLE filler (id INT PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB")
        for i in range(60):
            d.sql(f"INSERT INTO filler VALUES ({i}, REPEAT('x', 1048576))")
        d.stop()
        # At the next start (a log of its own): a quarter more than the data, in steps of 8 MiB.
        d.start()
        pool, budget, data, sizing = self.plan(d)
        self.assertGreaterEqual(data, 60)
        want = max(32, -(-int(data * 1.25) // 8) * 8)
        self.assertIn(pool, (want, want + 8))  # data_mib is rounded down in the log
        self.assertEqual(self.variable(d, "innodb_buffer_pool_size"), pool * MiB)
        d.stop()
        # managed_memory_mb bounds it.
        d._database = {"managed_memory_mb": 64}
        d.write_config()
        d.start()
        pool, budget, data, sizing = self.plan(d)
        self.assertEqual((pool, budget, sizing), (64, 64, "database.managed_memory_mb"))
        self.assertEqual(self.variable(d, "innodb_buffer_pool_size"), 64 * MiB)
        d.stop()
        # buffer_pool_bytes fixes it, whatever the data.
        d._database = {"buffer_pool_bytes": 24 * MiB}
        d.write_config()
        d.start()
        pool, budget, data, sizing = self.plan(d)
        self.assertEqual((pool, sizing), (24, "database.buffer_pool_bytes"))
        self.assertEqual(self.variable(d, "innodb_buffer_pool_size"), 24 * MiB)

    def test_both_keys_together_are_refused(self):
        d = AutoSized(self, database={"managed_memory_mb": 128, "buffer_pool_bytes": 64 * MiB})
        rc, out, err = d.run_to_exit(args=("--check-config",))
        self.assertEqual(rc, 78, (out, err))  # EX_CONFIG, as every configuration error
        line = fx.key_line(d.config_text(), "database", "buffer_pool_bytes")
        self.assertIn(f"shicks.toml:{line}: database.buffer_pool_bytes fixes the buffer pool", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
