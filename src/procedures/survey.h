// `cpr survey`: the masters' data dirs read side by side, offline (etcd
// stopped or not), to name the one to restore quorum on: the host whose
// raft log is most up to date (etcd/data_dir_state.h MoreUpToDate) holds
// every write a quorum committed while it took part. Reads only.
#pragma once

#include <string>
#include <vector>

#include "etcd/data_dir_state.h"
#include "host/member_runtime.h"
#include "util/result.h"

namespace cpr::procedures {

struct SurveyHost {
  std::string name, root;
  std::string data_dir;  // from the host's member runtime
  Result<etcd::DataDirState> state = Error{};
};

struct SurveyReport {
  std::vector<SurveyHost> hosts;
  std::string best;                   // a host's name; "" when no data dir could be read
  std::string why;                    // one line: what makes it the best
  std::vector<std::string> warnings;  // e.g. members of different clusters
};

struct SurveyTarget {
  std::string name, root;
};

SurveyReport Survey(const std::vector<SurveyTarget>& targets, const host::RuntimeOptions& runtime);

}  // namespace cpr::procedures
