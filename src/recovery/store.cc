#include "recovery/store.h"

#include <dirent.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "recovery/codec.h"
#include "util/atomic_file.h"

namespace cpr::recovery {

bool ValidObjectName(const std::string& n) {
  if (n.empty() || n.size() > 253 || n == "." || n == "..") return false;
  for (char c : n)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_' &&
        c != ':')
      return false;
  return n.front() != '.';
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir) {
  CPR_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  std::unique_ptr<Store> s(new Store(dir));
  const std::string meta = dir + "/store.json";
  if (::access(meta.c_str(), F_OK) == 0) {
    const std::string text = CPR_TRY(ReadFileLimited(meta, 1 << 16));
    Json j = Json::parse(text, nullptr, false);
    if (!j.is_object() || !j.contains("resourceVersion") ||
        !j["resourceVersion"].is_number_integer())
      return MakeError(Code::kCorrupt, meta, "no resourceVersion");
    s->version_ = j["resourceVersion"].get<int64_t>();
  }
  DIR* d = ::opendir(dir.c_str());
  if (!d) return MakeError(Code::kIo, dir, std::string("opendir: ") + std::strerror(errno));
  std::vector<std::string> files;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n.size() > 5 && n.ends_with(".json") && n != "store.json" &&
        ValidObjectName(n.substr(0, n.size() - 5)))
      files.push_back(n);
  }
  ::closedir(d);
  for (const auto& f : files) {
    const std::string path = dir + "/" + f;
    CPR_TRY(RemoveTempFiles(path));
    const std::string text = CPR_TRY(ReadFileLimited(path, 1 << 20));
    auto csr = CsrFromJson(text);
    if (!csr) return std::move(csr).error().Within(path);
    csr->has_body_resource_version = false;
    s->version_ = std::max(s->version_, csr->resource_version);
    s->objects_[csr->name] = *csr;
  }
  CPR_TRY(RemoveTempFiles(meta));
  s->history_base_ = s->version_;
  return s;
}

int64_t Store::resource_version() const {
  std::lock_guard<std::mutex> l(mu_);
  return version_;
}

std::vector<Csr> Store::List(int64_t* at) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Csr> out;
  for (const auto& [n, c] : objects_) out.push_back(c);
  if (at) *at = version_;
  return out;
}

std::optional<Csr> Store::Get(const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = objects_.find(name);
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

// REQUIRES: mu_ held. The counter first: a crash between the two writes
// leaves a counter ahead of every object, never behind one.
Result<void> Store::Persist(const Csr& csr, int64_t version) {
  Json meta{{"resourceVersion", version}};
  CPR_RETURN_IF_ERROR(WriteFileAtomic(dir_ + "/store.json", meta.dump() + "\n", 0600));
  return WriteFileAtomic(dir_ + "/" + csr.name + ".json", CsrToJson(csr, "v1").dump(1) + "\n",
                         0600);
}

// REQUIRES: mu_ held.
void Store::Publish(std::string type, const Csr& csr) {
  history_.emplace_back(csr.resource_version, Event{std::move(type), csr});
  while (history_.size() > kHistory) {
    history_base_ = history_.front().first;
    history_.pop_front();
  }
  cv_.notify_all();
}

Result<Csr> Store::Create(Csr csr) {
  std::lock_guard<std::mutex> l(mu_);
  if (objects_.count(csr.name))
    return MakeError(Code::kFailedPrecondition, csr.name, "already exists");
  csr.resource_version = version_ + 1;
  csr.has_body_resource_version = false;
  CPR_RETURN_IF_ERROR(Persist(csr, version_ + 1));
  version_++;
  objects_[csr.name] = csr;
  Publish("ADDED", csr);
  return csr;
}

Result<Csr> Store::Update(const std::string& name,
                          const std::function<Result<void>(Csr&)>& change) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = objects_.find(name);
  if (it == objects_.end()) return MakeError(Code::kNotFound, name, "not found");
  Csr next = it->second;
  CPR_RETURN_IF_ERROR(change(next));
  next.name = name;
  next.resource_version = version_ + 1;
  next.has_body_resource_version = false;
  CPR_RETURN_IF_ERROR(Persist(next, version_ + 1));
  version_++;
  it->second = next;
  Publish("MODIFIED", next);
  return next;
}

Result<Csr> Store::Delete(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = objects_.find(name);
  if (it == objects_.end()) return MakeError(Code::kNotFound, name, "not found");
  Json meta{{"resourceVersion", version_ + 1}};
  CPR_RETURN_IF_ERROR(WriteFileAtomic(dir_ + "/store.json", meta.dump() + "\n", 0600));
  const std::string path = dir_ + "/" + name + ".json";
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return MakeError(Code::kIo, path, std::string("unlink: ") + std::strerror(errno));
  CPR_RETURN_IF_ERROR(FsyncDir(dir_));
  version_++;
  Csr gone = it->second;
  objects_.erase(it);
  gone.resource_version = version_;
  Publish("DELETED", gone);
  return gone;
}

std::optional<std::vector<Event>> Store::WaitEvents(
    int64_t after, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> l(mu_);
  if (after < history_base_) return std::nullopt;
  std::vector<Event> out;
  cv_.wait_until(l, deadline, [&] { return shutdown_ || version_ > after; });
  for (const auto& [v, e] : history_)
    if (v > after) out.push_back(e);
  return out;
}

void Store::Shutdown() {
  std::lock_guard<std::mutex> l(mu_);
  shutdown_ = true;
  cv_.notify_all();
}

}  // namespace cpr::recovery
