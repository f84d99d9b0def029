// Planning an A40 merge (PlanMerge): the checks that refuse a merge the record cannot take, and the
// writes that retire the loser and move its compartment to the survivor.
#include <boost/json.hpp>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "feeds/apply_mapped_internal.h"

namespace carerecord::feeds::internal {

namespace json = boost::json;
using base::ErrorCode;
using mapping::MappedResource;

namespace {

// The identifier of `patient` under `system` ("M100"); empty when it has none.
// The Patient's identifier of `system` that has a value, or none.
const json::object* IdentifierOf(const json::object& patient, std::string_view system) {
  auto* identifiers = patient.if_contains("identifier");
  if (!identifiers || !identifiers->is_array()) return nullptr;
  for (const auto& identifier : identifiers->as_array()) {
    if (!identifier.is_object()) continue;
    auto* s = identifier.as_object().if_contains("system");
    auto* v = identifier.as_object().if_contains("value");
    if (s && v && s->is_string() && v->is_string() && s->as_string() == system) {
      return &identifier.as_object();
    }
  }
  return nullptr;
}

std::string IdentifierValue(const json::object& patient, const std::string& system) {
  const json::object* identifier = IdentifierOf(patient, system);
  return identifier ? std::string(identifier->at("value").as_string()) : std::string();
}

// A merge the record refuses as the source sent it: nothing of the message is written, and it
// stays in the error queue with this ERR until the source corrects it and it is reprocessed.
hl7v2::Hl7Error RefuseMerge(hl7v2::ErrorCondition condition, const hl7v2::ErrorLocation& where,
                            std::string reason) {
  return hl7v2::MakeHl7Error(condition, where, "A40 not applied: " + std::move(reason),
                             ErrorCode::kUnprocessable);
}

}  // namespace

// The survivor a merged Patient's `replaced-by` link names; empty when it has none.
std::string ReplacedBy(const json::object& patient) {
  auto* links = patient.if_contains("link");
  if (!links || !links->is_array()) return {};
  for (const auto& link : links->as_array()) {
    if (!link.is_object()) continue;
    auto* type = link.as_object().if_contains("type");
    auto* other = link.as_object().if_contains("other");
    if (!type || !other || !type->is_string() || *type != "replaced-by" || !other->is_object()) {
      continue;
    }
    if (auto* ref = other->as_object().if_contains("reference"); ref && ref->is_string()) {
      return std::string(ref->as_string());
    }
  }
  return {};
}

// The Patient a merged Patient's data now belong to: its `replaced-by` link followed, through a
// chain of merges (A into B, then B into C: A's is C), to the one that has none.
base::Result<Stored> FinalSurvivor(interactions::FhirService& service,
                                   const interactions::RequestContext& ctx,
                                   const std::string& replaced_by) {
  constexpr int kMostHops = 64;
  std::string next = replaced_by;
  for (int hop = 0; hop < kMostHops; ++hop) {
    constexpr std::string_view kPrefix = "Patient/";
    if (next.rfind(kPrefix, 0) != 0) {
      return base::MakeError(ErrorCode::kUnprocessable,
                             "a Patient is replaced by " + next + ", which is not a Patient here");
    }
    const std::string id = next.substr(kPrefix.size());
    auto response = service.Read(ctx, "Patient", id);
    if (response.status != 200) {
      return ResponseError(response, "reading " + next + ", which a merged Patient is replaced by");
    }
    auto body = ParseBody(response.body);
    if (!body.ok()) return body.error();
    std::string further = ReplacedBy(body.value());
    if (further.empty()) return Stored{id, VersionOf(body.value()), std::move(body.value())};
    next = std::move(further);
  }
  return base::MakeError(ErrorCode::kUnprocessable, "the replaced-by links from " + replaced_by +
                                                        " loop or run longer than " +
                                                        std::to_string(kMostHops) + " merges");
}

// Moves the loser's compartment to the survivor and links the two Patients (A40). A merge that
// would leave the record on an inactive Patient or make Patients replace each other is refused
// (`refused`, nothing planned): a survivor merged away itself (into the loser: a cycle), a
// loser already merged into another Patient, one Patient as both.
base::Status PlanMerge(interactions::FhirService& service, const interactions::RequestContext& ctx,
                       const mapping::MappedMessage& message, std::vector<Planned>& planned,
                       const std::string& survivor_target, json::array& extra_entries,
                       ApplyOutcome& outcome, std::optional<hl7v2::Hl7Error>& refused) {
  const mapping::PatientMerge& merge = *message.merge;
  // The survivor: the message's Patient, written whatever its own decision was, with the link.
  Planned* survivor = nullptr;
  for (Planned& p : planned) {
    if (p.mapped->type == "Patient" && p.mapped->identity_system == merge.survivor_system &&
        p.mapped->identity_value == merge.survivor_value) {
      survivor = &p;
    }
  }
  if (survivor == nullptr) return base::MakeError(ErrorCode::kInternal, "A40 without survivor");
  const std::string survivor_replaced_by =
      survivor->current ? ReplacedBy(survivor->current->body) : std::string();
  MappedResource loser_key;
  loser_key.type = "Patient";
  loser_key.identity_system = merge.loser_system;
  loser_key.identity_value = merge.loser_value;
  auto loser = FindCurrent(service, ctx, loser_key);
  if (!loser.ok()) return loser.error();
  const std::string loser_replaced_by = loser.value() ? ReplacedBy(loser.value()->body) : "";
  if (loser.value() && !loser_replaced_by.empty() && !survivor_replaced_by.empty() &&
      loser_replaced_by == survivor_target) {
    // This merge was applied before and the survivor has been merged on since (A into B, B
    // into C, then A into B again): nothing left to do.
    outcome.notes.push_back("A40: " + merge.loser_value + " was merged into " +
                            merge.survivor_value + " already, which has since been merged into " +
                            survivor_replaced_by + "; nothing to move");
    return base::Status::Ok();
  }
  if (!survivor_replaced_by.empty()) {
    const std::string loser_ref = loser.value() ? "Patient/" + loser.value()->id : std::string();
    if (survivor_replaced_by == loser_ref) {
      refused = RefuseMerge(hl7v2::ErrorCondition::kUnknownKeyIdentifier, merge.survivor_at,
                            "PID-3 " + merge.survivor_value + " was itself merged into MRG-1 " +
                                merge.loser_value + " (" + loser_ref + ") before: merging " +
                                merge.loser_value + " into it would make " +
                                "each patient replace the other (a cycle)");
      return base::Status::Ok();
    }
    auto now = FinalSurvivor(service, ctx, survivor_replaced_by);
    if (!now.ok()) return now.error();
    const std::string mrn = IdentifierValue(now->body, merge.survivor_system);
    refused = RefuseMerge(hl7v2::ErrorCondition::kUnknownKeyIdentifier, merge.survivor_at,
                          "PID-3 " + merge.survivor_value +
                              " was itself merged away (it is replaced by " +
                              (mrn.empty() ? std::string() : mrn + ", ") + "Patient/" + now->id +
                              "): a merge into it would leave the record on an inactive patient");
    return base::Status::Ok();
  }
  if (!loser.value()) {
    // A merge names two patients the source sent; one never sent cannot be merged, and an AA
    // would tell the source it had been (FHIR's $merge likewise rejects an unresolved source
    // patient). Nothing is written: once the record holds MRG-1 (its A04/A28 arrives late, or
    // the source corrects MRG-1), `feeds reprocess` applies it.
    refused = RefuseMerge(hl7v2::ErrorCondition::kUnknownKeyIdentifier, merge.loser_at,
                          "MRG-1 " + merge.loser_value +
                              " names no patient this source has sent: there is nothing to "
                              "merge into PID-3 " +
                              merge.survivor_value);
    return base::Status::Ok();
  }
  Stored& old = *loser.value();
  const std::string loser_ref = "Patient/" + old.id;
  if (survivor_target == loser_ref) {
    refused = RefuseMerge(hl7v2::ErrorCondition::kDataTypeError, merge.loser_at,
                          "MRG-1 " + merge.loser_value + " and PID-3 " + merge.survivor_value +
                              " are one patient (" + loser_ref + "): it cannot merge into itself");
    return base::Status::Ok();
  }
  if (!loser_replaced_by.empty() && loser_replaced_by != survivor_target) {
    auto now = FinalSurvivor(service, ctx, loser_replaced_by);
    if (!now.ok()) return now.error();
    const std::string mrn = IdentifierValue(now->body, merge.loser_system);
    refused =
        RefuseMerge(hl7v2::ErrorCondition::kUnknownKeyIdentifier, merge.loser_at,
                    "MRG-1 " + merge.loser_value + " was merged into another patient already " +
                        "(it is replaced by " + (mrn.empty() ? std::string() : mrn + ", ") +
                        "Patient/" + now->id + "), not into PID-3 " + merge.survivor_value);
    return base::Status::Ok();
  }
  if (survivor->decision == Decision::kUnchanged || survivor->decision == Decision::kOlder) {
    survivor->body = survivor->current->body;
    survivor->body["meta"] = survivor->mapped->resource.at("meta");
    if (survivor->decision == Decision::kOlder) {  // keep the newer event time it holds
      survivor->body["meta"].as_object()["extension"] =
          survivor->current->body.at("meta").as_object().at("extension");
    }
  }
  json::array& links = survivor->body["link"].is_array() ? survivor->body["link"].as_array()
                                                         : survivor->body["link"].emplace_array();
  bool linked = false;
  for (const auto& link : links) {
    const auto& other = link.as_object().at("other").as_object();
    if (auto* r = other.if_contains("reference"); r && r->as_string() == loser_ref) linked = true;
  }
  bool changed = false;
  if (!linked) {
    links.emplace_back(
        json::object{{"other", json::object{{"reference", loser_ref}}}, {"type", "replaces"}});
    changed = true;
  }
  // The loser's NHS number is the person's: a survivor with none takes it, else a search by NHS
  // number would find only the retired record (hostile round 8 L7). One it holds is kept.
  if (const json::object* number = IdentifierOf(old.body, mapping::kNhsNumberSystem);
      number && !IdentifierOf(survivor->body, mapping::kNhsNumberSystem)) {
    json::value& identifiers = survivor->body["identifier"];
    if (!identifiers.is_array()) identifiers.emplace_array();
    identifiers.as_array().push_back(*number);
    changed = true;
  }
  if (changed) {
    if (survivor->decision != Decision::kCreate) survivor->decision = Decision::kUpdate;
  } else if (survivor->decision == Decision::kUnchanged || survivor->decision == Decision::kOlder) {
    survivor->body = {};
  }

  // The loser: inactive, replaced by the survivor.
  json::object retired = old.body;
  retired["active"] = false;
  json::array retired_links;
  retired_links.emplace_back(json::object{{"other", json::object{{"reference", survivor_target}}},
                                          {"type", "replaced-by"}});
  // Its seealso and refer links are a user's, not a merge's: kept (hostile round 11).
  if (const json::value* links = old.body.if_contains("link"); links && links->is_array()) {
    for (const json::value& link : links->as_array()) {
      const json::value* type = link.is_object() ? link.as_object().if_contains("type") : nullptr;
      if (type && type->is_string() &&
          (type->as_string() == "seealso" || type->as_string() == "refer")) {
        retired_links.push_back(link);
      }
    }
  }
  retired["link"] = std::move(retired_links);
  json::object& meta = retired["meta"].as_object();
  meta["source"] = survivor->mapped->resource.at("meta").at("source");
  if (!SameContent(retired, old.body)) {
    Planned p;
    p.mapped = &loser_key;
    p.current = old;
    p.decision = Decision::kUpdate;
    p.body = std::move(retired);
    extra_entries.push_back(TransactionEntry(p, "00000000-0000-4000-9000-000000000000"));
    outcome.written.push_back(loser_ref);
  }

  // Everything in the loser's compartment now belongs to the survivor.
  auto everything = service.Everything(ctx, old.id, {{"_count", "5000"}});
  if (everything.status != 200) return ResponseError(everything, "reading the merged patient");
  auto bundle = ParseBody(everything.body);
  if (!bundle.ok()) return bundle.error();
  if (auto* next = bundle->if_contains("link")) {
    for (const auto& link : next->as_array()) {
      if (link.as_object().at("relation").as_string() == "next") {
        return base::MakeError(ErrorCode::kTooLarge,
                               "A40: the merged patient's record holds more than 5,000 items; "
                               "merge it in parts");
      }
    }
  }
  const std::map<std::string, std::string> moved{{loser_ref, survivor_target}};
  if (auto* entries = bundle->if_contains("entry")) {
    size_t n = 0;
    for (auto& entry : entries->as_array()) {
      auto& e = entry.as_object();
      if (e.at("search").as_object().at("mode").as_string() != "match") continue;
      json::object body = std::move(e.at("resource").as_object());
      const std::string type(body.at("resourceType").as_string());
      if (type == "Patient") continue;
      const std::string id(body.at("id").as_string());
      const int64_t version = VersionOf(body);
      json::value rewritten(body);
      Rewrite(rewritten, moved);
      if (rewritten.as_object() == body) continue;
      rewritten.as_object()["meta"].as_object()["source"] =
          survivor->mapped->resource.at("meta").at("source");
      char uuid[40];
      std::snprintf(uuid, sizeof uuid, "00000000-0000-4000-9000-%012zu", ++n);
      json::object request{{"method", "PUT"},
                           {"url", type + "/" + id},
                           {"ifMatch", "W/\"" + std::to_string(version) + "\""}};
      extra_entries.push_back(json::object{{"fullUrl", std::string("urn:uuid:") + uuid},
                                           {"resource", std::move(rewritten)},
                                           {"request", std::move(request)}});
      outcome.written.push_back(type + "/" + id);
    }
  }
  return base::Status::Ok();
}

}  // namespace carerecord::feeds::internal
