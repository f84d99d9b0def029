// Makes a client's resource ready to store: validates it, stamps id and meta, checks its
// references, and computes its index entries and patient compartment. Pure; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "store/store.h"

namespace carerecord::interactions {

// A new server-assigned id: time-ordered (so new rows append to the id index) and random.
std::string NewResourceId();

// Calls `visit` with every Reference.reference string in the resource (contained ones too).
void ForEachReference(boost::json::value& value,
                      const std::function<void(boost::json::string& reference)>& visit);

// The patients whose compartment a resource of `type` with these index entries belongs to,
// the distribution key first (see store::PreparedWrite).
std::vector<std::string> CompartmentPatients(std::string_view type, std::string_view id,
                                             const fhir::IndexEntries& index);

struct WriteRequest {
  std::string type;
  std::string id;
  int64_t version = 1;
  std::string method;    // POST, PUT, DELETE
  int64_t now_ms = 0;    // provisional meta.lastUpdated; Store::Commit sets the final one
  std::string base_url;  // absolute references on this base are local
  // The server's own work (a feed, a load: no token): it alone writes what the server owns
  // (fhir/server_owned.h). A client's version loses a feed's event time and meta.source, must
  // hold exactly the identifiers under the feeds' systems that the version it replaces held (a
  // 422), and a client writes no feed document Binary (Binary/doc-...: a 403).
  bool server_work = false;
};

// `resource` must already have had urn:uuid and conditional references resolved. `previous` is
// the current version's body when this replaces one (for the index rows to remove).
base::Result<store::PreparedWrite> PrepareWrite(boost::json::object resource,
                                                const WriteRequest& request,
                                                const std::string* previous_json);

base::Result<store::PreparedWrite> PrepareDelete(const WriteRequest& request,
                                                 const std::string& previous_json);

}  // namespace carerecord::interactions
