// shicks-pop3load -- the POP3 load client of bench/run, used for every server alike.
//
//   shicks-pop3load HOST PORT PASSWORD SESSIONS ROUNDS USER...
//
// SESSIONS threads each run ROUNDS full sessions: connect, USER/PASS, LIST, RETR of
// every message, QUIT (nothing is deleted). Session k of a thread uses the mailbox
// USER[(thread + k) mod n]. A maildrop held by another session (-ERR after PASS, RFC
// 1939 exclusive access) is retried after 20 ms. Prints one line:
//
//   sessions=N messages=M bytes=B seconds=S retries=R errors=E
//
// Exit status 0 when every round completed, 1 otherwise.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

enum class Round { done, in_use, failed };

struct Totals {
  std::atomic<std::uint64_t> sessions{0}, messages{0}, bytes{0}, retries{0}, errors{0};
};

class Conn {
 public:
  explicit Conn(int fd) : fd_(fd) {}
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool send(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += std::size_t(n);
    }
    return true;
  }

  // One reply line without CRLF; false on EOF.
  bool line(std::string& out) {
    out.clear();
    for (;;) {
      for (; pos_ < len_; ++pos_) {
        char c = buf_[pos_];
        if (c == '\n') {
          ++pos_;
          if (!out.empty() && out.back() == '\r') out.pop_back();
          return true;
        }
        out.push_back(c);
      }
      if (!fill()) return false;
    }
  }

  // Consumes a multi-line body up to and including ".\r\n" at the start of a line.
  // Returns the number of bytes consumed, or -1 on EOF.
  long long multiline() {
    long long total = 0;
    // state: 0 = inside a line, 1 = at line start, 2 = saw "." at line start, 3 = saw ".\r"
    int state = 1;
    for (;;) {
      while (pos_ < len_) {
        const char* p = buf_ + pos_;
        std::size_t avail = len_ - pos_;
        if (state == 0) {
          const void* nl = std::memchr(p, '\n', avail);
          if (!nl) {
            pos_ = len_;
            total += static_cast<long long>(avail);
            break;
          }
          std::size_t step = std::size_t(static_cast<const char*>(nl) - p) + 1;
          pos_ += step;
          total += static_cast<long long>(step);
          state = 1;
          continue;
        }
        char c = *p;
        ++pos_;
        ++total;
        if (state == 1) state = c == '.' ? 2 : (c == '\n' ? 1 : 0);
        else if (state == 2) state = c == '\r' ? 3 : (c == '\n' ? 1 : 0);
        else if (state == 3) {
          if (c == '\n') return total;
          state = 0;
        }
      }
      if (!fill()) return -1;
    }
  }

 private:
  bool fill() {
    ssize_t n = ::recv(fd_, buf_, sizeof buf_, 0);
    if (n <= 0) return false;
    pos_ = 0;
    len_ = std::size_t(n);
    return true;
  }

  int fd_;
  char buf_[65536];
  std::size_t pos_ = 0, len_ = 0;
};

int connect_to(const sockaddr_storage& addr, socklen_t len) {
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool ok(const std::string& l) { return l.rfind("+OK", 0) == 0; }

// The first few failures are told on stderr: what was sent and what came back.
std::atomic<int> told{0};
Round failed(const std::string& what, const std::string& line) {
  if (told++ < 5) std::fprintf(stderr, "pop3load: %s: %s\n", what.c_str(), line.c_str());
  return Round::failed;
}


Round one_session(const sockaddr_storage& addr, socklen_t alen, const std::string& user, const std::string& password,
                  Totals& t) {
  int fd = connect_to(addr, alen);
  if (fd < 0) return failed("connect", std::strerror(errno));
  Conn c(fd);
  std::string l;
  if (!c.line(l) || !ok(l)) return failed("greeting", l);
  if (!c.send("USER " + user + "\r\n") || !c.line(l) || !ok(l)) return failed("USER " + user, l);
  if (!c.send("PASS " + password + "\r\n") || !c.line(l)) return failed("PASS (" + user + ")", l);
  if (!ok(l)) {
    c.send("QUIT\r\n");
    return l.find("IN-USE") != std::string::npos ? Round::in_use : failed("PASS (" + user + ")", l);
  }
  if (!c.send("LIST\r\n") || !c.line(l) || !ok(l)) return failed("LIST", l);
  std::vector<unsigned> numbers;
  for (;;) {
    if (!c.line(l)) return failed("LIST listing", "connection closed");
    if (l == ".") break;
    numbers.push_back(unsigned(std::strtoul(l.c_str(), nullptr, 10)));
  }
  std::uint64_t messages = 0, bytes = 0;
  for (unsigned n : numbers) {
    if (!c.send("RETR " + std::to_string(n) + "\r\n") || !c.line(l) || !ok(l))
      return failed("RETR " + std::to_string(n), l);
    long long got = c.multiline();
    if (got < 0) return failed("RETR " + std::to_string(n), "connection closed in the message");
    ++messages;
    bytes += std::uint64_t(got);
  }
  if (!c.send("QUIT\r\n") || !c.line(l) || !ok(l)) return failed("QUIT", l);
  t.sessions += 1;
  t.messages += messages;
  t.bytes += bytes;
  return Round::done;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: %s HOST PORT PASSWORD SESSIONS ROUNDS USER...\n", argv[0]);
    return 2;
  }
  std::string host = argv[1], port = argv[2], password = argv[3];
  unsigned sessions = unsigned(std::strtoul(argv[4], nullptr, 10));
  unsigned rounds = unsigned(std::strtoul(argv[5], nullptr, 10));
  std::vector<std::string> users(argv + 6, argv + argc);
  if (sessions == 0 || rounds == 0) {
    std::fprintf(stderr, "SESSIONS and ROUNDS must be positive\n");
    return 2;
  }

  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0 || !res) {
    std::fprintf(stderr, "%s:%s: %s\n", host.c_str(), port.c_str(), gai_strerror(rc));
    return 2;
  }
  sockaddr_storage addr{};
  socklen_t alen = res->ai_addrlen;
  std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);

  Totals t;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < sessions; ++i) {
    threads.emplace_back([&, i] {
      for (unsigned k = 0; k < rounds; ++k) {
        const std::string& user = users[(i + k) % users.size()];
        for (int attempt = 0;; ++attempt) {
          Round r = one_session(addr, alen, user, password, t);
          if (r == Round::done) break;
          if (r == Round::failed || attempt >= 3000) {
            t.errors += 1;
            break;
          }
          t.retries += 1;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("sessions=%llu messages=%llu bytes=%llu seconds=%.3f retries=%llu errors=%llu\n",
              (unsigned long long)t.sessions.load(), (unsigned long long)t.messages.load(),
              (unsigned long long)t.bytes.load(), seconds, (unsigned long long)t.retries.load(),
              (unsigned long long)t.errors.load());
  return t.errors.load() == 0 ? 0 : 1;
}
