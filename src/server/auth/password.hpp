#pragma once
// Password hashes: crypt(3) from libxcrypt. New hashes are yescrypt ("$y$...");
// verification accepts any scheme libcrypt knows (so hashes made elsewhere, e.g.
// SHA-512-crypt "$6$...", work). Comparison is constant-time. For an unknown user,
// verify_dummy() spends the same time so a failed login does not reveal whether the
// name exists.
#include <optional>
#include <string>
#include <string_view>

namespace shicks::auth {

// A new hash of `password` with a fresh random salt. Throws std::runtime_error only
// if the system has no usable randomness or yescrypt.
// Also throws std::invalid_argument for a password libcrypt cannot take: 512 octets
// or more (CRYPT_MAX_PASSPHRASE_SIZE), or containing a NUL. verify_password() and
// verify_dummy() simply return false for such passwords.
// Each hash or verification costs one yescrypt run (tens of ms of CPU, a few MiB):
// call these off the network threads.
std::string hash_password(std::string_view password);

// True when `password` matches `hash`. False for malformed hashes.
bool verify_password(std::string_view password, std::string_view hash);

// Does the work of a verification against a fixed hash and returns false.
bool verify_dummy(std::string_view password);

}  // namespace shicks::auth
