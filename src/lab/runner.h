// The lab's kubelet stand-in, one per lab host (`cpr lab runner --root R`,
// started by the lab): it runs each manifest in R/etc/kubernetes/manifests
// as a process (the first container's command, its env added), restarts it
// when it dies (after 200 ms), stops it when its manifest leaves the folder
// or changes (SIGTERM, SIGKILL after 10 s), and records each pod's PID in
// R/var/run/cpr-pods/<manifest stem>.pid and its output in
// R/var/log/cpr-pods/<stem>.log. Pods die with the runner (PDEATHSIG), as
// containers do when their host loses power. SIGTERM stops every pod, then
// the runner. It polls the folder every 20 ms.
#pragma once

#include <string>

namespace cpr::lab {

// Runs until SIGTERM/SIGINT; returns the exit code.
int RunRunner(const std::string& root);

}  // namespace cpr::lab
