// Keeps the record in step with the directory: each organisation is a FHIR Organization (its
// ODS code as identifier) and each staff user a Practitioner with a PractitionerRole at their
// organisation's Organization, written through the FHIR service's normal write path as the
// source "carerecord-directory". Only the process that holds the record store runs it: the
// server (DirectorySyncLoop), or the command line when no server runs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/status.h"
#include "store/identity_records.h"
#include "store/store.h"

namespace carerecord::app {

inline constexpr std::string_view kDirectorySource = "carerecord-directory";

// The ids the directory's resources have in the record.
std::string OrganizationIdFor(std::string_view ods_code);      // "ods-RDZ"
std::string PractitionerIdFor(const store::UserRecord& user);  // "carerecord-user-12"
std::string PractitionerRoleIdFor(const store::UserRecord& user);

struct DirectorySyncCounts {
  int organisations = 0;  // Organizations written or found
  int users = 0;          // Practitioner and PractitionerRole pairs written
};

// Writes what changed in the directory since it was last written (rows whose revision is past
// their synced revision) and marks it written. An Organization the record already holds with
// the same ODS code (from a feed, the demo region) is used as it is, not duplicated or
// overwritten. Safe to run again after a failure: what was not marked is written next time.
base::Result<DirectorySyncCounts> SyncDirectoryToRecord(store::IdentityRecords& records,
                                                        store::Store& store);

// The server's part: a thread that reads the directory's change counter every `interval` and
// runs the sync when it moved (and once at start, for changes made while no server ran).
class DirectorySyncLoop {
 public:
  DirectorySyncLoop(std::string data_directory, store::Store& store,
                    std::chrono::milliseconds interval = std::chrono::seconds(1));
  ~DirectorySyncLoop();
  // Opens the directory's connection and starts the thread.
  base::Status Start();
  void Stop();

 private:
  void Run();

  std::string data_directory_;
  store::Store& store_;
  std::chrono::milliseconds interval_;
  std::unique_ptr<store::IdentityRecords> records_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace carerecord::app
