// How the demo region is assembled: each writer appends its resources to a TransactionText, and
// ends its Bundle with the Provenance that says the ICB assembled the entries. Resources are
// written by fhir::AppendJson, which prints decimals as people write them (72.3, not 7.23E1).
// Used by the region and patient record writers; a TransactionText is not thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "app/demo/fhir_elements.h"

namespace carerecord::app::demo {

// A transaction Bundle written entry by entry, so each resource's DOM lives only until written.
class TransactionText {
 public:
  TransactionText();

  // One entry; `full_url` may be empty (entries PUT under a fixed id need none).
  void Append(std::string_view full_url, const json::object& resource, std::string_view method,
              std::string_view url);

  // The Bundle's text; the TransactionText is spent.
  std::string Finish();

 private:
  std::string text_;
  size_t entries_ = 0;
};

// The Provenance every demo bundle ends with: the ICB assembled these entries.
json::object AssemblyProvenance(const std::vector<std::string>& targets);

}  // namespace carerecord::app::demo
