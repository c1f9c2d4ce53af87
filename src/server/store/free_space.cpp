#include "server/store/free_space.hpp"

#include <sys/statvfs.h>

#include <utility>

#include "common/log.hpp"

namespace shicks::store {

FreeSpaceGuard::FreeSpaceGuard(std::filesystem::path path, std::uint64_t min_free_bytes)
    : path_(std::move(path)), min_free_(min_free_bytes) {}

std::uint64_t FreeSpaceGuard::reserve_for(std::uint64_t max_message_bytes) {
  return 2 * max_message_bytes + (std::uint64_t(64) << 20);
}

bool FreeSpaceGuard::room() const {
  struct statvfs st {};
  if (::statvfs(path_.c_str(), &st) != 0) return true;
  std::uint64_t free = std::uint64_t(st.f_bavail) * st.f_frsize;
  bool low = free < min_free_;
  if (low_.exchange(low) != low) {
    log::Event e(low ? log::Level::warn : log::Level::info, low ? "db.disk_low" : "db.disk_ok");
    e.kv("path", path_.string()).kv("free_bytes", free).kv("min_free_bytes", min_free_);
    if (low) e.kv("action", "refusing mail with 452 4.3.1");
  }
  return !low;
}

}  // namespace shicks::store
