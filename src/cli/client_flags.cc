#include "cli/client_flags.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <iostream>

#include "cli/command.h"
#include "util/duration.h"

namespace cpr::cli {

void AddClientFlags(CLI::App* cmd, ClientFlags* f) {
  cmd->add_option("--endpoints", f->endpoints,
                  "gRPC endpoints, comma-separated: host:port or http(s)://host:port")
      ->envname("ETCDCTL_ENDPOINTS")
      ->capture_default_str()
      ->group("Connection");
  cmd->add_option("--cacert", f->cacert, "verify the servers' certificates with this CA bundle")
      ->envname("ETCDCTL_CACERT")
      ->group("Connection");
  cmd->add_option("--cert", f->cert, "client certificate (PEM) for mutual TLS")
      ->envname("ETCDCTL_CERT")
      ->group("Connection");
  cmd->add_option("--key", f->key, "client private key (PEM) for mutual TLS")
      ->envname("ETCDCTL_KEY")
      ->group("Connection");
  cmd->add_option("--user", f->user, "NAME[:PASSWORD] for clusters with authentication")
      ->envname("ETCDCTL_USER")
      ->group("Connection");
  cmd->add_option("--password", f->password, "password of --user (else NAME:PASSWORD or a prompt)")
      ->envname("ETCDCTL_PASSWORD")
      ->group("Connection");
  cmd->add_option("--dial-timeout", f->dial_timeout, "time to connect to an endpoint (Go duration)")
      ->envname("ETCDCTL_DIAL_TIMEOUT")
      ->capture_default_str()
      ->group("Connection");
  cmd->add_option("--command-timeout", f->command_timeout,
                  "time for one request (Go duration); a snapshot stream fails after this long "
                  "without data")
      ->envname("ETCDCTL_COMMAND_TIMEOUT")
      ->capture_default_str()
      ->group("Connection");
  cmd->add_flag("--insecure-transport{true}", f->insecure_transport,
                "plaintext for host:port endpoints when no certificate is given (default true; "
                "false: TLS with the system's CAs)")
      ->envname("ETCDCTL_INSECURE_TRANSPORT")
      ->group("Connection");
  cmd->add_flag("--insecure-skip-tls-verify", f->insecure_skip_tls_verify,
                "accepted for etcdctl's sake, but CPR always verifies the server's certificate")
      ->envname("ETCDCTL_INSECURE_SKIP_TLS_VERIFY")
      ->group("Connection");
  cmd->add_flag("--hex", f->hex, "print keys and values as hex escapes (simple output)")
      ->envname("ETCDCTL_HEX");
  AddWriteOut(cmd, &f->format, "output: table, simple, json or yaml");
}

namespace {

// Reads a line from the terminal with echo off; nullopt unless stdin is a
// terminal (a script never blocks on a prompt).
std::optional<std::string> AskPassword(const std::string& prompt) {
  if (::isatty(STDIN_FILENO) != 1) return std::nullopt;
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  termios old{};
  const bool is_tty = ::tcgetattr(fd, &old) == 0;
  if (!is_tty) {
    ::close(fd);
    return std::nullopt;
  }
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  ::tcsetattr(fd, TCSAFLUSH, &quiet);
  [[maybe_unused]] ssize_t w = ::write(fd, prompt.data(), prompt.size());
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') line.push_back(c);
  ::tcsetattr(fd, TCSAFLUSH, &old);
  w = ::write(fd, "\n", 1);
  ::close(fd);
  return line;
}

}  // namespace

Result<client::Config> ClientConfigFrom(const ClientFlags& f) {
  client::Config c;
  c.endpoints = CPR_TRY(client::ParseEndpoints(f.endpoints, "--endpoints"));
  c.tls = client::TlsFiles{f.cacert, f.cert, f.key};
  c.dial_timeout = CPR_TRY(ParseGoDuration(f.dial_timeout, "--dial-timeout"));
  c.command_timeout = CPR_TRY(ParseGoDuration(f.command_timeout, "--command-timeout"));
  c.insecure_transport = f.insecure_transport;
  // Recovery tools run with root's certificates on the masters: a connection
  // nobody verified could hand them to anyone. Said once, never done.
  if (f.insecure_skip_tls_verify)
    std::cerr << "cpr: note: --insecure-skip-tls-verify is ignored: cpr always verifies the "
                 "server's certificate (pass the CA that signed it with --cacert)\n";
  if (!f.user.empty()) {
    if (!f.password.empty()) {
      c.user = f.user;
      c.password = f.password;
    } else if (const size_t colon = f.user.find(':'); colon != std::string::npos) {
      c.user = f.user.substr(0, colon);
      c.password = f.user.substr(colon + 1);
    } else {
      c.user = f.user;
      auto pw = AskPassword("Password: ");
      if (!pw)
        return MakeError(Code::kInvalidArgument, "--user",
                         "no password and no terminal to ask for it",
                         "pass --user NAME:PASSWORD or --password");
      c.password = *pw;
    }
    if (c.user.empty()) return MakeError(Code::kInvalidArgument, "--user", "empty user name");
  }
  return c;
}

Result<std::unique_ptr<client::Client>> MakeClient(const ClientFlags& flags) {
  client::Config config = CPR_TRY(ClientConfigFrom(flags));
  return client::Client::Create(std::move(config));
}

Result<LiveFormat> LiveFormatFrom(const ClientFlags& f) {
  if (f.format == "simple") return LiveFormat::kSimple;
  if (f.format == "table") return LiveFormat::kTable;
  if (f.format == "json") return LiveFormat::kJson;
  if (f.format == "yaml") return LiveFormat::kYaml;
  return MakeError(Code::kInvalidArgument, "-w", "unknown output format '" + f.format + "'",
                   "use table, simple, json or yaml");
}

}  // namespace cpr::cli
