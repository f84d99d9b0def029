// The region's policy (region_policy.h) decided per item: the role may read the item's type; a
// patient reads only their own compartment; a staff user only a record they may open
// (CareRelationships); an R item only by restricted_readers roles; a V
// item or one with a protected code only by users and clients of the organisation that wrote
// its first version. The server's own work (no kind) and `integration` clients see everything.
// Composed inside ScopeLimitedPolicy, so a token's scopes narrow it and never widen it.
// Thread-safe: it holds the immutable policy and a thread-safe relationship source.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "access/access_context.h"
#include "access/region_policy.h"

namespace carerecord::access {

// Whether a staff user may open a patient's record: their organisation's care relationship
// with the patient (from the record, or the user's declaration), the patient's objection, and
// break-glass (RecordCareRelationships, care_relationships.h). Asked per item; the implementation
// caches. None given: every staff user may open every record (tests of the other rules).
enum class RecordAccess {
  kClosed,      // no relationship, or the patient objects
  kOpen,        // a relationship in the record that the objection leaves standing
  kDeclared,    // the user's own declaration, which the objection leaves standing
  kBreakGlass,  // closed but for the user's running break-glass: what it opens is BTG
};

// The facts of an item another item stands for (a Binary's securityContext), owned.
struct OwnedItemFacts {
  std::string type, id, patient_id, sealing_facts, author_organisation, json;
};

class CareRelationships {
 public:
  virtual ~CareRelationships() = default;
  virtual RecordAccess Decide(const AccessContext& who, std::string_view patient_id) = 0;
  // The current version's facts of Type/id, read by the server's own work; none when it does
  // not exist (or cannot be read just now: the caller then withholds).
  virtual std::optional<OwnedItemFacts> FactsOf(std::string_view /*type*/,
                                                std::string_view /*id*/) {
    return std::nullopt;
  }
  // Whether `organisation` (an ODS code) is the patient's GP practice (generalPractitioner) or
  // managing organisation: those who keep the record, and may record the patient's objection.
  virtual bool KeepsRecordOf(std::string_view /*organisation*/, std::string_view /*patient_id*/) {
    return false;
  }
  bool Has(const AccessContext& who, std::string_view patient_id) {
    return Decide(who, patient_id) != RecordAccess::kClosed;
  }
};

class RegionAccessPolicy final : public AccessPolicy {
 public:
  explicit RegionAccessPolicy(std::shared_ptr<const RegionPolicy> policy,
                              CareRelationships* relationships = nullptr);

  bool MayRead(const AccessContext& who, const store::ItemFacts& item) override {
    return Decide(who, item) != ReadDecision::kWithhold;
  }
  ReadDecision Decide(const AccessContext& who, const store::ItemFacts& item) override;
  // A staff user writes in a patient's record only when they may open it (a relationship, a
  // declaration or break-glass); `patient` users, integration clients and the server's own work
  // as before. A declaration or break-glass is the user's alone and for a while: under one, the
  // items that make ties (PatientTies: Patient, Encounter, EpisodeOfCare, CareTeam,
  // ServiceRequest) or carry the patient's objection (Consent) are not written, else the
  // grant would become the whole organisation's, for good, or lift the objection.
  std::optional<std::string> RefuseWriteInRecordOf(const AccessContext& who,
                                                   std::string_view patient_id,
                                                   std::string_view type) override;
  // An update or delete: as a write in every record the item is in before or after it, and under
  // a grant only of an item the user's own organisation wrote first (its author, as sealing
  // reads it), never of the six types above. A grant adds to a record; it does not take from it
  // or rewrite what others wrote.
  std::optional<std::string> RefuseChangeInRecordOf(const AccessContext& who,
                                                    std::string_view patient_id,
                                                    std::string_view type,
                                                    std::string_view author_organisation) override;
  // A Consent that objects in a way the relationships could not enforce
  // (UnenforceableObjection, consent_objection.h), whoever writes it; and for a staff user a
  // Patient whose link names its other patient other than by a literal reference to a Patient
  // of this server (by identifier, or another server's URL): the gate could not tell whose
  // record the link is in, so not whether the user may write there (a grant may not link).
  // None without relationships.
  std::optional<base::Error> RefuseUnenforceable(const AccessContext& who, std::string_view type,
                                                 std::string_view json) override;
  // Only integration clients (and the server's own work), the patient (a `patient` user for
  // their own record) and users of the patient's GP practice or managing organisation record,
  // change or withdraw an objection: any other writer with a tie could close the record to
  // everyone else, or reopen it. None without relationships.
  std::optional<std::string> RefuseObjectionWrite(const AccessContext& who, std::string_view json,
                                                  std::string_view previous) override;
  bool AdmitsEverything(const AccessContext& who) override { return FullAccess(who); }
  // A staff user whose break-glass alone opens the record (RecordAccess::kBreakGlass).
  bool OpensOnlyByBreakGlass(const AccessContext& who, std::string_view patient_id) override;
  // A role that may not read the type (or no role the policy knows).
  bool RefusesType(const AccessContext& who, std::string_view type) override;
  std::optional<std::string> RefuseWrite(const AccessContext& who, std::string_view type) override;

  const RegionPolicy& policy() const { return *policy_; }

  // The server's own work and integration clients: every item, every type.
  static bool FullAccess(const AccessContext& who) {
    return !who.kind || who.role == RoleName(Role::kIntegration);
  }
  // The types whose items give an organisation a relationship or carry the objection.
  static bool MakesTiesOrObjection(std::string_view type);
  // The Patient id a `patient` user acts for: the token's patient context, else fhirUser's.
  static std::string_view OwnPatient(const AccessContext& who);

 private:
  // A write (a create when `author_organisation` is null, else an update or delete of an item
  // that organisation wrote first) in `patient_id`'s record.
  std::optional<std::string> RefuseInRecordOf(const AccessContext& who, std::string_view patient_id,
                                              std::string_view type,
                                              const std::string_view* author_organisation);
  // What the patient's record allows (relationship, objection, break-glass) for a staff user.
  ReadDecision RecordDecision(const AccessContext& who, Role role, const store::ItemFacts& item);
  // The item's labels and codes: R for restricted_readers, V and protected codes for the author.
  bool SealingAdmits(const AccessContext& who, Role role, const store::ItemFacts& item) const;

  // An item of a type outside every compartment is read as the records of the patients it names
  // (fhir/patient_facts.h) allow, each as an item of that record would be, and not at all by a
  // role that reads no patient data; one naming none as before.
  ReadDecision DecideNamedPatients(const AccessContext& who, Role role,
                                   const store::ItemFacts& item);

  // A Binary is read as the item its securityContext names is (a document's attachment, read
  // as the DocumentReference is); one without, or naming what does not exist, by no one here.
  ReadDecision DecideByContext(const AccessContext& who, const store::ItemFacts& item);

  std::shared_ptr<const RegionPolicy> policy_;
  CareRelationships* relationships_;
  // Per role: whether it reads any type of the patient compartment but AuditEvent (auditors and
  // system admins do not).
  std::array<bool, std::tuple_size_v<decltype(RegionPolicy::roles)>> reads_patient_data_{};
};

}  // namespace carerecord::access
