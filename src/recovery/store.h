// The recovery API's durable CSR store: one file per object under
// <state>/csrs/<name>.json (the v1 JSON a GET returns) and the last
// resourceVersion in <state>/csrs/store.json, each written atomically
// (util/atomic_file.h) before a change is acknowledged or announced, so a
// restart, even after SIGKILL, loses nothing that was answered.
//
// resourceVersion is one counter over all objects; every change gets the
// next value. Watchers get the changes after a given version from an
// in-memory history (since this process started, at most kHistory events);
// older versions are "expired" (410), as a real API server answers once its
// watch cache has moved on.
//
// Thread-safety: every method may be called from several threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "recovery/csr.h"
#include "util/result.h"

namespace cpr::recovery {

struct Event {
  std::string type;  // ADDED, MODIFIED, DELETED
  Csr object;
};

// A CSR name the store accepts: what Kubernetes allows for CSRs (a path
// segment: the kubelet's node-csr-<base64url> has upper case and '_'),
// narrowed to ASCII letters, digits, '-', '.', '_' and ':', not starting
// with '.', at most 253 characters; so it is always a safe file name.
bool ValidObjectName(const std::string& name);

class Store {
 public:
  static constexpr size_t kHistory = 1000;

  // Opens (creating) `dir` (0700) and loads every object.
  static Result<std::unique_ptr<Store>> Open(const std::string& dir);

  int64_t resource_version() const;
  // Every object, by name, and the version they are current at.
  std::vector<Csr> List(int64_t* at_version = nullptr) const;
  std::optional<Csr> Get(const std::string& name) const;

  // Stores a new object (name set, REQUIRES: ValidObjectName). kFailedPrecondition
  // when the name is taken.
  Result<Csr> Create(Csr csr);
  // Applies `change` to the current object and stores it with the next
  // version; `change`'s error leaves it as it was. kNotFound when absent.
  Result<Csr> Update(const std::string& name, const std::function<Result<void>(Csr&)>& change);
  Result<Csr> Delete(const std::string& name);

  // Events after `after_version`, waiting until `deadline` for at least one.
  // nullopt when `after_version` is older than the history (410 Expired).
  // Returns (possibly empty) at the deadline or after Shutdown().
  std::optional<std::vector<Event>> WaitEvents(int64_t after_version,
                                               std::chrono::steady_clock::time_point deadline);
  // Wakes every waiter; later waits return at once.
  void Shutdown();

 private:
  explicit Store(std::string dir) : dir_(std::move(dir)) {}
  Result<void> Persist(const Csr& csr, int64_t version);
  void Publish(std::string type, const Csr& csr);

  std::string dir_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Csr> objects_;
  int64_t version_ = 0;
  int64_t history_base_ = 0;  // events after this version are all in history_
  std::deque<std::pair<int64_t, Event>> history_;
  bool shutdown_ = false;
};

}  // namespace cpr::recovery
