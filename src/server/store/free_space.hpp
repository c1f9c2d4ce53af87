#pragma once
// The free space of the managed database's file system, checked before a message is
// handed to the database. InnoDB does not fail gracefully on a full disk: a
// transaction cut off by ENOSPC must be rolled back, the rollback itself may need
// pages, and mariadbd then aborts ("[FATAL] InnoDB: Error (Out of disk space) in
// rollback"), crash recovery follows, and five such crashes within a minute make
// shicksd give up. So mail is refused (452 4.3.1) while less than a reserve is free,
// and accepted again, without a restart, once there is room (as Postfix does with
// queue_minfree).
#include <atomic>
#include <cstdint>
#include <filesystem>

namespace shicks::store {

class FreeSpaceGuard {
 public:
  // `path`: a folder on the database's file system; refuse below `min_free_bytes`.
  FreeSpaceGuard(std::filesystem::path path, std::uint64_t min_free_bytes);

  // The reserve for messages of at most `max_message_bytes`: room for two of them
  // and 64 MiB for InnoDB (the next extension of a tablespace, undo, rollback).
  static std::uint64_t reserve_for(std::uint64_t max_message_bytes);

  // True when there is room for a message. Thread-safe; one statvfs(2) a call. Logs
  // the change (db.disk_low / db.disk_ok) once per change, not per message. A file
  // system that cannot be examined counts as having room (the database will say).
  bool room() const;

  std::uint64_t min_free_bytes() const { return min_free_; }

 private:
  std::filesystem::path path_;
  std::uint64_t min_free_;
  mutable std::atomic<bool> low_{false};
};

}  // namespace shicks::store
