// `carerecord feeds add|list|enable|disable|errors|reprocess|stats --data DIR`: the HL7 v2
// feeds (which sending facility speaks for which organisation) and the inbox's error queue from
// the command line. Works whether or not a server runs on the same folder: the inbox's tables
// are written on a connection of their own, and a running server sees a feed change at its next
// group commit and a reprocess within about a second.
#pragma once

#include <CLI/CLI.hpp>

namespace carerecord::app {

// Adds the `feeds` subcommand to `app`. Its commands run from their CLI11 callbacks and end the
// parse with CLI::RuntimeError(exit status), which CLI11_PARSE returns from main silently.
void RegisterFeedCommands(CLI::App& app);

}  // namespace carerecord::app
