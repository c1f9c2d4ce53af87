#pragma once
// The spam keywords as the SMTP sessions see them: one immutable Matcher, replaced
// as a whole when the list changes. The list is read at start, whenever the
// 'spam_keywords' change counter moved (polled every few seconds, so a change made
// by another daemon on the same database is seen), and at once after a change made
// through this daemon's control socket. The Matcher is built on the thread that
// read the list -- a DB worker, or the main thread at start -- never on a network
// thread.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <asio/io_context.hpp>

#include "server/config/config.hpp"
#include "server/services/refresher.hpp"
#include "server/spam/matcher.hpp"
#include "server/store/db_pool.hpp"

namespace shicks::services {

class SettingsCache;
class Stats;

class SpamCache {
 public:
  explicit SpamCache(store::DbPool& pool);

  // Reads the list again when its change counter differs from the one the current
  // Matcher was built from. Safe on any thread; refreshes run one at a time.
  // Throws DbError.
  void refresh(store::Connection& c);
  std::shared_ptr<const spam::Matcher> matcher() const { return matcher_.load(); }

  // Polls every `interval` until stop().
  void start(asio::io_context& io, std::chrono::seconds interval) { refresher_.start(io, interval); }
  void stop() { refresher_.stop(); }

 private:
  std::mutex refresh_mu_;
  std::optional<std::uint64_t> version_;  // of the current Matcher; refresh_mu_
  std::atomic<std::shared_ptr<const spam::Matcher>> matcher_;
  Refresher refresher_;
};

// The filter's decision on one received message.
struct SpamVerdict {
  enum Action { off, tag, reject } action = off;  // spam.action when the message ended
  std::string keyword;                             // the keyword that matched; "" = none
  bool tagged() const { return action == tag && !keyword.empty(); }
  bool rejected() const { return action == reject && !keyword.empty(); }
};

// Matches the Subject of `message` (its header section is enough) unless
// spam.action is off. A hit is logged and emitted (event spam.hit: keyword, action,
// from) and counted in Stats; its count in the database is the caller's part
// (MailStore::deliver for tagged mail, SpamHitJob for rejected mail).
SpamVerdict check_spam(const SpamCache& spam, const SettingsCache& settings, Stats& stats, const std::string& sid,
                       std::string_view message, const std::string& envelope_from);

// Counts the hit of a rejected message (a job for store::async_run).
struct SpamHitJob {
  std::string keyword;
  void operator()(store::Connection& c) const;
};

// First start: imports the default keyword list into an empty, newly created
// schema. `file` is [spam] default_keywords_file, or when empty the list installed
// with shicksd (<prefix>/share/shicks/spam-keywords.txt, found from the
// executable's own path). A missing or unreadable file is logged, not fatal.
void import_default_keywords(store::Connection& c, const config::Config& cfg);

// The installed default keyword list, from the running executable's path.
std::filesystem::path installed_default_keywords();

}  // namespace shicks::services
