#include "server/relay/plan.hpp"

#include <algorithm>

namespace shicks::relay {

Plan plan(const Attempt& a, const RetryPolicy& policy, const DsnOrigin& origin, std::time_t now) {
  Plan p;
  DsnInput dsn;
  dsn.reporting_mta = origin.reporting_mta;
  dsn.remote_mta = origin.remote_mta;
  dsn.original_sender = a.sender;
  dsn.arrival = a.arrival;
  dsn.now = now;
  dsn.unique = origin.unique;

  for (std::size_t i = 0; i < a.rows.size() && i < a.results.size(); ++i) {
    const QueueRow& row = a.rows[i];
    const RecipientResult& r = a.results[i];
    Event ev;
    ev.row = row.id;
    ev.rcpt = row.recipient;
    ev.detail = r.diagnostic;
    if (r.outcome == Outcome::delivered) {
      p.done.push_back(row.id);
      ev.kind = Event::sent;
    } else if (r.outcome == Outcome::permanent) {
      p.bounced.push_back(row.id);
      dsn.recipients.push_back(FailedRecipient{row.recipient, r.status, r.diagnostic, r.remote});
      ev.kind = Event::bounced;
      ev.status = r.status;
    } else if (a.stopping && !r.remote) {
      p.release.push_back(row.id);  // cut short by shutdown: no attempt to count
      continue;
    } else {
      auto d = after_temporary_failure(policy, row.attempts + 1, row.age_seconds);
      if (d.give_up) {
        ev.kind = Event::bounced;
        ev.status = r.status.empty() ? "4.4.7" : r.status;
        ev.detail = "delivery time expired; last error: " + r.diagnostic;
        p.bounced.push_back(row.id);
        dsn.expired = true;
        dsn.recipients.push_back(FailedRecipient{row.recipient, ev.status, ev.detail, false});
      } else {
        p.deferred.push_back(Deferred{row.id, d.delay_seconds, r.diagnostic});
        ev.kind = Event::deferred;
        ev.retry_in = d.delay_seconds;
      }
    }
    p.events.push_back(std::move(ev));
  }

  if (!p.bounced.empty()) {
    // RFC 5321 4.5.5: nothing is reported to the null sender (no bounce loops).
    auto at = a.sender.rfind('@');
    if (a.sender.empty())
      p.no_dsn = "none (null sender)";
    else if (at == std::string::npos)
      p.no_dsn = "none (sender not local)";
    else
      p.dsn = DsnPlan{std::move(dsn), a.sender.substr(at + 1)};
  }
  return p;
}

std::vector<Event> report(const Plan& p, const Written& w) {
  std::vector<Event> out = p.events;
  for (Event& ev : out) {
    if (ev.kind == Event::deferred &&
        std::find(w.flushed.begin(), w.flushed.end(), ev.row) != w.flushed.end()) {
      ev.flushed = true;
      ev.retry_in = 0;
    } else if (ev.kind == Event::bounced) {
      ev.dsn = p.dsn ? w.dsn : p.no_dsn;
    }
  }
  return out;
}

std::vector<RecipientResult> unreachable(const std::vector<QueueRow>& rows, const std::string& why) {
  std::vector<RecipientResult> out;
  for (const auto& row : rows) out.push_back(RecipientResult{row.recipient, Outcome::temporary, "4.4.1", why, false});
  return out;
}

}  // namespace shicks::relay
