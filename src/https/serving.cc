#include "https/serving.h"

#include <signal.h>

#include <algorithm>

#include "pki/issue.h"

namespace cpr::https {

Result<pki::Certificate> IssueServingCert(const HostPort& listen,
                                          const std::vector<std::string>& extra_dns,
                                          const pki::Name& subject, const pki::PrivateKey& key,
                                          const pki::Certificate& ca, const pki::PrivateKey& ca_key,
                                          int64_t now, int64_t not_after) {
  pki::CertSpec spec;
  spec.subject = subject;
  if (listen.is_ip)
    spec.ip_addresses.push_back(listen.host);
  else
    spec.dns_names.push_back(listen.host);
  for (const auto& d : extra_dns)
    if (d != listen.host) spec.dns_names.push_back(d);
  spec.ext_key_usages = {pki::kServerAuth};
  spec.not_before = now - pki::kBackdateSeconds;
  spec.not_after = std::min(not_after, ca.Info().not_after);
  return pki::IssueSigned(spec, key.get(), ca, ca_key);
}

namespace {

sigset_t StopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  return signals;
}

}  // namespace

void BlockStopSignals() {
  const sigset_t signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

int WaitForStopSignal(const std::function<bool()>& should_stop) {
  const sigset_t signals = StopSignals();
  while (!should_stop()) {
    timespec slice{0, 200 * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &slice);
    if (sig > 0) return sig;
  }
  return 0;
}

}  // namespace cpr::https
