#pragma once
// What one relay attempt of a message leaves behind. From each recipient's result
// (client.hpp), the queue rows' attempt counts and ages, the retry schedule
// (backoff.hpp) and the time, plan() says which rows go (delivered, or bounced after
// a DSN), which are deferred and for how long, which are given back untouched, which
// DSN (dsn.hpp) the sender gets, and what is logged. Pure code: the queue runner
// (queue_runner.cpp) writes the plan to the database and the events to the log.
//
// Two outcomes are the database's to know, and report() takes them once the plan is
// written: whether a deferred row had been marked by `queue flush` during the attempt
// (it is then due again at once; decided under the row's lock as the deferral is
// written, store/relay_store.hpp defer()), and whether the sender's address is local
// (only a local sender gets a DSN).
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "server/relay/backoff.hpp"
#include "server/relay/client.hpp"
#include "server/relay/dsn.hpp"

namespace shicks::relay {

// A claimed queue row: the fields of store::relay::QueuedRecipient that matter here.
struct QueueRow {
  std::uint64_t id = 0;
  std::string recipient;
  std::uint64_t attempts = 0;     // failed attempts before this one
  std::uint64_t age_seconds = 0;  // since it was queued
};

// One message's attempt.
struct Attempt {
  std::string sender;          // the envelope sender; "" for the null sender
  std::time_t arrival = 0;     // when the message was queued
  std::vector<QueueRow> rows;  // in the order of the envelope's recipients
  // One per row, in the same order. Fewer when the attempt ended early: a row
  // without a result is left alone (its lease runs out and it is tried again).
  std::vector<RecipientResult> results;
  bool stopping = false;  // the daemon is shutting down
};

// What a DSN says about where it comes from, and its random token (boundary, Message-ID).
struct DsnOrigin {
  std::string reporting_mta;  // our host name
  std::string remote_mta;     // the relay host
  std::string unique;
};

struct Deferred {
  std::uint64_t id = 0;
  std::uint64_t delay_seconds = 0;  // due again after this long
  std::string error;                // the row's last error
};

struct DsnPlan {
  DsnInput input;      // complete but for original_headers, which come from the body
  std::string domain;  // the sender's domain: the DSN goes to the sender only when it is local
};

// One line of the log (and event of the watch stream) per recipient.
struct Event {
  enum Kind { sent, deferred, bounced } kind = sent;
  std::uint64_t row = 0;
  std::string rcpt;
  std::string detail;          // the relay's reply, or what went wrong
  std::string status;          // bounced: the enhanced status code
  std::uint64_t retry_in = 0;  // deferred: seconds until the next attempt
  bool flushed = false;        // deferred: due again at once (`queue flush` during the attempt)
  std::string dsn;             // bounced: what became of the DSN
};

struct Plan {
  std::vector<std::uint64_t> release;  // given back without counting an attempt (shutdown)
  std::vector<std::uint64_t> done;     // delivered: removed
  std::vector<Deferred> deferred;
  std::vector<std::uint64_t> bounced;  // removed once the DSN is delivered
  std::optional<DsnPlan> dsn;          // when some row bounced and the sender may be told
  std::string no_dsn;                  // when some row bounced and it may not: why, for the log
  std::vector<Event> events;           // in row order, as far as plan() knows them (see report())

  // Something to write under the lease (release is written apart, before).
  bool records() const { return !done.empty() || !deferred.empty() || !bounced.empty(); }
};

Plan plan(const Attempt& attempt, const RetryPolicy& policy, const DsnOrigin& origin, std::time_t now);

// What writing the plan found out.
struct Written {
  std::vector<std::uint64_t> flushed;  // deferred rows due again at once (their flush mark)
  std::string dsn;                     // when plan.dsn: "delivered", or "none (sender not local)"
};

// The events to log once the plan is written.
std::vector<Event> report(const Plan& plan, const Written& written);

// The results of an attempt that never reached a MAIL command (the connection or its
// set-up failed): each recipient a temporary failure with `why`, a local diagnostic.
std::vector<RecipientResult> unreachable(const std::vector<QueueRow>& rows, const std::string& why);

}  // namespace shicks::relay
