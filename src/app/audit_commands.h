// `carerecord audit verify|export|report|break-glass|declarations --data DIR`: the audit log
// (src/audit/) from the command line. Each reads the log in one snapshot, so it works whether
// or not a server is appending to the same folder.
#pragma once

#include <CLI/CLI.hpp>

namespace carerecord::app {

// Adds the `audit` subcommand to `app`. Its commands run from their CLI11 callbacks and end the
// parse with CLI::RuntimeError(exit status): 0 done (verify: the log is whole), 1 the log is
// damaged or could not be read, 2 a bad argument.
void RegisterAuditCommands(CLI::App& app);

}  // namespace carerecord::app
