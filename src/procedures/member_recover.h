// member recover: a new master joins the restored cluster (seed §3.2 steps
// 2-5, one command per host instead of a signer pod, tokens, a relayed
// environment file and ETCD_INITIAL_CLUSTER_STATE=existing by hand).
//
// Plan (reads only; every refusal happens here): the survivor's member list
// and this host's own peer URL tell where the host stands:
//   new          not in the list: certificates, add, start, catch up, promote
//   added        in the list, never started (a killed run, or an operator's
//                `member add`): start, catch up, promote
//   learner      started, not promoted: catch up, promote
//   joined       a started voter whose etcd answers: nothing to do
// and refuses: the name held by another member; something answering on the
// peer URL that is not this host's member of this cluster; a host without a
// static pod manifests folder (the member is written as a static pod).
//
// Steps (MemberRecoverSteps):
//   certificates  peer, server and metrics certificates from the temporary
//                 signer (`cpr signer token --profile member` made the
//                 recovery file) into R/etc/ssl/etcd; valid ones kept
//   add-learner   the member added as a learner through the survivor. etcd
//                 3.4 admits one learner at a time and, after a promotion,
//                 no member change until the newest voter has been connected
//                 for 5 s (--strict-reconfig-check): both are waited out,
//                 bounded, and said
//   start-etcd    a stale data dir or manifest moved aside (kept); the etcd
//                 manifest written with the full INITIAL_CLUSTER and
//                 INITIAL_CLUSTER_STATE=existing; the kubelet starts it
//   catch-up      until the learner serves its client port; etcd 3.4 loses
//                 a new learner's first publish and retries only after 7 s,
//                 so one that has applied the leader's snapshot without
//                 publishing is restarted (a learner holds no vote)
//   promote       retried until the leader counts the learner in sync (its
//                 catch-up: etcd refuses the promotion before, and only the
//                 leader knows the learner's progress); a learner that never
//                 catches up is stopped (manifest moved aside) and removed
//                 again (it holds no vote: the cluster keeps its quorum)
//   report        a linearizable read on the new member; the member table
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "client/client.h"
#include "procedures/steps.h"
#include "util/result.h"

namespace cpr::procedures {

struct MemberRecoverOptions {
  std::string root = "/";
  std::string name;           // this master's member name
  std::string peer_url;       // https://IP:2380: its client URL is https://IP:2379
  client::Config survivor;    // the restored cluster's endpoints and client TLS
  std::string recovery_file;  // `cpr signer token --profile member --kubeconfig`
  int wait_seconds = 300;     // each bounded wait: a turn to join, catch-up, promotion
  std::function<void(const std::string&)> out;  // progress lines
};

enum class JoinState { kNew, kAdded, kLearner, kJoined };
const char* JoinStateName(JoinState state);

struct MemberRecoverPlan {
  std::string name, peer_url, client_url, ip;
  JoinState state = JoinState::kNew;
  uint64_t member_id = 0;  // when in the member list
  std::string manifest, data_dir, cert_dir;
  // Where an old manifest is moved aside: a kubelet would run any file left
  // in its manifests folder.
  std::string stopped_dir;
  std::vector<std::string> notes;
  std::string inputs;  // the journal's fingerprint
};

Result<MemberRecoverPlan> PlanMemberRecover(const MemberRecoverOptions& options);
std::vector<Step> MemberRecoverSteps(const MemberRecoverOptions& options,
                                     const MemberRecoverPlan& plan);
// Plan, then the steps (nothing to run when the member already joined).
Result<ProcedureReport> MemberRecover(const MemberRecoverOptions& options, bool dry_run,
                                      MemberRecoverPlan* plan_out, ProcedureReport* report);

}  // namespace cpr::procedures
