// `carerecord keys rotate|list --data DIR`: the server's token signing keys (access/signing_keys.h)
// from the command line. Works whether or not a server runs on the same folder; a running server
// takes a rotated key up within about ten seconds.
#pragma once

#include <CLI/CLI.hpp>

namespace carerecord::app {

// Adds the `keys` subcommand to `app`. Its commands run from their CLI11 callbacks and end the
// parse with CLI::RuntimeError(exit status), which CLI11_PARSE returns from main silently.
void RegisterKeyCommands(CLI::App& app);

}  // namespace carerecord::app
