#include "feeds/apply_mapped.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstdio>
#include <map>
#include <optional>
#include <utility>

#include "fhir/fhir_date.h"
#include "interactions/fhir_json.h"
#include "mapping/hl7v2_mapping.h"

namespace carerecord::feeds {

namespace json = boost::json;
using base::ErrorCode;
using mapping::MappedResource;
using mapping::WriteMode;

interactions::RequestContext FeedRequestContext(const mapping::FeedContext& feed) {
  interactions::RequestContext ctx;
  ctx.who.principal = "feed:" + feed.feed;
  ctx.who.organisation = feed.organisation_ods;
  ctx.who.purpose = "integration";
  ctx.source = feed.feed;
  ctx.request_id = feed.message_id;
  ctx.received_ms = feed.received_ms;
  return ctx;
}

namespace {

// A search value for a token: FHIR's escapes (\ , $ |) in the value, then percent-encoding
// for a query string when `for_url`.
std::string TokenValue(const std::string& system, const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == ',' || c == '$' || c == '|') escaped += '\\';
    escaped += c;
  }
  return system + "|" + escaped;
}

std::string PercentEncode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

struct Stored {
  std::string id;
  int64_t version = 0;
  json::object body;
};

base::Result<json::object> ParseBody(std::string_view text) {
  auto parsed = interactions::ParseJson(text);
  if (!parsed.ok()) return parsed.error();
  if (!parsed->is_object()) return base::MakeError(ErrorCode::kInternal, "not a JSON object");
  return std::move(parsed->as_object());
}

base::Error ResponseError(const interactions::Response& response, std::string_view what) {
  std::string detail = response.body;
  if (auto parsed = ParseBody(response.body); parsed.ok()) {
    if (auto* issues = parsed->if_contains("issue"); issues && issues->is_array()) {
      detail.clear();
      for (const auto& issue : issues->as_array()) {
        if (auto* text = issue.as_object().if_contains("diagnostics")) {
          if (!detail.empty()) detail += "; ";
          detail += text->as_string().c_str();
        }
      }
    }
  }
  const ErrorCode code = response.status == 503   ? ErrorCode::kUnavailable
                         : response.status == 409 ? ErrorCode::kConflict
                         : response.status == 412 ? ErrorCode::kPreconditionFailed
                         : response.status >= 500 ? ErrorCode::kInternal
                                                  : ErrorCode::kUnprocessable;
  return base::MakeError(
      code, std::string(what) + " (HTTP " + std::to_string(response.status) + "): " + detail);
}

int64_t VersionOf(const json::object& body) {
  if (auto* meta = body.if_contains("meta"); meta && meta->is_object()) {
    if (auto* v = meta->as_object().if_contains("versionId"); v && v->is_string()) {
      return std::atoll(v->as_string().c_str());
    }
  }
  return 0;
}

// The event time a stored version carries; 0 when it has none (written by another path).
int64_t EventTimeOf(const json::object& body) {
  auto* meta = body.if_contains("meta");
  if (!meta || !meta->is_object()) return 0;
  auto* extensions = meta->as_object().if_contains("extension");
  if (!extensions || !extensions->is_array()) return 0;
  for (const auto& e : extensions->as_array()) {
    const auto& ext = e.as_object();
    auto* url = ext.if_contains("url");
    auto* when = ext.if_contains("valueDateTime");
    if (url && url->is_string() && url->as_string() == mapping::kEventTimeExtension && when &&
        when->is_string()) {
      auto range = fhir::ParseFhirDate(std::string_view(when->as_string()));
      if (range.ok()) return range->low_ms;
    }
  }
  return 0;
}

// The current version of a mapped resource: by id for a Binary, else by its identity.
base::Result<std::optional<Stored>> FindCurrent(interactions::FhirService& service,
                                                const interactions::RequestContext& ctx,
                                                const MappedResource& resource) {
  if (!resource.fixed_id.empty()) {
    auto response = service.Read(ctx, resource.type, resource.fixed_id);
    if (response.status == 404 || response.status == 410) return std::optional<Stored>();
    if (response.status != 200) return ResponseError(response, "reading " + resource.type);
    auto body = ParseBody(response.body);
    if (!body.ok()) return body.error();
    Stored stored{resource.fixed_id, VersionOf(body.value()), std::move(body.value())};
    return std::optional<Stored>(std::move(stored));
  }
  auto response = service.Search(
      ctx, resource.type,
      {{"identifier", TokenValue(resource.identity_system, resource.identity_value)}});
  if (response.status != 200) return ResponseError(response, "finding " + resource.type);
  auto bundle = ParseBody(response.body);
  if (!bundle.ok()) return bundle.error();
  std::optional<Stored> found;
  if (auto* entries = bundle->if_contains("entry")) {
    for (auto& entry : entries->as_array()) {
      auto& e = entry.as_object();
      if (e.at("search").as_object().at("mode").as_string() != "match") continue;
      if (found) {
        return base::MakeError(ErrorCode::kUnprocessable,
                               "two " + resource.type + " resources hold the identifier " +
                                   resource.identity_system + "|" + resource.identity_value);
      }
      json::object body = std::move(e.at("resource").as_object());
      found = Stored{std::string(body.at("id").as_string()), VersionOf(body), std::move(body)};
    }
  }
  return found;
}

// What the record holds for identities found ahead (FindAhead), by IdentityKey: the current
// version, or none when the record holds none. An identity not in it is found on its own.
using FoundAhead = std::map<std::string, std::optional<Stored>>;

std::string IdentityKey(const MappedResource& r) {
  return r.type + '\x1f' + r.identity_system + '\x1f' + r.identity_value;
}

// Whether `body` holds the identifier system|value (as the store's token match does: both
// exactly).
bool HoldsIdentifier(const json::object& body, const std::string& system,
                     const std::string& value) {
  auto* identifiers = body.if_contains("identifier");
  if (!identifiers || !identifiers->is_array()) return false;
  for (const auto& identifier : identifiers->as_array()) {
    if (!identifier.is_object()) continue;
    auto* s = identifier.as_object().if_contains("system");
    auto* v = identifier.as_object().if_contains("value");
    if (s && v && s->is_string() && v->is_string() && s->as_string() == system &&
        v->as_string() == value) {
      return true;
    }
  }
  return false;
}

// Finds the identities of `wanted` (of one feed, no Binary) with one search per type and up
// to kIdentitiesPerSearch of them (`identifier=a,b,c`, through the gate as the feed, like
// FindCurrent's one search each) and notes each one's current version in `found`. Identities it
// cannot settle (two matches: FindCurrent's error; a page that may be cut short) are left out,
// so FindCurrent finds them alone as before.
base::Status FindAhead(interactions::FhirService& service, const interactions::RequestContext& ctx,
                       const std::vector<const MappedResource*>& wanted, FoundAhead& found) {
  constexpr size_t kIdentitiesPerSearch = 100;
  std::map<std::string, std::vector<const MappedResource*>> by_type;
  for (const MappedResource* r : wanted) {
    if (!r->fixed_id.empty() || found.count(IdentityKey(*r))) continue;
    auto& of_type = by_type[r->type];
    bool seen = false;
    for (const MappedResource* other : of_type) {
      seen = seen || (other->identity_system == r->identity_system &&
                      other->identity_value == r->identity_value);
    }
    if (!seen) of_type.push_back(r);
  }
  for (const auto& [type, all] : by_type) {
    for (size_t first = 0; first < all.size(); first += kIdentitiesPerSearch) {
      const size_t last = std::min(all.size(), first + kIdentitiesPerSearch);
      std::string values;
      for (size_t i = first; i < last; ++i) {
        if (!values.empty()) values += ',';
        values += TokenValue(all[i]->identity_system, all[i]->identity_value);
      }
      // Each identity matches at most one resource unless the record holds a duplicate; a
      // page this long that comes back full may have been cut: left to FindCurrent.
      const size_t page = 2 * (last - first) + 1;
      auto response =
          service.Search(ctx, type, {{"identifier", values}, {"_count", std::to_string(page)}});
      if (response.status != 200) return ResponseError(response, "finding " + type);
      auto bundle = ParseBody(response.body);
      if (!bundle.ok()) return bundle.error();
      std::vector<json::object> matches;
      if (auto* entries = bundle->if_contains("entry")) {
        for (auto& entry : entries->as_array()) {
          auto& e = entry.as_object();
          if (e.at("search").as_object().at("mode").as_string() != "match") continue;
          matches.push_back(std::move(e.at("resource").as_object()));
        }
      }
      if (matches.size() >= page) continue;
      bool has_next = false;
      if (auto* links = bundle->if_contains("link"); links && links->is_array()) {
        for (const auto& link : links->as_array()) {
          has_next = has_next || link.as_object().at("relation").as_string() == "next";
        }
      }
      if (has_next) continue;
      for (size_t i = first; i < last; ++i) {
        const MappedResource& r = *all[i];
        const json::object* holder = nullptr;
        int holders = 0;
        for (const json::object& body : matches) {
          if (HoldsIdentifier(body, r.identity_system, r.identity_value)) {
            holder = &body;
            ++holders;
          }
        }
        if (holders > 1) continue;  // FindCurrent reports it
        std::optional<Stored> current;
        if (holder) {
          current = Stored{std::string(holder->at("id").as_string()), VersionOf(*holder), *holder};
        }
        found.emplace(IdentityKey(r), std::move(current));
      }
    }
  }
  return base::Status::Ok();
}

// Replaces every "reference" whose value is a key of `targets` (a urn:uuid of the message) with
// its target; a reference to an unresolved urn is removed (the Reference keeps its identifier
// or display) or, if that would leave the Reference empty, the element is dropped.
void Rewrite(json::value& value, const std::map<std::string, std::string>& targets) {
  if (value.is_array()) {
    for (auto& item : value.as_array()) Rewrite(item, targets);
    return;
  }
  if (!value.is_object()) return;
  json::object& o = value.as_object();
  if (auto* ref = o.if_contains("reference"); ref && ref->is_string()) {
    auto found = targets.find(std::string(ref->as_string()));
    if (found != targets.end()) {
      if (found->second.empty()) {
        o.erase("reference");
      } else {
        *ref = found->second;
      }
    }
  }
  for (auto& [key, member] : o) Rewrite(member, targets);
}

bool SameContent(json::object a, json::object b) {
  for (json::object* o : {&a, &b}) {
    o->erase("meta");
    o->erase("id");
  }
  return a == b;
}

// A Patient's links are the merges' (A40), which a later PID knows nothing of: an update keeps
// them, and a Patient replaced by another stays inactive.
void KeepMergeLinks(const json::object& stored, json::object& updated) {
  auto* links = stored.if_contains("link");
  if (!links || !links->is_array() || links->as_array().empty()) return;
  updated["link"] = *links;
  for (const auto& link : links->as_array()) {
    if (link.as_object().at("type").as_string() == "replaced-by") updated["active"] = false;
  }
}

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

// The identifier of `patient` under `system` ("M100"); empty when it has none.
std::string IdentifierValue(const json::object& patient, const std::string& system) {
  auto* identifiers = patient.if_contains("identifier");
  if (!identifiers || !identifiers->is_array()) return {};
  for (const auto& identifier : identifiers->as_array()) {
    if (!identifier.is_object()) continue;
    auto* s = identifier.as_object().if_contains("system");
    auto* v = identifier.as_object().if_contains("value");
    if (s && v && s->is_string() && v->is_string() && s->as_string() == system) {
      return std::string(v->as_string());
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

enum class Decision { kCreate, kUpdate, kUnchanged, kOlder, kAbsent };

struct Planned {
  const MappedResource* mapped = nullptr;
  std::optional<Stored> current;
  Decision decision = Decision::kUnchanged;
  json::object body;  // what is written (create / update)
};

json::object TransactionEntry(const Planned& p, const std::string& local_uuid) {
  json::object entry;
  entry["fullUrl"] = "urn:uuid:" + local_uuid;
  json::object body = p.body;
  json::object request;
  if (p.decision == Decision::kCreate) {
    if (!p.mapped->fixed_id.empty()) {
      body["id"] = p.mapped->fixed_id;
      request = {{"method", "PUT"}, {"url", p.mapped->type + "/" + p.mapped->fixed_id}};
    } else {
      request = {
          {"method", "POST"},
          {"url", p.mapped->type},
          {"ifNoneExist", "identifier=" + PercentEncode(TokenValue(p.mapped->identity_system,
                                                                   p.mapped->identity_value))}};
    }
  } else {
    body["id"] = p.current->id;
    request = {{"method", "PUT"},
               {"url", p.mapped->type + "/" + p.current->id},
               {"ifMatch", "W/\"" + std::to_string(p.current->version) + "\""}};
  }
  entry["resource"] = std::move(body);
  entry["request"] = std::move(request);
  return entry;
}

// A merge the record refuses as the source sent it: nothing of the message is written, and it
// stays in the error queue with this ERR until the source corrects it and it is reprocessed.
hl7v2::Hl7Error RefuseMerge(hl7v2::ErrorCondition condition, const hl7v2::ErrorLocation& where,
                            std::string reason) {
  return hl7v2::MakeHl7Error(condition, where, "A40 not applied: " + std::move(reason),
                             ErrorCode::kUnprocessable);
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
  if (!linked) {
    links.emplace_back(
        json::object{{"other", json::object{{"reference", loser_ref}}}, {"type", "replaces"}});
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

// What one message would write, decided on the record as it is now: its transaction's entries
// (none when it changes nothing) and the outcome so far.
struct PlannedMessage {
  ApplyOutcome outcome;
  json::array entries;
  std::optional<hl7v2::Hl7Error> refused;  // the record refuses the message: no entries
};

// `ahead`: identities found already for the record as it is now (FindAhead); the others are
// found one search each.
base::Result<PlannedMessage> PlanOnce(interactions::FhirService& service,
                                      const interactions::RequestContext& ctx,
                                      const mapping::MappedMessage& message,
                                      const FoundAhead* ahead = nullptr) {
  PlannedMessage plan;
  ApplyOutcome& outcome = plan.outcome;
  std::vector<Planned> planned(message.resources.size());
  // 1. What the record holds for each identity, and where each urn:uuid of the message points.
  std::map<std::string, std::string> targets;
  for (size_t i = 0; i < message.resources.size(); ++i) {
    const MappedResource& mapped = message.resources[i];
    planned[i].mapped = &mapped;
    const FoundAhead::value_type* known = nullptr;
    if (ahead && mapped.fixed_id.empty()) {
      if (auto at = ahead->find(IdentityKey(mapped)); at != ahead->end()) known = &*at;
    }
    if (known) {
      planned[i].current = known->second;
    } else {
      auto current = FindCurrent(service, ctx, mapped);
      if (!current.ok()) return current.error();
      planned[i].current = std::move(current.value());
    }
    const std::string urn = "urn:uuid:" + mapped.local_uuid;
    if (planned[i].current) {
      // A Patient a merge (A40) replaced: what the message says of its record belongs to the
      // survivor (a message sent before the merge and resent after it must not move it back).
      // Through a chain of merges, to the Patient that is not replaced.
      const std::string replaced_by =
          mapped.type == "Patient" ? ReplacedBy(planned[i].current->body) : std::string();
      if (replaced_by.empty()) {
        targets[urn] = mapped.type + "/" + planned[i].current->id;
      } else {
        auto survivor = FinalSurvivor(service, ctx, replaced_by);
        if (!survivor.ok()) return survivor.error();
        targets[urn] = "Patient/" + survivor->id;
      }
    } else if (mapped.mode == WriteMode::kPatchExisting) {
      targets[urn] = "";
    }
  }
  // 2. Decide each.
  for (Planned& p : planned) {
    const MappedResource& mapped = *p.mapped;
    const std::string name = mapped.type + (p.current ? "/" + p.current->id : "");
    if (!p.current) {
      if (mapped.mode == WriteMode::kPatchExisting) {
        p.decision = Decision::kAbsent;
        outcome.notes.push_back("no " + mapped.type + " " + mapped.identity_value +
                                " of this source in the record: nothing to change");
        continue;
      }
      p.decision = Decision::kCreate;
      json::value body(mapped.resource);
      Rewrite(body, targets);
      p.body = std::move(body.as_object());
      continue;
    }
    if (mapped.mode == WriteMode::kCreateIfAbsent) {
      p.decision = Decision::kUnchanged;
      outcome.unchanged.push_back(name);
      continue;
    }
    const int64_t stored_time = EventTimeOf(p.current->body);
    if (stored_time > message.event_ms) {
      p.decision = Decision::kOlder;
      outcome.older.push_back(name);
      continue;
    }
    json::value body;
    if (mapped.mode == WriteMode::kPatchExisting) {
      body = p.current->body;
      for (const auto& [key, value] : mapped.resource) body.as_object()[key] = value;
    } else {
      body = mapped.resource;
      KeepMergeLinks(p.current->body, body.as_object());
    }
    Rewrite(body, targets);
    if (stored_time == message.event_ms && SameContent(body.as_object(), p.current->body)) {
      p.decision = Decision::kUnchanged;
      outcome.unchanged.push_back(name);
      continue;
    }
    p.decision = Decision::kUpdate;
    p.body = std::move(body.as_object());
  }
  // 3. A merge, then the transaction.
  json::array extra;
  if (message.merge) {
    std::string survivor_target;
    for (size_t i = 0; i < planned.size(); ++i) {
      const MappedResource& m = message.resources[i];
      if (m.type == "Patient" && m.identity_system == message.merge->survivor_system &&
          m.identity_value == message.merge->survivor_value) {
        survivor_target =
            planned[i].current ? "Patient/" + planned[i].current->id : "urn:uuid:" + m.local_uuid;
      }
    }
    CR_RETURN_IF_ERROR(
        PlanMerge(service, ctx, message, planned, survivor_target, extra, outcome, plan.refused));
    if (plan.refused) return plan;
  }
  json::array entries;
  for (const Planned& p : planned) {
    if (p.decision != Decision::kCreate && p.decision != Decision::kUpdate) continue;
    entries.push_back(TransactionEntry(p, p.mapped->local_uuid));
  }
  for (auto& e : extra) entries.push_back(std::move(e));
  plan.entries = std::move(entries);
  return plan;
}

// A written entry of the response (its location) in `outcome.written`, once.
void NoteWritten(const json::value& response_entry, ApplyOutcome& outcome) {
  const auto& r = response_entry.as_object().at("response").as_object();
  auto* location = r.if_contains("location");
  if (!location || !location->is_string()) return;
  std::string where(location->as_string());
  if (size_t history = where.find("/_history/"); history != std::string::npos) {
    where.resize(history);
  }
  if (size_t slash = where.rfind('/'); slash != std::string::npos) {
    const size_t type_start = where.rfind('/', slash - 1);
    where = where.substr(type_start == std::string::npos ? 0 : type_start + 1);
  }
  for (const auto& w : outcome.written) {
    if (w == where) return;
  }
  outcome.written.push_back(where);
}

// `refused`: set when the record refuses the message (the error returned is its ToError()).
base::Result<ApplyOutcome> ApplyOnce(interactions::FhirService& service,
                                     const interactions::RequestContext& ctx,
                                     const mapping::MappedMessage& message,
                                     std::optional<hl7v2::Hl7Error>& refused) {
  auto plan = PlanOnce(service, ctx, message);
  if (!plan.ok()) return plan.error();
  if (plan->refused) {
    refused = std::move(plan->refused);
    return refused->ToError();
  }
  ApplyOutcome& outcome = plan->outcome;
  if (plan->entries.empty()) return std::move(outcome);
  json::object bundle{{"resourceType", "Bundle"}, {"type", "transaction"}};
  bundle["entry"] = std::move(plan->entries);
  auto response = service.ProcessBundle(ctx, interactions::Serialize(bundle));
  if (response.status != 200) return ResponseError(response, "writing the message");
  auto result = ParseBody(response.body);
  if (!result.ok()) return result.error();
  for (const auto& entry : result->at("entry").as_array()) NoteWritten(entry, outcome);
  return std::move(outcome);
}

// Gives message number `k` of a combined transaction urn:uuids of its own (the mapping numbers
// every message's from 1): its entries' fullUrls and the references to them.
void RenumberLocalUrls(json::array& entries, size_t k) {
  std::map<std::string, std::string> renamed;
  for (auto& entry : entries) {
    auto& e = entry.as_object();
    auto* full = e.if_contains("fullUrl");
    if (!full || !full->is_string()) continue;
    const std::string old(full->as_string());
    if (old.rfind("urn:uuid:", 0) != 0 || old.size() != 45) continue;
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "%08zx", k + 1);
    std::string fresh = old;
    fresh.replace(9, 8, prefix);
    renamed[old] = fresh;
    *full = fresh;
  }
  for (auto& entry : entries) {
    if (auto* resource = entry.as_object().if_contains("resource")) Rewrite(*resource, renamed);
  }
}

}  // namespace

namespace {

// ApplyMappedMessage, with the ERR when the record refuses the message.
base::Result<ApplyOutcome> ApplyWithRetries(interactions::FhirService& service,
                                            const mapping::MappedMessage& message,
                                            const mapping::FeedContext& feed,
                                            std::optional<hl7v2::Hl7Error>& refused) {
  const interactions::RequestContext ctx = FeedRequestContext(feed);
  // A concurrent writer may change a resource between the read and the commit (If-Match fails,
  // 412) or create one of the identities (409): read again and decide again.
  for (int attempt = 0;; ++attempt) {
    refused.reset();
    auto applied = ApplyOnce(service, ctx, message, refused);
    if (applied.ok() || refused) return applied;
    const ErrorCode code = applied.error().code;
    if ((code != ErrorCode::kPreconditionFailed && code != ErrorCode::kConflict) || attempt == 4) {
      return applied;
    }
  }
}

}  // namespace

base::Result<ApplyOutcome> ApplyMappedMessage(interactions::FhirService& service,
                                              const mapping::MappedMessage& message,
                                              const mapping::FeedContext& feed) {
  std::optional<hl7v2::Hl7Error> refused;
  return ApplyWithRetries(service, message, feed, refused);
}

std::vector<base::Result<ApplyOutcome>> ApplyMappedMessages(
    interactions::FhirService& service, const std::vector<MessageToApply>& messages) {
  std::vector<std::optional<base::Result<ApplyOutcome>>> results(messages.size());
  std::vector<size_t> alone;  // applied on their own, as ApplyMappedMessage does
  if (messages.size() == 1) alone.push_back(0);
  // Planned on the record as it is, then written together per feed (a transaction has one
  // writer: the feed's principal and organisation).
  std::map<std::string, std::vector<size_t>> by_feed;
  std::vector<std::optional<PlannedMessage>> plans(messages.size());
  // The messages' identities, found together per feed: one search per type rather than one per
  // resource. The messages share no identity and nothing is written until all are planned, so
  // each is planned on the record as it would find it alone.
  std::map<std::string, FoundAhead> ahead;
  if (messages.size() > 1) {
    std::map<std::string, std::pair<size_t, std::vector<const MappedResource*>>> wanted;
    for (size_t i = 0; i < messages.size(); ++i) {
      const MessageToApply& m = messages[i];
      if (m.message->merge) continue;
      auto& [first, resources] = wanted[m.feed->feed + '\x1f' + m.feed->organisation_ods];
      if (resources.empty()) first = i;
      for (const MappedResource& r : m.message->resources) resources.push_back(&r);
    }
    for (const auto& [key, what] : wanted) {
      // A failure here is not the messages': they find their identities one by one instead.
      FoundAhead found;
      if (FindAhead(service, FeedRequestContext(*messages[what.first].feed), what.second, found)
              .ok()) {
        ahead[key] = std::move(found);
      }
    }
  }
  for (size_t i = 0; i < messages.size() && messages.size() > 1; ++i) {
    const MessageToApply& m = messages[i];
    if (m.message->merge) {  // moves a compartment: alone, never beside another message
      alone.push_back(i);
      continue;
    }
    auto found = ahead.find(m.feed->feed + '\x1f' + m.feed->organisation_ods);
    auto plan = PlanOnce(service, FeedRequestContext(*m.feed), *m.message,
                         found == ahead.end() ? nullptr : &found->second);
    if (!plan.ok() || plan->refused) {
      alone.push_back(i);  // its error (or a retry's success) comes from applying it alone
      continue;
    }
    if (plan->entries.empty()) {
      results[i] = std::move(plan->outcome);
      continue;
    }
    plans[i] = std::move(plan).value();
    by_feed[m.feed->feed + '\x1f' + m.feed->organisation_ods].push_back(i);
  }
  for (auto& [key, members] : by_feed) {
    if (members.size() == 1) {
      alone.push_back(members[0]);
      continue;
    }
    interactions::RequestContext ctx = FeedRequestContext(*messages[members[0]].feed);
    ctx.request_id.clear();  // each version names its own message (entry_provenance)
    ctx.prefer_return = interactions::PreferReturn::kMinimal;
    json::array entries;
    std::vector<size_t> entry_count;
    for (size_t k = 0; k < members.size(); ++k) {
      const size_t i = members[k];
      json::array& own = plans[i]->entries;
      RenumberLocalUrls(own, k);
      const interactions::RequestContext one = FeedRequestContext(*messages[i].feed);
      for (auto& entry : own) {
        entries.push_back(std::move(entry));
        ctx.entry_provenance.push_back(
            store::Provenance{one.source, one.request_id, one.received_ms});
      }
      entry_count.push_back(own.size());
    }
    json::object bundle{{"resourceType", "Bundle"}, {"type", "transaction"}};
    bundle["entry"] = std::move(entries);
    auto response = service.ProcessBundle(ctx, interactions::Serialize(bundle));
    std::optional<json::object> body;
    if (response.status == 200) {
      if (auto parsed = ParseBody(response.body); parsed.ok()) body = std::move(parsed).value();
    }
    const json::array* answered = nullptr;
    if (body) {
      if (auto* e = body->if_contains("entry"); e && e->is_array()) answered = &e->as_array();
    }
    size_t expected = 0;
    for (size_t n : entry_count) expected += n;
    if (!answered || answered->size() != expected) {
      // Nothing of it was written (a transaction is all or nothing): each message alone, so one
      // that fails (a concurrent change it must read again, a write the record refuses) fails
      // by itself and the others are written.
      for (size_t i : members) alone.push_back(i);
      continue;
    }
    size_t at = 0;
    for (size_t k = 0; k < members.size(); ++k) {
      ApplyOutcome& outcome = plans[members[k]]->outcome;
      for (size_t n = 0; n < entry_count[k]; ++n) NoteWritten((*answered)[at++], outcome);
      results[members[k]] = std::move(outcome);
    }
  }
  for (size_t i : alone) {
    results[i] = ApplyMappedMessage(service, *messages[i].message, *messages[i].feed);
  }
  std::vector<base::Result<ApplyOutcome>> out;
  out.reserve(messages.size());
  for (auto& r : results) out.push_back(std::move(*r));
  return out;
}

ProcessedMessage MapAndApply(interactions::FhirService& service, const hl7v2::Message& message,
                             const mapping::FeedContext& feed) {
  ProcessedMessage processed;
  auto mapped = mapping::MapMessage(message, feed);
  if (!mapped.ok()) {
    processed.refused = mapped.error();
    return processed;
  }
  processed.warnings = mapped->warnings;
  std::optional<hl7v2::Hl7Error> refused;
  auto applied = ApplyWithRetries(service, mapped.value(), feed, refused);
  if (refused) {
    processed.refused = std::move(refused);
  } else if (!applied.ok()) {
    processed.failed = applied.error();
  } else {
    processed.outcome = std::move(applied).value();
  }
  return processed;
}

}  // namespace carerecord::feeds
