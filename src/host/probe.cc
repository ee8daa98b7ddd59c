#include "host/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace cpr::host {

bool SplitUrl(const std::string& url, std::string* host, int* port) {
  std::string rest = url;
  if (const size_t s = rest.find("://"); s != std::string::npos) rest = rest.substr(s + 3);
  if (const size_t slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) return false;
  std::string h = rest.substr(0, colon);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const std::string p = rest.substr(colon + 1);
  if (p.find_first_not_of("0123456789") != std::string::npos || p.size() > 5) return false;
  const int n = std::stoi(p);
  if (n <= 0 || n > 65535) return false;
  *host = h;
  *port = n;
  return true;
}

bool TcpAnswers(const std::string& url, int timeout_ms) {
  std::string h;
  int port = 0;
  if (!SplitUrl(url, &h, &port)) return false;
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  if (auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
      inet_pton(AF_INET, h.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
             inet_pton(AF_INET6, h.c_str(), &a6->sin6_addr) == 1) {
    family = AF_INET6;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    return false;  // names are not resolved: a probe must not wait on DNS
  }
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    ok = true;
  } else if (errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, timeout_ms) == 1) {
      int err = 0;
      socklen_t l = sizeof err;
      ok = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) == 0 && err == 0;
    }
  }
  ::close(fd);
  return ok;
}

std::vector<Probe> ProbeAll(std::vector<Probe> probes, int timeout_ms) {
  std::vector<std::thread> threads;
  threads.reserve(probes.size());
  for (auto& p : probes)
    threads.emplace_back([&p, timeout_ms] { p.answers = TcpAnswers(p.url, timeout_ms); });
  for (auto& t : threads) t.join();
  return probes;
}

}  // namespace cpr::host
