#include "server/auth/password.hpp"

#include <crypt.h>
#include <string.h>  // explicit_bzero

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

// Thread safety: only the reentrant libxcrypt entry points are used (crypt_rn,
// crypt_gensalt_rn, crypt_checksalt), each call with its own struct crypt_data on
// the heap (32 KiB: too big for small coroutine / worker stacks). The scratch area
// holds the passphrase, so it is wiped before it is freed.
//
// Limits: libcrypt refuses passphrases of CRYPT_MAX_PASSPHRASE_SIZE (512) octets or
// more, and a C string cannot carry a NUL. hash_password() throws
// std::invalid_argument for such passwords; verify_password() and verify_dummy()
// return false for them (SASL PLAIN/LOGIN never deliver them anyway: at most 255
// octets, no NUL).
//
// Cost: one verification is one yescrypt computation at the default cost (tens of
// milliseconds of CPU and some MiB of memory). Callers should run it off the network
// threads.

namespace shicks::auth {
namespace {

struct CryptScratch {
  crypt_data data;
};

struct WipeDelete {
  void operator()(CryptScratch* p) const {
    explicit_bzero(p, sizeof *p);
    delete p;
  }
};
using Scratch = std::unique_ptr<CryptScratch, WipeDelete>;

Scratch new_scratch() {
  // Value-initialised: crypt_data must be all zero before its first use.
  return Scratch(new CryptScratch{});
}

bool passphrase_ok(std::string_view password) {
  return password.size() < CRYPT_MAX_PASSPHRASE_SIZE &&
         password.find('\0') == std::string_view::npos;
}

// Whether `hash` can be handed to crypt as a setting at all: a C string that
// libcrypt recognises (CRYPT_SALT_OK, or CRYPT_SALT_METHOD_LEGACY, which crypt still
// verifies: old DES/MD5 hashes imported from elsewhere), not a locked-account marker
// ("*...", "!...").
bool setting_ok(const std::string& hash) {
  if (hash.empty() || hash.size() >= CRYPT_OUTPUT_SIZE) return false;
  if (hash.find('\0') != std::string::npos) return false;
  if (hash[0] == '*' || hash[0] == '!') return false;
  const int check = crypt_checksalt(hash.c_str());
  return check == CRYPT_SALT_OK || check == CRYPT_SALT_METHOD_LEGACY;
}

// Constant-time equality: the running time depends on the length of `computed`
// only (our own output, whose length the scheme fixes), never on where the first
// difference is. A length mismatch is false but the content is still walked.
bool equal_constant_time(std::string_view computed, std::string_view stored) {
  volatile unsigned char diff = computed.size() != stored.size() ? 1 : 0;
  for (std::size_t i = 0; i < computed.size(); ++i) {
    const unsigned char s = i < stored.size() ? static_cast<unsigned char>(stored[i]) : 0;
    diff = diff | static_cast<unsigned char>(static_cast<unsigned char>(computed[i]) ^ s);
  }
  return diff == 0;
}

// crypt(password, setting) == setting, in constant time. False on any error.
// Expects passphrase_ok(password) and setting_ok(setting).
bool check(std::string_view password, const std::string& setting) {
  const std::string phrase(password);
  Scratch s = new_scratch();
  const char* out = crypt_rn(phrase.c_str(), setting.c_str(), &s->data, sizeof s->data);
  // On failure crypt_rn returns null (and leaves a "*..." string in output, which
  // never equals a setting that passed setting_ok).
  if (out == nullptr || out[0] == '*') return false;
  return equal_constant_time(out, setting);
}

// A fixed, valid yescrypt hash at the default cost, made once per process from a
// random passphrase nobody knows. Made at run time (not a literal) so that its cost
// follows libcrypt's default, i.e. the cost of the hashes hash_password() stores.
const std::string& dummy_hash() {
  static const std::string hash = [] {
    try {
      char rnd[CRYPT_GENSALT_OUTPUT_SIZE];
      // A setting string is made of random salt characters: reuse it as a password.
      if (crypt_gensalt_rn("$y$", 0, nullptr, 0, rnd, sizeof rnd) == nullptr)
        throw std::runtime_error("no randomness");
      std::string pw(rnd);
      explicit_bzero(rnd, sizeof rnd);
      std::string h = hash_password(pw);
      explicit_bzero(pw.data(), pw.size());
      return h;
    } catch (const std::exception&) {
      // Without randomness hash_password() fails for real users too; keep the
      // dummy check working with a fixed hash of a password nobody uses.
      return std::string("$y$j9T$jwGbBxMzBLNe6OqIjUX/l1$R7/ZzAXBfJtcL6I0mqxd2lMjR3.CSN7QvMgMFU/lHu2");
    }
  }();
  return hash;
}

}  // namespace

std::string hash_password(std::string_view password) {
  if (!passphrase_ok(password))
    throw std::invalid_argument("password too long (at most 511 octets) or contains NUL");
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  // "$y$" = yescrypt, count 0 = libcrypt's default cost, rbytes null = libcrypt
  // reads the salt from the OS random source.
  if (crypt_gensalt_rn("$y$", 0, nullptr, 0, setting, sizeof setting) == nullptr)
    throw std::runtime_error(std::string("crypt_gensalt_rn($y$) failed: ") + std::strerror(errno));
  const std::string phrase(password);
  Scratch s = new_scratch();
  const char* out = crypt_rn(phrase.c_str(), setting, &s->data, sizeof s->data);
  if (out == nullptr || out[0] == '*')
    throw std::runtime_error(std::string("crypt_rn(yescrypt) failed: ") + std::strerror(errno));
  return std::string(out);
}

bool verify_password(std::string_view password, std::string_view hash) {
  try {
    // The password's length is the client's own business: refusing it early
    // reveals nothing (verify_dummy refuses it the same way).
    if (!passphrase_ok(password)) return false;
    const std::string setting(hash);
    if (!setting_ok(setting)) {
      // A locked ("!...", "*...") or broken hash: spend the time of a real check
      // anyway, so such an account looks like any failed login.
      (void)check(password, dummy_hash());
      return false;
    }
    return check(password, setting);
  } catch (const std::exception&) {  // bad_alloc: treat as a failed login, not a crash
    return false;
  }
}

bool verify_dummy(std::string_view password) {
  try {
    if (passphrase_ok(password)) (void)check(password, dummy_hash());
  } catch (const std::exception&) {
  }
  return false;
}

}  // namespace shicks::auth
