#pragma once
// What every session of shicksd shares. Owned by the daemon's Runtime; sessions hold
// a reference for their whole life (they end before the Runtime does).
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include <asio/io_context.hpp>
#include <asio/ssl/context.hpp>

#include "server/auth/throttle.hpp"
#include "server/config/config.hpp"
#include "server/services/address_cache.hpp"
#include "server/services/maildrop_waiters.hpp"
#include "server/services/pop3_leases.hpp"
#include "server/services/settings_cache.hpp"
#include "server/services/spam_cache.hpp"
#include "server/services/stats.hpp"
#include "server/net/session_registry.hpp"
#include "server/store/db_pool.hpp"
#include "server/store/delivery_batcher.hpp"

namespace shicks::services {

// Per-IP cap on concurrent connections (one for the SMTP listeners together, one
// for the POP3 ones).
class ConnectionLimiter {
 public:
  explicit ConnectionLimiter(unsigned per_ip) : per_ip_(per_ip) {}
  bool acquire(const std::string& ip) {
    std::lock_guard lock(mu_);
    unsigned& n = counts_[ip];
    if (n >= per_ip_) return false;
    ++n;
    return true;
  }
  void release(const std::string& ip) {
    std::lock_guard lock(mu_);
    auto it = counts_.find(ip);
    if (it != counts_.end() && --it->second == 0) counts_.erase(it);
  }

 private:
  unsigned per_ip_;
  std::mutex mu_;
  std::map<std::string, unsigned> counts_;
};

struct ServerContext {
  asio::io_context& io;
  const config::Config& cfg;
  Stats& stats;
  store::DbPool& pool;
  SettingsCache& settings;
  auth::Throttle& throttle;
  ConnectionLimiter& limiter;       // SMTP
  ConnectionLimiter& pop3_limiter;  // POP3
  net::SessionRegistry& sessions;
  MaildropWaiters& maildrop_waiters;  // POP3 logins waiting for a maildrop in use
  Pop3Leases& pop3_leases;            // the maildrop leases of this daemon's POP3 sessions
  asio::ssl::context* tls;  // null: no certificate, no TLS
  SpamCache& spam;
  store::DeliveryBatcher& deliveries;  // end of DATA: group commit of accepted messages
  AddressCache& addresses;             // RCPT: local answers remembered
  std::function<void()> wake_relay;  // tells the relay queue runner that mail was queued
};

}  // namespace shicks::services
