// Who may use the demo region (`serve --demo`, on the first start only): its organisations in the
// directory under the ODS codes the demo's Organizations carry (so the directory sync refers to
// those and writes no second one), two users in each staff role, a patient user linked to one of
// the demo's patients, and one integration client. Called by the process that holds the store.
#pragma once

#include <string>

#include "access/directory.h"
#include "base/status.h"
#include "interactions/fhir_service.h"

namespace carerecord::app {

// Creates them and returns the lines to print once: "user ... password ..." and the client's
// client_id and client_secret (stored only as hashes: they cannot be shown again).
base::Result<std::string> CreateDemoDirectory(access::Directory& directory,
                                              interactions::FhirService& service);

}  // namespace carerecord::app
