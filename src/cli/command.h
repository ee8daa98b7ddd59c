// The command table: each top-level command registers its CLI11 subcommand
// in one function; main() lists them (one line per command).
#pragma once

#include <CLI/CLI.hpp>

#include "util/result.h"

namespace cpr::cli {

// Where a command's callback leaves its exit code: 0 ok, 1 failure, 2 usage.
struct RunState {
  int exit_code = 0;
};

// Prints "cpr: <error>" to stderr and returns the exit code for it.
int ReportError(const Error& error);

void AddSnapshotCommand(CLI::App& app, RunState& state);

}  // namespace cpr::cli
