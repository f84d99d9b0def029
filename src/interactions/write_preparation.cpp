#include "interactions/write_preparation.h"

#include <algorithm>
#include <atomic>
#include <random>
#include <set>

#include "base/ascii.h"
#include "fhir/fhir_date.h"
#include "fhir/index_extraction.h"
#include "fhir/json_number.h"
#include "fhir/resource_validation.h"
#include "fhir/sealing_facts.h"
#include "fhir/search_parameters.h"
#include "fhir/server_owned.h"
#include "interactions/fhir_json.h"
#include "interactions/local_reference.h"
#include "store/body_codec.h"

namespace carerecord::interactions {
namespace {

namespace json = boost::json;

// Crockford's base32, lower case: ids sort by creation time and read unambiguously.
constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

void AppendBase32(std::string& out, uint64_t value, int digits) {
  for (int i = digits - 1; i >= 0; --i) out.push_back(kAlphabet[(value >> (i * 5)) & 31]);
}

// What the replaced version was indexed under, so its index rows and compartment rows go.
base::Status DescribePrevious(const std::string& previous_json, const WriteRequest& request,
                              store::PreparedWrite& write) {
  auto previous = ParseJson(previous_json);
  if (!previous.ok() || !previous->is_object()) {
    return base::MakeError(base::ErrorCode::kInternal, "the stored version does not parse");
  }
  write.previous_index = fhir::ExtractIndexEntries(previous->as_object(), request.type);
  write.previous_compartment_patients =
      CompartmentPatients(request.type, request.id, write.previous_index);
  return base::Status::Ok();
}

}  // namespace

std::string NewResourceId() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  // 48-bit milliseconds + 80 random bits, 26 characters, like a ULID.
  std::string id;
  id.reserve(26);
  AppendBase32(id, static_cast<uint64_t>(fhir::NowMs()), 10);
  uint64_t a = random(), b = random();
  AppendBase32(id, a, 12);
  AppendBase32(id, b, 4);
  return id;
}

void ForEachReference(json::value& value,
                      const std::function<void(json::string& reference)>& visit) {
  if (value.is_object()) {
    json::object& object = value.as_object();
    for (auto& [key, child] : object) {
      if (key == "reference" && fhir::IfText(child)) {  // text, not a kept number
        visit(child.as_string());
      } else if (child.is_object() || child.is_array()) {
        ForEachReference(child, visit);
      }
    }
  } else if (value.is_array()) {
    for (json::value& child : value.as_array()) {
      if (child.is_object() || child.is_array()) ForEachReference(child, visit);
    }
  }
}

std::vector<std::string> CompartmentPatients(std::string_view type, std::string_view id,
                                             const fhir::IndexEntries& index) {
  std::vector<std::string> out;
  if (type == "Patient") {
    out.emplace_back(id);
    return out;
  }
  auto params = fhir::PatientCompartmentParams(type);
  if (params.empty()) return out;
  // The distribution key comes from `patient`, else `subject`, else the first listed parameter,
  // so that a search on that parameter can rely on it (see sqlite_search.cpp).
  std::vector<std::string_view> order;
  for (std::string_view preferred : {"patient", "subject"}) {
    if (std::find(params.begin(), params.end(), preferred) != params.end()) {
      order.push_back(preferred);
    }
  }
  for (const std::string& p : params) {
    if (std::find(order.begin(), order.end(), p) == order.end()) order.push_back(p);
  }
  auto all = fhir::AllSearchParams();
  for (std::string_view code : order) {
    for (const fhir::ReferenceEntry& ref : index.references) {
      if (ref.target_type != "Patient" || all[ref.param_id].code != code) continue;
      if (std::find(out.begin(), out.end(), ref.target_id) == out.end()) {
        out.push_back(ref.target_id);
      }
    }
  }
  return out;
}

namespace {

// A copy shaped by _summary or _elements is tagged SUBSETTED: written back, it would erase what
// it left out (R4: such a resource must not be used to update).
base::Status CheckNotSubsetted(const json::object& resource) {
  const auto* meta = resource.if_contains("meta");
  const auto* tags = meta && meta->is_object() ? meta->as_object().if_contains("tag") : nullptr;
  if (!tags || !tags->is_array()) return base::Status::Ok();
  for (const json::value& tag : tags->as_array()) {
    const auto* code = tag.is_object() ? tag.as_object().if_contains("code") : nullptr;
    const auto* system = tag.is_object() ? tag.as_object().if_contains("system") : nullptr;
    const json::string* code_text = code ? fhir::IfText(*code) : nullptr;
    const json::string* system_text = system ? fhir::IfText(*system) : nullptr;
    if (code_text && system_text && *code_text == "SUBSETTED" &&
        *system_text == "http://terminology.hl7.org/CodeSystem/v3-ObservationValue") {
      return base::MakeError(base::ErrorCode::kUnprocessable,
                             "the resource is tagged SUBSETTED: it is an incomplete copy (from "
                             "_summary or _elements) and cannot be written; read it whole first",
                             "/meta/tag");
    }
  }
  return base::Status::Ok();
}

// A URN's "urn:" and its namespace are case-insensitive (RFC 8141), so "URN:CareRecord:source:"
// claims what "urn:carerecord:source:" does.
using base::StartsWithIgnoringCase;

// A feed's document content (fhir/server_owned.h): only the feed writes or deletes it; a client
// that replaced it would change what a hospital's letter says.
base::Status CheckFeedBinary(const WriteRequest& request) {
  if (request.server_work || request.type != "Binary" ||
      !StartsWithIgnoringCase(request.id, fhir::kFeedBinaryIdPrefix)) {
    return base::Status::Ok();
  }
  return base::MakeError(base::ErrorCode::kForbidden,
                         "Binary/" + request.id +
                             " holds a hospital feed's document content (Binary/doc-...): only "
                             "the feed writes or deletes it",
                         "Binary.id");
}

// What a client's version may not claim of what the server owns (fhir/server_owned.h): a feed's
// event time and meta.source are dropped, in any case (a read-modify-write carries them back, and
// the version is not the feed's).
void DropServerOwnedMeta(json::object& resource) {
  json::value* meta = resource.if_contains("meta");
  if (meta == nullptr || !meta->is_object()) return;
  json::object& m = meta->as_object();
  if (json::value* source = m.if_contains("source");
      source && source->is_string() &&
      StartsWithIgnoringCase(source->as_string(), fhir::kFeedSourcePrefix)) {
    m.erase("source");
  }
  if (json::value* extensions = m.if_contains("extension"); extensions && extensions->is_array()) {
    json::array& list = extensions->as_array();
    const std::string_view event_time = fhir::kEventTimeExtension;
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const json::value& extension) {
                                const json::value* url =
                                    extension.is_object() ? extension.as_object().if_contains("url")
                                                          : nullptr;
                                return url && url->is_string() &&
                                       url->as_string().size() == event_time.size() &&
                                       StartsWithIgnoringCase(url->as_string(), event_time);
                              }),
               list.end());
    if (list.empty()) m.erase("extension");
  }
}

// The values of the type's `identifier` search parameter under the feeds' systems, in any case,
// as "system|value": every element the parameter reads (Identifier, a DocumentReference's
// masterIdentifier), which is how the feeds find their sources' resources.
std::set<std::string> SourceIdentifiers(const fhir::IndexEntries& index, uint32_t param) {
  std::set<std::string> out;
  for (const fhir::TokenEntry& token : index.tokens) {
    if (token.param_id != param || token.of_type) continue;
    if (!StartsWithIgnoringCase(token.system, fhir::kSourceIdentifierPrefix)) continue;
    out.insert(token.system + "|" + token.code);
  }
  return out;
}

// A client's version holds exactly the feeds' identifiers the version it replaces held (none for
// a create), else a 422: one planted would take a hospital's messages into a record of the
// client's choosing (a leak) or, a second holder, stop them; one removed or changed would have
// the feed make a second resource and split the record.
base::Status CheckSourceIdentifiers(const store::PreparedWrite& write) {
  const fhir::SearchParamDef* param = fhir::FindSearchParam(write.type, "identifier");
  if (param == nullptr) return base::Status::Ok();
  const std::set<std::string> now = SourceIdentifiers(write.index, param->id);
  const std::set<std::string> before = SourceIdentifiers(write.previous_index, param->id);
  if (now == before) return base::Status::Ok();
  const auto first_missing = [](const std::set<std::string>& from,
                                const std::set<std::string>& in) -> std::string {
    for (const std::string& value : from) {
      if (!in.count(value)) return value;
    }
    return {};
  };
  const std::string added = first_missing(now, before);
  const std::string what =
      write.is_delete ? "deleting it removes the identifier " + first_missing(before, now)
      : added.empty()
          ? "this version removes or changes the identifier " + first_missing(before, now)
          : "this version gives it the identifier " + added;
  return base::MakeError(
      base::ErrorCode::kUnprocessable,
      what + ", under a hospital feed's own system (" + fhir::kSourceIdentifierPrefix +
          "...): only the feed states identifiers under it, since it finds its resources by "
          "them. Keep those the resource holds as they are, and name yours under a system of "
          "your own",
      write.type + ".identifier");
}

// "type reference" of a Patient's replaced-by and replaces links: the merges' (an A40, the patient
// index), which a feed follows from the Patient it finds by MRN to the survivor.
std::set<std::string> MergeLinks(const json::object& patient) {
  std::set<std::string> out;
  const json::value* links = patient.if_contains("link");
  if (links == nullptr || !links->is_array()) return out;
  for (const json::value& link : links->as_array()) {
    const json::object* l = link.if_object();
    const json::value* type = l ? l->if_contains("type") : nullptr;
    if (!type || !type->is_string() ||
        (type->as_string() != "replaced-by" && type->as_string() != "replaces")) {
      continue;
    }
    const json::value* other = l->if_contains("other");
    const json::value* reference =
        other && other->is_object() ? other->as_object().if_contains("reference") : nullptr;
    out.insert(std::string(type->as_string()) + " " +
               (reference && reference->is_string() ? std::string(reference->as_string())
                                                    : std::string("(no reference)")));
  }
  return out;
}

// A client's Patient holds exactly the merge links the version it replaces held (hostile round
// 10 R1: a replaced-by link a clinician wrote turned the feed's messages for one patient into
// another's record, where another organisation read them; a self-link stopped the feed). Merges
// are the feeds' A40 and the patient index's; a client keeps them as they are.
base::Status CheckMergeLinks(const json::object& patient, const std::string* previous_json) {
  const std::set<std::string> now = MergeLinks(patient);
  std::set<std::string> before;
  if (previous_json != nullptr && previous_json->find("\"link\"") != std::string::npos) {
    auto previous = ParseJson(*previous_json);
    if (previous.ok() && previous->is_object()) before = MergeLinks(previous->as_object());
  }
  if (now == before) return base::Status::Ok();
  return base::MakeError(base::ErrorCode::kUnprocessable,
                         "a Patient's replaced-by and replaces links record a merge, which the "
                         "hospital feeds (A40) and the patient index make: a client keeps those "
                         "the Patient holds as they are and adds none (seealso and refer links "
                         "are yours to write)",
                         "Patient.link");
}

}  // namespace

base::Result<store::PreparedWrite> PrepareWrite(json::object resource, const WriteRequest& request,
                                                const std::string* previous_json) {
  CR_RETURN_IF_ERROR(fhir::ValidateResource(resource));
  CR_RETURN_IF_ERROR(CheckNotSubsetted(resource));
  CR_RETURN_IF_ERROR(CheckFeedBinary(request));
  if (!request.server_work) DropServerOwnedMeta(resource);
  store::PreparedWrite write;
  write.type = request.type;
  write.id = request.id;
  write.version = request.version;
  write.method = request.method;
  write.last_updated_ms = request.now_ms;

  resource["id"] = request.id;
  json::object& meta = resource["meta"].is_object() ? resource["meta"].as_object()
                                                    : resource["meta"].emplace_object();
  meta["versionId"] = std::to_string(request.version);
  meta["lastUpdated"] = fhir::FormatInstant(request.now_ms);

  // Local references must name a real type and, when the write commits, an existing resource.
  base::Status status;
  json::value as_value(std::move(resource));
  ForEachReference(as_value, [&](json::string& reference) {
    if (!status.ok()) return;
    std::string_view ref(reference.data(), reference.size());
    if (ref.empty() || ref[0] == '#') return;
    if (ref.rfind("urn:uuid:", 0) == 0 || ref.rfind("urn:oid:", 0) == 0) {
      status = base::Invalid("the reference " + std::string(ref) +
                             " is not resolved: urn references only resolve inside a "
                             "transaction Bundle that contains them");
      return;
    }
    size_t question = ref.find('?');
    if (question != std::string_view::npos &&
        ref.substr(0, question).find("://") == std::string_view::npos) {
      status = base::Invalid("the conditional reference " + std::string(ref) +
                             " is only resolved inside a transaction Bundle");
      return;
    }
    bool absolute = ref.find("://") != std::string_view::npos;
    if (absolute) {
      auto local = LocalPathOf(ref, request.base_url);
      if (!local.ok()) {
        status = local.error();
        return;
      }
      // Another server's resource: kept and indexed as its URL.
      if (request.base_url.empty() || !local->has_value()) return;
      // This server's own absolute URL: stored relative, so it is one local reference.
      std::string relative = std::move(**local);
      reference = relative;
      ref = std::string_view(reference.data(), reference.size());
    }
    auto parsed = fhir::ParseReference(ref);
    if (!parsed || parsed->id.empty() || !fhir::IsResourceType(parsed->type)) {
      status = base::Invalid("the reference '" + std::string(ref) +
                             "' is not Type/id of a known resource type");
      return;
    }
    if (!fhir::IsValidId(parsed->id)) {
      status = base::Invalid("the reference '" + std::string(ref) + "' has an invalid id");
      return;
    }
    write.required_targets.emplace_back(parsed->type, parsed->id);
  });
  if (!status.ok()) {
    base::Error error = status.error();
    error.location = request.type + ".reference";
    return error;
  }
  const json::object& stamped = as_value.as_object();
  if (!request.server_work && request.type == "Patient") {
    CR_RETURN_IF_ERROR(CheckMergeLinks(stamped, previous_json));
  }
  write.index = fhir::ExtractIndexEntries(stamped, request.type);
  if (const size_t n = fhir::IndexEntryCount(write.index); n > fhir::kMaxIndexEntries) {
    return base::MakeError(base::ErrorCode::kTooLarge,
                           "the " + request.type + " has " + std::to_string(n) +
                               " search index values; this server takes at most " +
                               std::to_string(fhir::kMaxIndexEntries) + " in one resource",
                           request.type);
  }
  write.compartment_patients = CompartmentPatients(request.type, request.id, write.index);
  write.sealing_facts = fhir::EncodeSealingFacts(stamped);
  write.json = Serialize(as_value);
  // The store stamps the commit's time here (Store::Commit), in commit order.
  std::string stamp = "\"lastUpdated\":\"" + fhir::FormatInstant(request.now_ms) + "\"";
  if (size_t at = write.json.find(stamp); at != std::string::npos) {
    write.last_updated_at = at + std::string_view("\"lastUpdated\":\"").size();
  }

  if (previous_json && !previous_json->empty()) {
    CR_RETURN_IF_ERROR(DescribePrevious(*previous_json, request, write));
  }
  if (!request.server_work) CR_RETURN_IF_ERROR(CheckSourceIdentifiers(write));
  return write;
}

base::Result<store::PreparedWrite> PrepareDelete(const WriteRequest& request,
                                                 const std::string& previous_json) {
  store::PreparedWrite write;
  write.type = request.type;
  write.id = request.id;
  write.version = request.version;
  write.method = "DELETE";
  write.is_delete = true;
  write.last_updated_ms = request.now_ms;
  CR_RETURN_IF_ERROR(CheckFeedBinary(request));
  CR_RETURN_IF_ERROR(DescribePrevious(previous_json, request, write));
  // A feed's resource is its feed's to delete (hostile round 10 R2: the next message made a new
  // Patient, and what the hospital had sent stayed with the deleted one, out of sight).
  if (!request.server_work) CR_RETURN_IF_ERROR(CheckSourceIdentifiers(write));
  return write;
}

}  // namespace carerecord::interactions
