// The directory's command line: `orgs`, `users` and `clients` (add, list, enable, disable,
// reset-password). main() registers them before parsing and runs the chosen one after.
// Every command works whether or not a server runs on the same --data: the directory is
// written through its own connection, and the record's FHIR resources by whichever process
// holds the record store (this one when it can take it, else the running server).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

namespace carerecord::app {

class IdentityCommands {
 public:
  explicit IdentityCommands(CLI::App& app);
  ~IdentityCommands();
  // After parsing: the exit status of the identity command that was chosen (0 done, 2 refused
  // input, 1 a failure of the system), or nullopt when another command was chosen.
  std::optional<int> RunIfChosen();

 private:
  struct Options;
  std::unique_ptr<Options> options_;
};

}  // namespace carerecord::app
