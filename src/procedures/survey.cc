#include "procedures/survey.h"

#include <fmt/format.h>

#include <set>

namespace cpr::procedures {
namespace {

// The member's data dir as its runtime configures it; the host model's
// default (R/var/lib/etcd) when no runtime can be told.
std::string DataDirOf(const host::Host& h, const host::RuntimeOptions& options) {
  auto runtime = host::OpenRuntime(h, options);
  if (runtime) {
    auto config = (*runtime)->Config(host::RuntimeJournal{
        [](const std::string&) { return std::string(); }, [](const std::string&, std::string) {},
        [] { return Result<void>(); }});
    if (config && !config->data_dir.empty()) return config->data_dir;
  }
  return h.data_dir();
}

std::string Why(const etcd::DataDirState& best, size_t readable) {
  if (readable < 2) return "the only data dir that could be read";
  return fmt::format("its raft log is the most up to date (last entry term {}, index {})",
                     best.last_term, best.last_index);
}

}  // namespace

SurveyReport Survey(const std::vector<SurveyTarget>& targets, const host::RuntimeOptions& runtime) {
  SurveyReport report;
  const etcd::DataDirState* best = nullptr;
  size_t readable = 0;
  std::set<uint64_t> clusters;
  for (const auto& t : targets) {
    const host::Host h(t.root);
    SurveyHost sh{t.name, t.root, DataDirOf(h, runtime)};
    sh.state = etcd::ReadDataDirState(sh.data_dir);
    report.hosts.push_back(std::move(sh));
  }
  for (const auto& sh : report.hosts) {
    if (!sh.state) continue;
    readable++;
    clusters.insert(sh.state->cluster_id);
    if (best == nullptr || etcd::MoreUpToDate(*sh.state, *best)) {
      best = &*sh.state;
      report.best = sh.name;
    }
  }
  if (best != nullptr) report.why = Why(*best, readable);
  if (clusters.size() > 1)
    report.warnings.push_back(fmt::format(
        "the data dirs belong to {} different clusters (cluster IDs differ): compare only "
        "members of the cluster being recovered",
        clusters.size()));
  return report;
}

}  // namespace cpr::procedures
