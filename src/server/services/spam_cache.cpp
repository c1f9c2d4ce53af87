#include "server/services/spam_cache.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "common/log.hpp"
#include "server/spam/matcher.hpp"
#include "server/services/context.hpp"
#include "server/spam/subject.hpp"
#include "server/store/admin_store.hpp"
#include "server/store/spam_store.hpp"

#ifndef SHICKS_DATADIR_FROM_SBINDIR
#define SHICKS_DATADIR_FROM_SBINDIR "../share/shicks"
#endif

namespace shicks::services {
namespace fs = std::filesystem;

SpamCache::SpamCache(store::DbPool& pool)
    : matcher_(std::make_shared<const spam::Matcher>(std::vector<std::string>{})),
      refresher_(pool, "spam keywords refresh", [this](store::Connection& c) { refresh(c); },
                 [](const store::DbFailure& f) { log::debug("spam.refresh_failed").kv("error", f.message); }) {}

void SpamCache::refresh(store::Connection& c) {
  std::lock_guard lock(refresh_mu_);
  const std::uint64_t version = store::spam_keywords_version(c);
  if (version_ == version) return;
  const auto keywords = store::spam_keywords(c);
  auto m = std::make_shared<const spam::Matcher>(keywords);
  for (std::size_t i : m->rejected())
    log::warn("spam.keyword_unusable")
        .kv("keyword", keywords[i])
        .kv("reason", spam::keyword_error(keywords[i]).value_or("?"));
  log::info("spam.keywords").kv("count", m->size()).kv("version", version);
  matcher_.store(std::move(m));
  version_ = version;
}

// ---------------------------------------------------------------- the SMTP side

namespace {
SpamVerdict::Action parse_action(const std::string& v) {
  if (v == "reject") return SpamVerdict::reject;
  if (v == "off") return SpamVerdict::off;
  return SpamVerdict::tag;  // the default; the store only accepts the three values
}
const char* action_name(SpamVerdict::Action a) {
  switch (a) {
    case SpamVerdict::tag: return "tag";
    case SpamVerdict::reject: return "reject";
    case SpamVerdict::off: break;
  }
  return "off";
}
}  // namespace

SpamVerdict check_spam(const SpamCache& spam, const SettingsCache& settings, Stats& stats, const std::string& sid,
                       std::string_view message, const std::string& envelope_from) {
  SpamVerdict v;
  v.action = parse_action(settings.get(config::setting::spam_action));
  if (v.action == SpamVerdict::off) return v;
  auto subject = spam::extract_subject(message);
  if (!subject) return v;
  auto hit = spam.matcher()->match(*subject);
  if (!hit) return v;
  v.keyword = std::move(hit->keyword);
  stats.spam_hits++;
  if (v.rejected()) stats.spam_rejected++;
  Published(stats, log::Level::info, sid, "spam.hit")
      .kv("keyword", v.keyword)
      .kv("action", action_name(v.action))
      .kv("from", envelope_from);
  return v;
}

void SpamHitJob::operator()(store::Connection& c) const { store::count_spam_hit(c, keyword); }

// ---------------------------------------------------------------- the default list

fs::path installed_default_keywords() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return (exe.parent_path() / SHICKS_DATADIR_FROM_SBINDIR / "spam-keywords.txt").lexically_normal();
}

void import_default_keywords(store::Connection& c, const config::Config& cfg) {
  fs::path file = cfg.spam.default_keywords_file;
  if (file.empty()) file = installed_default_keywords();
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    log::warn("spam.defaults_missing")
        .kv("file", file.string())
        .kv("effect", "no default spam keywords (shicksctl spam import adds a list)");
    return;
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto keywords = spam::keyword_lines(text.str());
  if (keywords.empty()) {
    log::info("spam.defaults").kv("file", file.string()).kv("imported", 0);
    return;
  }
  auto r = admin::import_keywords(c, keywords);
  if (!r) {
    log::warn("spam.defaults_refused").kv("file", file.string()).kv("reason", r.error());
    return;
  }
  log::info("spam.defaults").kv("file", file.string()).kv("imported", r->added);
}

}  // namespace shicks::services
