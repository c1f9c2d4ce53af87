#pragma once
// Caps on the connections open at once: one over all of them and one per kind (the
// SMTP listeners together, the POP3 ones together; the control socket has caps of
// its own). A connection holds a Slot for its whole life; the Slot gives its place
// back when it is destroyed, however the connection ends (an exception included), so
// the counts cannot drift. A Slot keeps its caps alive, so it may outlive their owner
// (a session frame destroyed with the io_context).
//
// Four fifths of a cap in use is *stress* (as Postfix calls it): sessions then get
// server.stress_timeout_seconds for each command instead of the full command timeout,
// so that clients that hold connections open without finishing their commands
// (slowloris) are dropped before they fill the server.
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace shicks::net {

class ConnectionCaps : public std::enable_shared_from_this<ConnectionCaps> {
 public:
  enum class Refusal { none, total, kind };

  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& o) noexcept
        : caps_(std::move(o.caps_)), kind_(o.kind_), refusal_(std::exchange(o.refusal_, Refusal::none)),
          began_stress_(std::exchange(o.began_stress_, false)) {}
    Slot& operator=(Slot&& o) noexcept {
      if (this != &o) {
        release();
        caps_ = std::move(o.caps_);
        kind_ = o.kind_;
        refusal_ = std::exchange(o.refusal_, Refusal::none);
        began_stress_ = std::exchange(o.began_stress_, false);
      }
      return *this;
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }

    // Whether a place is held.
    explicit operator bool() const { return caps_ != nullptr; }
    // Which cap refused it (none when held).
    Refusal refusal() const { return refusal_; }
    // Whether taking this place brought the total or this kind to its stress level.
    bool began_stress() const { return began_stress_; }
    // Whether the total or this slot's kind is at its stress level now.
    bool stressed() const { return caps_ && caps_->stressed(kind_); }
    // Gives the place back now (the destructor does it otherwise).
    void release() {
      if (caps_) caps_->give_back(kind_);
      caps_.reset();
    }

   private:
    friend class ConnectionCaps;
    Slot(std::shared_ptr<ConnectionCaps> caps, std::size_t kind, bool began_stress)
        : caps_(std::move(caps)), kind_(kind), began_stress_(began_stress) {}
    explicit Slot(Refusal r) : refusal_(r) {}
    std::shared_ptr<ConnectionCaps> caps_;
    std::size_t kind_ = 0;
    Refusal refusal_ = Refusal::none;
    bool began_stress_ = false;
  };

  // The number of open connections that is stress for a cap: four fifths of it,
  // rounded up (a cap of 1 is under stress with its one connection).
  static unsigned stress_level(unsigned cap) { return cap - cap / 5; }

  // At most `total` connections in all and `per_kind[k]` of kind k.
  static std::shared_ptr<ConnectionCaps> make(unsigned total, std::vector<unsigned> per_kind) {
    return std::shared_ptr<ConnectionCaps>(new ConnectionCaps(total, std::move(per_kind)));
  }

  // A held slot of `kind`, or an empty one saying which cap is reached (the total
  // one first).
  Slot acquire(std::size_t kind) {
    std::lock_guard lock(mu_);
    if (open_ >= total_) return Slot(Refusal::total);
    if (open_by_kind_.at(kind) >= per_kind_.at(kind)) return Slot(Refusal::kind);
    ++open_;
    ++open_by_kind_[kind];
    bool began = open_ == stress_level(total_) || open_by_kind_[kind] == stress_level(per_kind_[kind]);
    return Slot(shared_from_this(), kind, began);
  }

  bool stressed(std::size_t kind) const {
    std::lock_guard lock(mu_);
    return open_ >= stress_level(total_) || open_by_kind_.at(kind) >= stress_level(per_kind_.at(kind));
  }

  unsigned open() const {
    std::lock_guard lock(mu_);
    return open_;
  }
  unsigned open(std::size_t kind) const {
    std::lock_guard lock(mu_);
    return open_by_kind_.at(kind);
  }
  unsigned total_cap() const { return total_; }
  unsigned kind_cap(std::size_t kind) const { return per_kind_.at(kind); }

 private:
  ConnectionCaps(unsigned total, std::vector<unsigned> per_kind)
      : total_(total), per_kind_(std::move(per_kind)), open_by_kind_(per_kind_.size(), 0) {}

  void give_back(std::size_t kind) {
    std::lock_guard lock(mu_);
    --open_;
    --open_by_kind_[kind];
  }

  const unsigned total_;
  const std::vector<unsigned> per_kind_;
  mutable std::mutex mu_;
  unsigned open_ = 0;
  std::vector<unsigned> open_by_kind_;
};

}  // namespace shicks::net
