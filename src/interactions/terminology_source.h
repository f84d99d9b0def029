// Where a search reads the terminology stored in this server (ValueSet, CodeSystem) from: the
// request's own read session, so those resources pass the same gate as everything it reads, or
// the write path's reader for conditional operations. A source serves one request on one thread.
#pragma once

#include <boost/json/object.hpp>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "store/store.h"

namespace carerecord::interactions {

class TerminologySource {
 public:
  virtual ~TerminologySource() = default;
  // The current resources of `type` whose `url` is `url`: every business version stored.
  virtual base::Result<std::vector<boost::json::object>> FindByUrl(std::string_view type,
                                                                   std::string_view url) = 0;
  // Type/id; nullopt when there is none (or it is deleted).
  virtual base::Result<std::optional<boost::json::object>> FindById(std::string_view type,
                                                                    std::string_view id) = 0;
};

std::unique_ptr<TerminologySource> ReadSessionTerminology(store::ReadSession& session);
std::unique_ptr<TerminologySource> TransactionReaderTerminology(store::TransactionReader& reader);

// The resource that `reference` names: a canonical "url" or "url|version", or "Type/id". Of
// several versions of one url: the highest version when every version is dotted numbers (1.10
// after 1.9), otherwise the one updated last. nullopt when none is stored.
base::Result<std::optional<boost::json::object>> FindCanonical(TerminologySource& source,
                                                               std::string_view type,
                                                               std::string_view reference);

}  // namespace carerecord::interactions
