#include "app/demo/transaction_bundle.h"

#include "app/demo/calendar.h"
#include "app/demo/care_providers.h"
#include "fhir/json_text.h"

namespace carerecord::app::demo {

TransactionText::TransactionText() {
  text_.reserve(1 << 18);
  text_ = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
}

void TransactionText::Append(std::string_view full_url, const json::object& resource,
                             std::string_view method, std::string_view url) {
  text_ += entries_++ == 0 ? "{" : ",{";
  if (!full_url.empty()) {
    text_ += "\"fullUrl\":";
    fhir::AppendJsonString(text_, full_url);
    text_ += ',';
  }
  text_ += "\"resource\":";
  fhir::AppendJson(text_, resource);
  text_ += ",\"request\":{\"method\":";
  fhir::AppendJsonString(text_, method);
  text_ += ",\"url\":";
  fhir::AppendJsonString(text_, url);
  text_ += "}}";
}

std::string TransactionText::Finish() {
  text_ += "]}";
  return std::move(text_);
}

json::object AssemblyProvenance(const std::vector<std::string>& targets) {
  json::object provenance = NewResource("Provenance");
  json::array references;
  for (const std::string& target : targets) {
    references.emplace_back(json::object{{"reference", target}});
  }
  provenance["target"] = std::move(references);
  provenance["recorded"] = DateTimeText(kReferenceTime);
  provenance["activity"] =
      Concept({"http://terminology.hl7.org/CodeSystem/v3-DataOperation", "CREATE", "create"});
  provenance["agent"] = json::array{json::object{
      {"type", Concept({"http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                        "assembler", "Assembler"})},
      {"who", Ref(kIcb, kIcbName)}}};
  return provenance;
}

}  // namespace carerecord::app::demo
