#pragma once
// The name a daemon gives the rows it leases or claims in the shared database
// (POP3 maildrop leases, relay queue claims): "MACHINE/HASH/", where HASH is an FNV-1a
// hash of the absolute control socket path (one daemon per socket on a machine).
// A daemon that starts again finds the rows of its earlier run by this prefix.
// At most 64 + 1 + 8 + 1 characters, so an owner built on it fits VARCHAR(128).
#include <filesystem>
#include <string>

namespace shicks {

std::string instance_prefix(const std::filesystem::path& control_socket);

}  // namespace shicks
