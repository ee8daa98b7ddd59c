// The static-pod member runtime (member_runtime.h) over StaticPods: etcd
// goes down and up with the control plane (seed §3.2: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler); the other pods
// keep running.
//
// Journal: "stopped", the manifest files Stop moved out (comma-separated),
// recorded before each move so Start knows every pod a kill left stopped.
#include <fmt/format.h>

#include <algorithm>

#include "host/member_runtime.h"
#include "host/static_pods.h"
#include "util/text.h"

namespace cpr::host {
namespace {

class StaticPodRuntime final : public MemberRuntime {
 public:
  explicit StaticPodRuntime(Host h) : h_(std::move(h)), pods_(h_) {}

  std::string kind() const override { return "static-pod"; }
  std::string subject() const override { return "pods"; }
  std::string StopSummary() const override {
    return "stop the static pods etcd, kube-apiserver, kube-controller-manager and "
           "kube-scheduler (manifests moved to " +
           h_.stopped_manifests() + "; others keep running) and wait until they are gone";
  }
  std::string StartSummary() const override {
    return "start the stopped pods (manifests moved back to " + h_.manifests() + ")";
  }

  Result<MemberConfig> Config(const RuntimeJournal&) const override {
    return pods_.PodMemberConfig(CPR_TRY(pods_.Etcd()));
  }

  Result<void> Stop(RuntimeJournal& j, const StopOptions& o,
                    const std::function<void(const std::string&)>& say) const override {
    std::vector<std::string> stopped = SplitList(j.get("stopped"));
    for (const auto& pf : CPR_TRY(pods_.List())) {
      if (pf.stopped || !IsControlPlanePod(pf.pod)) continue;
      // Journaled before the move: a kill between the two must not leave a
      // pod stopped that Start does not know of.
      if (std::find(stopped.begin(), stopped.end(), pf.file) == stopped.end()) {
        stopped.push_back(pf.file);
        j.set("stopped", JoinList(stopped));
        CPR_RETURN_IF_ERROR(j.save());
      }
      CPR_RETURN_IF_ERROR(pods_.Stop(pf.file));
    }
    for (const auto& pf : CPR_TRY(pods_.List())) {
      if (std::find(stopped.begin(), stopped.end(), pf.file) == stopped.end()) continue;
      const std::string note = CPR_TRY(pods_.WaitGone(pf, o.timeout, o.kill_after));
      say(pf.pod.name + " gone" + (note.empty() ? "" : " (" + note + ")"));
    }
    return {};
  }

  Result<void> Start(RuntimeJournal& j,
                     const std::function<void(const std::string&)>&) const override {
    for (const auto& file : SplitList(j.get("stopped"))) CPR_RETURN_IF_ERROR(pods_.Start(file));
    return {};
  }

  // The lab's runner logs each pod to pod_logs()/<manifest stem>.log.
  std::string LogFile() const override {
    auto pod = pods_.Etcd();
    if (!pod) return "";
    return h_.pod_logs() + "/" + pod->file.substr(0, pod->file.rfind('.')) + ".log";
  }

 private:
  Host h_;
  StaticPods pods_;
};

}  // namespace

std::unique_ptr<MemberRuntime> NewStaticPodRuntime(const Host& host) {
  return std::make_unique<StaticPodRuntime>(host);
}

}  // namespace cpr::host
