// `carerecord ingest hl7 --data DIR --feed NAME FILE...`: loads HL7 v2 files (one message, several
// separated by segment ends or blank lines, FHS/BHS batch files, MLLP-framed files) through the
// inbox the MLLP listener uses: each message committed there first (durable, idempotent by
// facility and control id: a file loaded twice counts duplicates and changes nothing), then
// mapped into the record by the same MappingProcessor, its failures left in the error queue.
//
// With the record store free, the command maps what it stored itself. When a server holds the
// store (its exclusive lock on DIR/carerecord.lock), the command only commits the messages to the
// inbox and says so: the server's inbox worker maps them within about a second (it polls the
// inbox), as it does a `feeds reprocess`.
//
// A progress bar goes to stderr when it is a terminal; the summary line (read, accepted,
// duplicates, in error, msg/s) to stdout; each message in error to stderr as FILE:LINE: reason.
// Exit status: 0 every message accepted (or a duplicate), 1 some in error, 2 a usage error.
#pragma once

#include <CLI/CLI.hpp>

namespace carerecord::app {

// Adds `ingest hl7`; runs from its CLI11 callback and ends the parse with
// CLI::RuntimeError(exit status), as the feed commands do.
void RegisterIngestCommand(CLI::App& app);

}  // namespace carerecord::app
