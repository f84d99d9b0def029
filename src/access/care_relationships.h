// Who may open a patient's record (issue 20), decided from the record itself: the patient's GP
// practice and managing organisation, Encounters and EpisodeOfCares current or ended within
// relationship_window_days, active CareTeams and referrals (ServiceRequest performer); the user's
// own declaration or break-glass (AccessGrants); and the patient's objection (an active Consent,
// provision.type deny). What the record says about one patient (PatientTies) is read once, then
// served from a cache that the store's commits invalidate (RelationshipInvalidatingStore).
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "access/access_grants.h"
#include "access/consent_objection.h"
#include "access/region_access_policy.h"
#include "access/region_policy.h"
#include "access/wall_clock.h"
#include "store/store.h"

namespace carerecord::access {

// What a patient's record says about the organisations caring for them. Organisations are ODS
// codes; references to them are resolved (Organization/ID to its ODS identifier, a
// PractitionerRole to its organisation).
struct PatientTies {
  static constexpr int64_t kOpenEnded = INT64_MAX;
  // ODS code -> until when (epoch ms, exclusive) the relationship holds.
  std::map<std::string, int64_t, std::less<>> organisations;
  std::set<std::string, std::less<>> gp_practices;  // generalPractitioner's organisations
  std::set<std::string, std::less<>> managing;      // managingOrganization's organisations
  bool objects_to_all = false;                      // an active deny Consent with no actor
  std::set<std::string, std::less<>> objected;      // organisations an active deny names
  // When these ties must be read again though the record did not change (a Consent's provision
  // period begins or ends): epoch ms.
  int64_t read_again_at = kOpenEnded;

  bool RelatedAt(std::string_view ods, int64_t now_ms) const {
    auto it = organisations.find(ods);
    return it != organisations.end() && now_ms < it->second;
  }
  bool Objects(std::string_view ods) const {
    return objects_to_all ? !gp_practices.count(ods) : objected.count(ods) > 0;
  }
};

// The ties of `patient_id` from the resources of its compartment (Patient, Encounter,
// EpisodeOfCare, CareTeam, ServiceRequest, Consent: others are ignored), with `lookup` to
// resolve literal Organization and PractitionerRole references, as at `now_ms` (a Consent's
// provision period). Pure.
PatientTies TiesFromRecord(std::string_view patient_id, const std::vector<std::string>& resources,
                           const ResourceLookup& lookup, int64_t window_ms, int64_t now_ms);

class RecordCareRelationships final : public CareRelationships {
 public:
  RecordCareRelationships(store::Store& store, std::shared_ptr<const RegionPolicy> policy,
                          AccessGrants& grants, const WallClock& clock)
      : store_(store), policy_(std::move(policy)), grants_(grants), clock_(clock) {}

  RecordAccess Decide(const AccessContext& who, std::string_view patient_id) override;
  std::optional<OwnedItemFacts> FactsOf(std::string_view type, std::string_view id) override;
  bool KeepsRecordOf(std::string_view organisation, std::string_view patient_id) override;

  // The record of these patients changed: their ties are read again when next asked.
  void Changed(const std::vector<std::string>& patients);
  // Something every patient's ties may depend on changed (an Organization's ODS code, a
  // PractitionerRole's organisation).
  void ChangedAll();

  // Ties read from the store since start (cache misses), for tests and benchmarks.
  int64_t reads() const { return reads_.load(std::memory_order_relaxed); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Slot {
    uint64_t stamp = 0;
    std::shared_ptr<const PatientTies> ties;  // null while being read
  };
  static constexpr size_t kMaxCachedPatients = 200000;

  // The ties of a patient, valid until this thread's next call; null when they cannot be read.
  const PatientTies* Ties(std::string_view patient_id, int64_t now_ms);
  std::shared_ptr<const PatientTies> CachedTies(std::string_view patient_id, int64_t now_ms);
  base::Result<PatientTies> ReadTies(std::string_view patient_id);

  store::Store& store_;
  std::shared_ptr<const RegionPolicy> policy_;
  AccessGrants& grants_;
  const WallClock& clock_;
  std::mutex mutex_;
  uint64_t next_stamp_ = 0;
  std::unordered_map<std::string, Slot, Hash, std::equal_to<>> cache_;
  std::atomic<int64_t> reads_{0};
  // Bumped by every change: a thread's memo of the patients it last asked about holds only while
  // it is unchanged. `id_` tells instances apart.
  std::atomic<uint64_t> generation_{0};
  const uint64_t id_ = NextId();
  static uint64_t NextId();
};

// The record store, telling a RecordCareRelationships which patients' compartments each commit
// changed (after it commits), so that no cached tie outlives a change to the record it came
// from. Every write of the server goes through it (API, feeds, the directory's sync).
class RelationshipInvalidatingStore final : public store::Store {
 public:
  RelationshipInvalidatingStore(store::Store& inner, RecordCareRelationships& relationships)
      : inner_(inner), relationships_(relationships) {}
  base::Result<store::CommitResult> Commit(store::WriteTransaction transaction) override;
  std::unique_ptr<store::ReadSession> OpenRead(store::ReadGate& gate) override {
    return inner_.OpenRead(gate);
  }
  std::unique_ptr<store::TransactionReader> OpenTransactionReader(
      store::TransactionReaderKey key) override {
    return inner_.OpenTransactionReader(key);
  }
  base::Result<store::StoreStats> Stats() override { return inner_.Stats(); }
  const store::BodyCodec& Codec() const override { return inner_.Codec(); }
  void Close() override { inner_.Close(); }

 private:
  store::Store& inner_;
  RecordCareRelationships& relationships_;
};

}  // namespace carerecord::access
