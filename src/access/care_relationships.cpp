#include "access/care_relationships.h"

#include <array>
#include <boost/json.hpp>

#include "fhir/fhir_date.h"
#include "fhir/json_read.h"

namespace carerecord::access {
namespace {

namespace json = boost::json;

// Reads every item: the ties are the server's own reading of the record, never disclosed.
class WholeRecordGate final : public store::ReadGate {
 public:
  bool Admit(const store::ItemFacts&) override { return true; }
  bool Permits(const store::ItemFacts&) override { return true; }
  bool AdmitsEverything() override { return true; }
};

// Admits the one item it is asked about and keeps its facts (the policy reads them to decide
// for an item that stands for it); nothing is disclosed.
class FactsKeepingGate final : public store::ReadGate {
 public:
  bool Admit(const store::ItemFacts& item) override {
    facts.emplace(OwnedItemFacts{std::string(item.type),
                                 std::string(item.id),
                                 std::string(item.patient_id),
                                 std::string(item.sealing_facts),
                                 std::string(item.author_organisation),
                                 {}});
    return true;
  }
  bool Permits(const store::ItemFacts&) override { return true; }
  std::optional<OwnedItemFacts> facts;
};

std::optional<json::object> ParseObject(std::string_view text) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}

class TiesReader {
 public:
  TiesReader(const ResourceLookup& lookup, int64_t window_ms)
      : lookup_(lookup), window_ms_(window_ms) {}

  std::vector<std::string> Organisations(const json::object& reference) {
    return OrganisationsNamed(reference, lookup_);
  }

  void Relate(const json::object& reference, int64_t until, PatientTies& ties) {
    for (std::string& ods : Organisations(reference)) {
      int64_t& held = ties.organisations.try_emplace(std::move(ods), 0).first->second;
      held = std::max(held, until);
    }
  }

  // Whether a period has begun by now: a tie counts from its period's start (none given: from
  // now). One that begins later counts from then, when the ties are read again
  // (read_again_at); a start that cannot be read never counts.
  bool Begun(const json::object* period, PatientTies& ties) const {
    return BegunAt(period ? fhir::TextMember(*period, "start") : std::string_view(), ties);
  }
  bool BegunAt(std::string_view start, PatientTies& ties) const {
    if (start.empty()) return true;
    auto range = fhir::ParseFhirDate(start);
    if (!range.ok()) return false;
    if (range->low_ms <= now_ms_) return true;
    ties.read_again_at = std::min(ties.read_again_at, range->low_ms);
    return false;
  }

  // Until when an Encounter or EpisodeOfCare relates its organisation: open while it is not
  // finished, else its end (or, lacking one, its start) plus the window; none when cancelled or
  // entered in error, or before its period begins.
  std::optional<int64_t> EpisodeUntil(const json::object& resource, PatientTies& ties) {
    const std::string_view status = fhir::TextMember(resource, "status");
    if (status == "cancelled" || status == "entered-in-error") return std::nullopt;
    const json::object* period = fhir::ObjectMember(resource, "period");
    if (!Begun(period, ties)) return std::nullopt;
    std::string_view end = period ? fhir::TextMember(*period, "end") : std::string_view();
    if (end.empty() && status != "finished") return PatientTies::kOpenEnded;
    if (end.empty() && period) end = fhir::TextMember(*period, "start");
    if (end.empty()) return std::nullopt;
    auto range = fhir::ParseFhirDate(end);
    if (!range.ok()) return std::nullopt;
    return range->high_ms + window_ms_;
  }

  // Until when a period relates: open while it has no end, else its end plus the window (an
  // end that cannot be read relates nothing: 0).
  int64_t PeriodUntil(const json::object* period) {
    const std::string_view end = period ? fhir::TextMember(*period, "end") : std::string_view();
    if (end.empty()) return PatientTies::kOpenEnded;
    auto range = fhir::ParseFhirDate(end);
    return range.ok() ? range->high_ms + window_ms_ : 0;
  }

  void Read(std::string_view patient_id, const json::object& resource, PatientTies& ties) {
    const std::string_view type = fhir::TextMember(resource, "resourceType");
    constexpr int64_t kOpen = PatientTies::kOpenEnded;
    if (type == "Patient") {
      if (fhir::TextMember(resource, "id") != patient_id) return;
      fhir::EachObjectMember(resource, "generalPractitioner", [&](const json::object& reference) {
        for (std::string& ods : Organisations(reference)) {
          ties.organisations[ods] = kOpen;
          ties.gp_practices.insert(std::move(ods));
        }
      });
      fhir::EachObjectMember(resource, "managingOrganization", [&](const json::object& reference) {
        for (std::string& ods : Organisations(reference)) {
          ties.organisations[ods] = kOpen;
          ties.managing.insert(std::move(ods));
        }
      });
    } else if (type == "Encounter" || type == "EpisodeOfCare") {
      auto until = EpisodeUntil(resource, ties);
      if (!until) return;
      fhir::EachObjectMember(
          resource, type == "Encounter" ? "serviceProvider" : "managingOrganization",
          [&](const json::object& reference) { Relate(reference, *until, ties); });
    } else if (type == "CareTeam") {
      const std::string_view status = fhir::TextMember(resource, "status");
      if (!status.empty() && status != "active") return;
      // A team whose period ended, or a member whose period in it ended, relates its
      // organisation for the window after, as an ended encounter does; a team or a member whose
      // period has not begun, not yet.
      if (!Begun(fhir::ObjectMember(resource, "period"), ties)) return;
      const int64_t team_until = PeriodUntil(fhir::ObjectMember(resource, "period"));
      fhir::EachObjectMember(resource, "participant", [&](const json::object& participant) {
        if (!Begun(fhir::ObjectMember(participant, "period"), ties)) return;
        const int64_t until =
            std::min(team_until, PeriodUntil(fhir::ObjectMember(participant, "period")));
        fhir::EachObjectMember(participant, "member", [&](const json::object& reference) {
          Relate(reference, until, ties);
        });
        fhir::EachObjectMember(participant, "onBehalfOf", [&](const json::object& reference) {
          Relate(reference, until, ties);
        });
      });
      fhir::EachObjectMember(resource, "managingOrganization", [&](const json::object& reference) {
        Relate(reference, team_until, ties);
      });
    } else if (type == "ServiceRequest") {
      if (fhir::TextMember(resource, "status") != "active") return;
      // A referral counts from when it was made (authoredOn; none given: at once), since it
      // must be triaged before the service it asks for: an occurrence in the future does not
      // delay it, and one authored in the future does not count yet.
      if (!BegunAt(fhir::TextMember(resource, "authoredOn"), ties)) return;
      fhir::EachObjectMember(resource, "performer", [&](const json::object& reference) {
        Relate(reference, kOpen, ties);
      });
    } else if (type == "Consent") {
      ReadObjection(resource, ties);
    }
  }

  // An active Consent of the privacy scope (IsObjection) whose provision denies: with no
  // actor, the patient objects to every organisation but their GP practice; with actors, to
  // those organisations. A provision period that has not begun or has ended does not count.
  // Only the top-level provision is read: a Consent that says more is refused when written
  // (UnenforceableObjection), so none is kept and ignored.
  void ReadObjection(const json::object& consent, PatientTies& ties) {
    if (!IsObjection(consent)) return;
    const json::object* provision = fhir::ObjectMember(consent, "provision");
    if (!provision || fhir::TextMember(*provision, "type") != "deny") return;
    if (const json::object* period = fhir::ObjectMember(*provision, "period")) {
      const int64_t now = now_ms_;
      auto start = fhir::ParseFhirDate(fhir::TextMember(*period, "start"));
      auto end = fhir::ParseFhirDate(fhir::TextMember(*period, "end"));
      if (start.ok() && now < start->low_ms) {
        ties.read_again_at = std::min(ties.read_again_at, start->low_ms);
        return;
      }
      if (end.ok() && now >= end->high_ms) return;
      if (end.ok()) ties.read_again_at = std::min(ties.read_again_at, end->high_ms);
    }
    bool has_actor = false;
    fhir::EachObjectMember(*provision, "actor", [&](const json::object& actor) {
      has_actor = true;
      if (const json::object* reference = fhir::ObjectMember(actor, "reference")) {
        for (std::string& ods : Organisations(*reference)) ties.objected.insert(std::move(ods));
      }
    });
    if (!has_actor) ties.objects_to_all = true;
  }

  int64_t now_ms_ = 0;

 private:
  const ResourceLookup& lookup_;
  int64_t window_ms_;
};

}  // namespace

PatientTies TiesFromRecord(std::string_view patient_id, const std::vector<std::string>& resources,
                           const ResourceLookup& lookup, int64_t window_ms, int64_t now_ms) {
  PatientTies ties;
  TiesReader reader(lookup, window_ms);
  reader.now_ms_ = now_ms;
  for (const std::string& text : resources) {
    if (auto resource = ParseObject(text)) reader.Read(patient_id, *resource, ties);
  }
  return ties;
}

std::optional<OwnedItemFacts> RecordCareRelationships::FactsOf(std::string_view type,
                                                               std::string_view id) {
  FactsKeepingGate gate;
  auto session = store_.OpenRead(gate);
  if (!session) return std::nullopt;
  auto read = session->Read(type, id);
  if (!read.ok() || read->deleted || !gate.facts) return std::nullopt;
  gate.facts->json = std::move(read->json);
  return std::move(gate.facts);
}

base::Result<PatientTies> RecordCareRelationships::ReadTies(std::string_view patient_id) {
  reads_.fetch_add(1, std::memory_order_relaxed);
  WholeRecordGate gate;
  auto session = store_.OpenRead(gate);
  if (!session) return base::MakeError(base::ErrorCode::kUnavailable, "the store cannot be read");
  std::vector<std::string> record;
  auto patient = session->Read("Patient", patient_id);
  if (!patient.ok()) {
    if (patient.error().code == base::ErrorCode::kNotFound ||
        patient.error().code == base::ErrorCode::kGone) {
      return PatientTies{};  // no record, no ties
    }
    return patient.error();
  }
  if (!patient->deleted) record.push_back(std::move(patient->json));
  // Each type that carries ties, from the compartment index: never the rest of a long record.
  for (const char* type : {"Encounter", "EpisodeOfCare", "CareTeam", "ServiceRequest", "Consent"}) {
    store::SearchSpec spec;
    spec.type = type;
    spec.compartment_patient = std::string(patient_id);
    spec.count = 1000;
    for (;;) {
      auto page = session->Search(spec);
      if (!page.ok()) return page.error();
      for (store::StoredResource& r : page->matches) record.push_back(std::move(r.json));
      if (page->next_cursor.empty()) break;
      spec.cursor = page->next_cursor;
    }
  }
  std::unordered_map<std::string, std::optional<std::string>> referenced;  // "Type/id" -> JSON
  ResourceLookup lookup = [&](std::string_view type,
                              std::string_view id) -> std::optional<std::string> {
    const std::string key = std::string(type) + "/" + std::string(id);
    if (auto it = referenced.find(key); it != referenced.end()) return it->second;
    auto read = session->Read(type, id);
    std::optional<std::string> json;
    if (read.ok() && !read->deleted) json = std::move(read->json);
    referenced.emplace(key, json);
    return json;
  };
  const int64_t window_ms = int64_t{policy_->relationship_window_days} * 86'400'000;
  return TiesFromRecord(patient_id, record, lookup, window_ms, clock_.NowSeconds() * 1000);
}

uint64_t RecordCareRelationships::NextId() {
  static std::atomic<uint64_t> next{0};
  return ++next;
}

const PatientTies* RecordCareRelationships::Ties(std::string_view patient_id, int64_t now_ms) {
  // This thread's last answers, without the lock, in a small table by the patient id's hash:
  // a page's items come from few patients, often in runs or in turn.
  struct Memo {
    uint64_t owner = 0;
    uint64_t generation = 0;
    std::string patient;
    std::shared_ptr<const PatientTies> ties;
  };
  constexpr size_t kMemoSlots = 256;
  thread_local std::array<Memo, kMemoSlots> memos;
  Memo& memo = memos[std::hash<std::string_view>{}(patient_id) % kMemoSlots];
  const uint64_t generation = generation_.load(std::memory_order_acquire);
  if (memo.owner == id_ && memo.generation == generation && memo.ties &&
      memo.patient == patient_id && now_ms < memo.ties->read_again_at) {
    return memo.ties.get();
  }
  auto ties = CachedTies(patient_id, now_ms);
  memo.owner = id_;
  memo.generation = generation;
  memo.patient.assign(patient_id);
  memo.ties = std::move(ties);
  return memo.ties.get();
}

std::shared_ptr<const PatientTies> RecordCareRelationships::CachedTies(std::string_view patient_id,
                                                                       int64_t now_ms) {
  uint64_t stamp = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(patient_id);
    if (it != cache_.end() && it->second.ties && now_ms < it->second.ties->read_again_at) {
      return it->second.ties;
    }
    if (it == cache_.end()) {
      if (cache_.size() >= kMaxCachedPatients) cache_.clear();
      it = cache_.emplace(std::string(patient_id), Slot{}).first;
    }
    it->second.stamp = stamp = ++next_stamp_;
  }
  auto read = ReadTies(patient_id);
  if (!read.ok()) return nullptr;  // fail closed, and ask again next time
  auto ties = std::make_shared<const PatientTies>(std::move(read).value());
  std::lock_guard lock(mutex_);
  // Kept only when no commit changed the record since this read began (Changed erases the slot;
  // a slot made again since has a newer stamp).
  auto it = cache_.find(patient_id);
  if (it != cache_.end() && it->second.stamp == stamp) it->second.ties = ties;
  return ties;
}

void RecordCareRelationships::Changed(const std::vector<std::string>& patients) {
  std::lock_guard lock(mutex_);
  for (const std::string& patient : patients) cache_.erase(patient);
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

void RecordCareRelationships::ChangedAll() {
  std::lock_guard lock(mutex_);
  cache_.clear();
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

bool RecordCareRelationships::KeepsRecordOf(std::string_view organisation,
                                            std::string_view patient_id) {
  const PatientTies* ties = Ties(patient_id, clock_.NowSeconds() * 1000);
  return ties && (ties->gp_practices.count(organisation) || ties->managing.count(organisation));
}

RecordAccess RecordCareRelationships::Decide(const AccessContext& who,
                                             std::string_view patient_id) {
  const int64_t now = clock_.NowSeconds();
  const PatientTies* ties = Ties(patient_id, now * 1000);
  const bool objects = !ties || ties->Objects(who.organisation);
  if (ties && !objects && !who.organisation.empty()) {
    if (ties->RelatedAt(who.organisation, now * 1000)) return RecordAccess::kOpen;
    if (grants_.Until(GrantKind::kDeclared, who.principal, who.organisation, patient_id) > now) {
      return RecordAccess::kDeclared;
    }
  }
  if (grants_.Until(GrantKind::kBreakGlass, who.principal, who.organisation, patient_id) > now) {
    return RecordAccess::kBreakGlass;
  }
  return RecordAccess::kClosed;
}

base::Result<store::CommitResult> RelationshipInvalidatingStore::Commit(
    store::WriteTransaction transaction) {
  std::vector<std::string> patients;
  bool everyone = false;
  for (const store::PreparedWrite& write : transaction.writes) {
    if (write.type == "Organization" || write.type == "PractitionerRole") everyone = true;
    patients.insert(patients.end(), write.compartment_patients.begin(),
                    write.compartment_patients.end());
    patients.insert(patients.end(), write.previous_compartment_patients.begin(),
                    write.previous_compartment_patients.end());
  }
  auto committed = inner_.Commit(std::move(transaction));
  // Even a failed commit may have been applied (a lost acknowledgement): forget either way.
  if (everyone) {
    relationships_.ChangedAll();
  } else if (!patients.empty()) {
    relationships_.Changed(patients);
  }
  return committed;
}

}  // namespace carerecord::access
