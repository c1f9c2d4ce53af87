#include "server/daemon/daemon.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/ssl/context.hpp>
#include <fmt/core.h>

#include "common/log.hpp"
#include "server/services/context.hpp"
#include "server/daemon/control_server.hpp"
#include "server/services/settings_cache.hpp"
#include "server/services/spam_cache.hpp"
#include "server/daemon/listeners.hpp"
#include "server/daemon/privileges.hpp"
#include "server/services/stats.hpp"
#include "server/net/tls.hpp"
#include "server/relay/queue_runner.hpp"
#include "server/store/db_pool.hpp"
#include "server/store/free_space.hpp"
#include "server/store/managed_db.hpp"
#include "server/store/migrations.hpp"
#include "server/store/schema.hpp"
#include "server/store/settings_store.hpp"
#include "shicks/version.hpp"

namespace shicks::daemon {
namespace fs = std::filesystem;

namespace {

store::ConnectOptions external_options(const config::Config& cfg) {
  const auto& d = cfg.database;
  store::ConnectOptions o;
  o.host = d.host;
  o.port = d.port;
  o.socket = d.socket.string();
  o.user = d.user;
  o.password = d.password;
  o.database = d.name;
  o.connect_timeout_seconds = d.connect_timeout_seconds;
  o.read_timeout_seconds = d.read_timeout_seconds;
  o.write_timeout_seconds = d.write_timeout_seconds;
  if (!d.password_file.empty()) {
    std::ifstream in(d.password_file);
    if (!in)
      throw StartupError(fmt::format("{}database.password_file: cannot read {}", cfg.where("database.password_file"),
                                     d.password_file.string()));
    std::getline(in, o.password);
    if (!o.password.empty() && o.password.back() == '\r') o.password.pop_back();
  }
  return o;
}

// TLS 1.2 or newer, AEAD suites only (net/tls.hpp; design.md 8). Returns null when no certificate is configured and
// no listener needs one (STARTTLS is then not offered).
std::unique_ptr<asio::ssl::context> load_tls(const config::Config& cfg) {
  bool needed = !cfg.smtp.smtps_listen.empty() || !cfg.pop3.pop3s_listen.empty();
  bool present = fs::exists(cfg.tls.cert_file) && fs::exists(cfg.tls.key_file);
  if (!present) {
    if (needed) {
      const char* key = fs::exists(cfg.tls.cert_file) ? "tls.key_file" : "tls.cert_file";
      const fs::path& file = fs::exists(cfg.tls.cert_file) ? cfg.tls.key_file : cfg.tls.cert_file;
      throw StartupError(fmt::format("{}{}: {} does not exist (needed by the implicit-TLS listeners; scripts/run "
                                     "creates a self-signed one for development)",
                                     cfg.where(key), key, file.string()));
    }
    log::warn("tls.none").kv("cert_file", cfg.tls.cert_file.string()).kv("effect", "no TLS offered");
    return nullptr;
  }
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds);
  net::apply_tls_policy(*ctx, net::TlsRole::server);
  std::error_code ec;
  ctx->use_certificate_chain_file(cfg.tls.cert_file.string(), ec);
  if (ec)
    throw StartupError(fmt::format("{}tls.cert_file: cannot load {}: {}", cfg.where("tls.cert_file"),
                                   cfg.tls.cert_file.string(), ec.message()));
  ctx->use_private_key_file(cfg.tls.key_file.string(), asio::ssl::context::pem, ec);
  if (ec)
    throw StartupError(fmt::format("{}tls.key_file: cannot load {}: {}", cfg.where("tls.key_file"),
                                   cfg.tls.key_file.string(), ec.message()));
  return ctx;
}

// Keys whose new value takes effect at SIGHUP; every other change needs a restart.
bool reloadable(const std::string& key) { return key == "server.log_level"; }

class Runtime {
 public:
  explicit Runtime(config::Config cfg) : cfg_(std::move(cfg)) {}

  int run() {
    log::Level lvl = log::Level::info;
    log::parse_level(cfg_.server.log_level, lvl);
    log::set_level(lvl);
    ::signal(SIGPIPE, SIG_IGN);
    raise_open_files_limit();

    unsigned threads = cfg_.server.threads ? cfg_.server.threads : std::max(1u, std::thread::hardware_concurrency());
    asio::io_context io{static_cast<int>(threads)};
    // Created first so that a signal arriving during start-up is kept, not fatal.
    asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);

    log::info("start").kv("version", kVersion).kv("config", cfg_.file.string()).kv("pid", ::getpid());
    std::unique_ptr<store::ManagedDatabase> managed;
    std::unique_ptr<store::DbPool> pool;
    std::unique_ptr<store::FreeSpaceGuard> disk_guard;   // managed mode: the data folder's disk
    std::unique_ptr<store::DeliveryBatcher> deliveries;  // uses pool (stopped explicitly first)
    std::unique_ptr<asio::ssl::context> tls;
    std::unique_ptr<services::SettingsCache> settings;
    std::unique_ptr<services::SpamCache> spam;
    std::unique_ptr<services::AddressCache> addresses;
    std::unique_ptr<services::Pop3Leases> pop3_leases;
    std::unique_ptr<services::ServerContext> ctx;
    std::unique_ptr<Listeners> listeners;
    std::unique_ptr<ControlServer> control;
    std::unique_ptr<relay::QueueRunner> runner;
    try {
      // What needs root comes first: the key file, the sockets (design.md 8). The
      // database is opened only once shicksd runs as server.user.
      auto account = account_to_become(cfg_);
      tls = load_tls(cfg_);
      store::ConnectOptions opts;
      if (cfg_.database.mode == config::DatabaseMode::managed) {
        managed = std::make_unique<store::ManagedDatabase>(cfg_, account ? account->name : std::string());
        opts = managed->connect_options();
      } else {
        opts = external_options(cfg_);
      }
      pool = std::make_unique<store::DbPool>(opts, cfg_.database.pool_size, cfg_.database.queue_limit);
      deliveries = std::make_unique<store::DeliveryBatcher>(*pool);
      if (managed) {
        disk_guard = std::make_unique<store::FreeSpaceGuard>(
            managed->datadir(), store::FreeSpaceGuard::reserve_for(cfg_.smtp.max_message_size_bytes));
        deliveries->set_free_space_guard(disk_guard.get());
      }
      settings = std::make_unique<services::SettingsCache>(*pool);
      spam = std::make_unique<services::SpamCache>(*pool);
      addresses = std::make_unique<services::AddressCache>(*pool);
      pop3_leases = std::make_unique<services::Pop3Leases>(io, *pool, *settings, cfg_);
      ctx = std::make_unique<services::ServerContext>(services::ServerContext{io, cfg_, stats_, *pool, *settings, throttle_, limiter_,
                                                          pop3_limiter_, sessions_, maildrop_waiters_, *pop3_leases,
                                                          tls.get(), *spam, *deliveries, *addresses, {}});
      runner = std::make_unique<relay::QueueRunner>(*ctx);
      ctx->wake_relay = [r = runner.get()] { r->wake(); };
      listeners = std::make_unique<Listeners>(*ctx);
      listeners->bind_all();
      control = std::make_unique<ControlServer>(*ctx, [this] { reload(); });
      bool socket_dir_created = !fs::exists(cfg_.server.control_socket.parent_path());
      control->bind();
      if (account) {
        hand_over(cfg_, *account, socket_dir_created);
        become(*account);
      }
      if (managed) managed->start();
      prepare_database(opts, *settings, *spam, *pop3_leases);
      if (managed) supervise(io, *managed, *pool);
      listeners->start();
      pop3_leases->start();
      pop3_leases_ = pop3_leases.get();
      control->start();
      runner->start();  // after bind(): no other daemon runs with our control socket (queue_runner.hpp)
      relay_ = runner.get();
      settings->start(io, std::chrono::seconds(5));
      spam->start(io, std::chrono::seconds(5));
      addresses->start(io, std::chrono::milliseconds(1000));
      addresses_ = addresses.get();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "shicksd: %s\n", e.what());
      log::error("start.failed").kv("error", e.what());
      control.reset();
      listeners.reset();
      if (pool) pool->stop();
      if (managed) managed->stop();
      return kExitFailure;
    }
    log::info("ready").kv("threads", threads).kv("db_workers", cfg_.database.pool_size);

    stop_ = [this, &io, &listeners, &control, &settings, &spam, &managed] {
      if (stop_begun_.exchange(true)) return;
      // The database stays up until the last commit; it is no longer restarted.
      if (managed) managed->stop_restarting();
      listeners->close();
      control->close();
      settings->stop();
      spam->stop();
      if (addresses_) addresses_->stop();
      // No more lease renewals: the POP3 sessions end at their next read, and one
      // that outlived its lease could only fail to delete (QUIT checks the lease).
      if (pop3_leases_) pop3_leases_->stop();
      // A relay delivery in progress is abandoned; its recipients are sent again
      // after the restart (at-least-once).
      if (relay_) relay_->stop();
      // Sessions answer 421 4.3.2 (-ERR for POP3) at their next read; a message
      // being stored finishes first.
      sessions_.shutdown_all();
      start_watchdog(io);
    };
    arm_signals(signals);
    std::vector<std::thread> workers;
    for (unsigned i = 1; i < threads; ++i) workers.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : workers) t.join();
    stop_watchdog();

    log::info("stopping").kv("stage", "database");
    relay_ = nullptr;
    addresses_ = nullptr;
    pop3_leases_ = nullptr;
    runner.reset();
    control.reset();
    listeners.reset();
    pool->stop();
    if (managed) managed->stop();
    log::info("stopped").kv("exit_status", exit_status_.load());
    return exit_status_;
  }

 private:
  // Every connection is a descriptor: the soft limit (often 1,024) goes up to the
  // hard one, so that the connection caps, not the descriptor limit, decide.
  static void raise_open_files_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
    rlim_t before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) == 0)
      log::debug("limits.open_files").kv("from", std::uint64_t(before)).kv("to", std::uint64_t(rl.rlim_cur));
  }

  void prepare_database(const store::ConnectOptions& opts, services::SettingsCache& settings, services::SpamCache& spam,
                        const services::Pop3Leases& pop3_leases) {
    store::Connection c(opts);
    c.ensure_connected();
    log::info("db.connected").kv("db", opts.describe()).kv("server", c.server_version()).kv("name", cfg_.database.name);
    store::check_durability(c, cfg_.database.allow_unsafe_durability);
    auto report = store::migrate(c, store::embedded_migrations());
    log::info("db.schema").kv("from", report.before).kv("to", report.after).kv("applied", report.applied.size());
    unsigned created = store::write_default_settings(c);
    if (created) log::info("settings.defaults").kv("created", created);
    settings.load(c);
    // Before the listeners start: the POP3 sessions of this daemon's earlier run are
    // gone (it was killed, or crashed), so are the maildrops they held.
    if (auto voided = pop3_leases.void_earlier_runs(c))
      log::info("pop3.leases_released").kv("reason", "earlier-run").kv("owner", services::Pop3Leases::instance_prefix(cfg_))
          .kv("leases", voided);
    // First start: the schema was just created.
    if (report.before == 0) services::import_default_keywords(c, cfg_);
    spam.refresh(c);
  }

  void arm_signals(asio::signal_set& signals) {
    signals.async_wait([this, &signals](const std::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        reload();
        arm_signals(signals);
        return;
      }
      log::info("signal").kv("signal", sig == SIGINT ? "SIGINT" : "SIGTERM").kv("action", "graceful stop");
      stop_();
    });
  }

  // The managed mariadbd is watched from its own thread (managed_db.hpp). When it
  // exits, the pool's connections are dead: they are dropped at once, and again once
  // a restarted instance answers. When the restarts keep failing, shicksd stops as
  // on SIGTERM and exits with status 1, so that systemd (Restart=on-failure) starts
  // it, and with it the database, afresh.
  void supervise(asio::io_context& io, store::ManagedDatabase& managed, store::DbPool& pool) {
    store::ManagedDatabase::Callbacks cb;
    cb.down = [&pool] { pool.reconnect_all(); };
    cb.up = [&pool] { pool.reconnect_all(); };
    cb.gave_up = [this, &io, &managed](unsigned failures, const std::string& last_error) {
      exit_status_ = kExitFailure;
      log::error("db.managed.gave_up")
          .kv("failures", failures)
          .kv("error", last_error)
          .kv("error_log", managed.error_log().string())
          .kv("action", "stopping shicksd")
          .kv("exit_status", kExitFailure);
      asio::post(io, [this] {
        if (stop_) stop_();
      });
    };
    managed.supervise(std::move(cb));
  }

  // If sessions do not finish within server.shutdown_timeout_seconds, stop anyway.
  void start_watchdog(asio::io_context& io) {
    unsigned seconds = cfg_.server.shutdown_timeout_seconds;
    watchdog_ = std::thread([this, &io, seconds] {
      std::unique_lock lock(wd_mu_);
      if (!wd_cv_.wait_for(lock, std::chrono::seconds(seconds), [this] { return wd_done_; })) {
        log::warn("shutdown.timeout").kv("seconds", seconds).kv("action", "closing remaining sessions");
        io.stop();
      }
    });
  }

  void stop_watchdog() {
    {
      std::lock_guard lock(wd_mu_);
      wd_done_ = true;
    }
    wd_cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
  }

  void reload() {
    std::lock_guard lock(cfg_mu_);
    auto fresh = config::load(cfg_.file);
    if (!fresh) {
      for (const auto& p : fresh.error()) log::error("reload.config_error").kv("problem", p.to_string());
      log::warn("reload.rejected").kv("reason", "the file has errors; keeping the running configuration");
      return;
    }
    auto before = config::flatten(cfg_);
    auto after = config::flatten(*fresh);
    unsigned applied = 0, pending = 0;
    for (const auto& [key, value] : after) {
      if (before[key] == value) continue;
      if (reloadable(key)) {
        ++applied;
        log::info("reload.applied").kv("key", key).kv("value", value);
      } else {
        ++pending;
        log::warn("reload.restart_needed").kv("key", key).kv("value", value);
      }
    }
    log::Level lvl;
    if (log::parse_level(fresh->server.log_level, lvl)) log::set_level(lvl);
    cfg_.server.log_level = fresh->server.log_level;
    log::info("reload").kv("applied", applied).kv("restart_needed", pending);
  }

  config::Config cfg_;
  std::mutex cfg_mu_;
  services::Stats stats_;
  auth::Throttle throttle_{auth::Throttle::Limits{}};
  services::ConnectionLimiter limiter_{cfg_.smtp.max_connections_per_ip};
  services::ConnectionLimiter pop3_limiter_{cfg_.pop3.max_connections_per_ip};
  net::SessionRegistry sessions_;
  services::MaildropWaiters maildrop_waiters_;
  relay::QueueRunner* relay_ = nullptr;  // set while the runner runs
  services::AddressCache* addresses_ = nullptr;  // stopped with the other refreshers
  std::function<void()> stop_;  // the graceful stop (SIGTERM, or the database given up); io threads only
  std::atomic<bool> stop_begun_{false};
  std::atomic<int> exit_status_{kExitOk};
  services::Pop3Leases* pop3_leases_ = nullptr;  // its renewal loop is stopped with them
  std::thread watchdog_;
  std::mutex wd_mu_;
  std::condition_variable wd_cv_;
  bool wd_done_ = false;
};

}  // namespace

int run(config::Config cfg) {
  Runtime rt(std::move(cfg));
  return rt.run();
}

}  // namespace shicks::daemon
