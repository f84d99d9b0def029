#include "feeds/apply_mapped.h"

#include <boost/json.hpp>
#include <cstdio>
#include <map>
#include <optional>
#include <utility>

#include "feeds/apply_mapped_internal.h"
#include "interactions/fhir_json.h"
#include "mapping/hl7v2_mapping.h"

namespace carerecord::feeds {

namespace json = boost::json;
using base::ErrorCode;
using mapping::MappedResource;
using mapping::WriteMode;
// Planning a message: what the record holds (apply_mapped_lookup.cpp) and a merge
// (apply_mapped_merge.cpp).
using internal::Decision;
using internal::EventTimeOf;
using internal::FinalSurvivor;
using internal::FindAhead;
using internal::FindCurrent;
using internal::FoundAhead;
using internal::IdentityKey;
using internal::ParseBody;
using internal::PlanMerge;
using internal::Planned;
using internal::ReplacedBy;
using internal::ResponseError;
using internal::Rewrite;
using internal::SameContent;
using internal::TransactionEntry;

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

// What one message would write, decided on the record as it is now: its transaction's entries
// (none when it changes nothing) and the outcome so far.
struct PlannedMessage {
  ApplyOutcome outcome;
  json::array entries;
  // Per entry: a create whose identity the round's lookup found absent (Planned).
  std::vector<bool> absent_ahead;
  std::optional<hl7v2::Hl7Error> refused;  // the record refuses the message: no entries
};

// `ahead`: identities found already for the record as it is now (FindAhead); the others are
// found one search each.
base::Result<PlannedMessage> PlanOnce(interactions::FhirService& service,
                                      const interactions::RequestContext& ctx,
                                      const mapping::MappedMessage& message,
                                      FoundAhead* ahead = nullptr) {
  PlannedMessage plan;
  ApplyOutcome& outcome = plan.outcome;
  std::vector<Planned> planned(message.resources.size());
  // 1. What the record holds for each identity, and where each urn:uuid of the message points.
  std::map<std::string, std::string> targets;
  for (size_t i = 0; i < message.resources.size(); ++i) {
    const MappedResource& mapped = message.resources[i];
    planned[i].mapped = &mapped;
    // Taken out of `ahead` (its body moved, not copied): the messages of a round share no
    // identity, and a second resource of this message with the same one is found alone.
    FoundAhead::node_type known;
    if (ahead && mapped.fixed_id.empty()) known = ahead->extract(IdentityKey(mapped));
    if (known) {
      planned[i].current = std::move(known.mapped());
      planned[i].found_absent_ahead = !planned[i].current;
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
      json::value body(mapping::MergeStated(nullptr, mapped));
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
    } else if (mapped.mode == WriteMode::kUpdateStated) {
      // HL7 v2's null rules: what the message leaves out stays as stored, "" deletes.
      body = mapping::MergeStated(&p.current->body, mapped);
      KeepMergeLinks(p.current->body, body.as_object());
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
  for (Planned& p : planned) {
    if (p.decision != Decision::kCreate && p.decision != Decision::kUpdate) continue;
    entries.push_back(TransactionEntry(p, p.mapped->local_uuid));
    plan.absent_ahead.push_back(p.decision == Decision::kCreate && p.found_absent_ahead &&
                                p.mapped->fixed_id.empty());
  }
  for (auto& e : extra) {
    entries.push_back(std::move(e));
    plan.absent_ahead.push_back(false);
  }
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
  // Where the record stood before the lookups: a create they found absent is checked at commit
  // against every write since, and not searched again by the transaction.
  int64_t ahead_position = 0;
  if (messages.size() > 1) {
    ahead_position = service.RecordPosition();
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
      for (size_t n = 0; n < own.size(); ++n) {
        entries.push_back(std::move(own[n]));
        ctx.entry_provenance.push_back(
            store::Provenance{one.source, one.request_id, one.received_ms});
        ctx.entry_absent_since.push_back(plans[i]->absent_ahead[n] ? ahead_position : 0);
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
