// Who is asking and why, and the per-request gate every read of patient data passes through
// (DESIGN principle 4). The interactions open the store only with a RequestGate, so there is one
// place where the policy decides and where what was disclosed is gathered for the audit.
// A RequestGate belongs to one request on one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "access/scopes.h"
#include "fhir/patient_facts.h"
#include "store/store.h"

namespace carerecord::access {

enum class PrincipalKind { kUser, kClient };

class AuditSink;

// Filled by the HTTP gate from a verified access token, or by the server itself for its own
// work (loading Bundles, the directory sync), which has no kind and no scopes.
struct AccessContext {
  // "user:NAME", "client:ID", or "system:SOURCE" for the server's own work.
  std::string principal;
  std::optional<PrincipalKind> kind;  // none: the server's own work, not a token's
  std::string user;                   // the username, when a user signed in
  std::string client_id;              // the client that holds the token
  std::string organisation;           // ODS code of the organisation they act for
  std::string role;                   // clinician, nurse, ..., integration
  // What the token's scopes allow; null when the request is not limited by scopes (the
  // server's own work). Shared with the verified token, which outlives the request.
  std::shared_ptr<const ScopeSet> scopes;
  std::string patient;    // the token's patient context (a Patient id); empty when none
  std::string fhir_user;  // "Practitioner/ID" or "Patient/ID"; empty when none
  std::string purpose;    // why (e.g. "direct-care"); break-glass reasons go here
  std::string client_address;
  // Where the gates of this request hand what it disclosed, so the request's one audit entry is
  // made (durable) before its answer goes out: set by http::FhirRoutes for each request (see
  // access/request_audit.h); null outside a request, and the FhirService's sink is used.
  AuditSink* request_audit = nullptr;
};

// What the policy decided for one item: withheld, admitted, or admitted only because the user's
// break-glass opened the patient's record (the disclosure's purpose of use is then BTG).
enum class ReadDecision { kWithhold, kAdmit, kAdmitByBreakGlass };

// The policy decides per item. The server runs RegionAccessPolicy (region_access_policy.h)
// inside ScopeLimitedPolicy; OpenPolicy admits every item and is for the server's own work and
// tests only.
class AccessPolicy {
 public:
  virtual ~AccessPolicy() = default;
  virtual bool MayRead(const AccessContext& who, const store::ItemFacts& item) = 0;
  // As MayRead, telling also whether break-glass is what admits the item.
  virtual ReadDecision Decide(const AccessContext& who, const store::ItemFacts& item) {
    return MayRead(who, item) ? ReadDecision::kAdmit : ReadDecision::kWithhold;
  }
  // True when MayRead admits every item for `who`, whatever its facts: counts may then come
  // from the indexes. False is always safe.
  virtual bool AdmitsEverything(const AccessContext&) { return false; }
  // True when MayRead refuses every item of `type` for `who`, whatever its facts: a search of
  // the type then reads nothing and answers as a store without any. False is always safe.
  virtual bool RefusesType(const AccessContext&, std::string_view /*type*/) { return false; }
  // Why `who` may not write a resource of `type` (for a 403), or nothing when they may. Scopes
  // are checked apart (CheckInteractionScope); this is the role's part.
  virtual std::optional<std::string> RefuseWrite(const AccessContext&, std::string_view) {
    return std::nullopt;
  }
  // Why a version of `type` as written (`json`) by `who` says what the policy could not enforce
  // (a 422 naming the element), or nothing: a patient's objection (a Consent) must be one the
  // policy enforces, never kept and ignored, whoever writes it; a link between patients
  // (Patient.link) one whose record the gate can tell.
  virtual std::optional<base::Error> RefuseUnenforceable(const AccessContext&,
                                                         std::string_view /*type*/,
                                                         std::string_view /*json*/) {
    return std::nullopt;
  }
  // Why `who` may not record, change or withdraw a patient's objection (for a 403), or nothing:
  // asked for each Consent written, with `json` the version written (empty for a delete) and
  // `previous` the version it replaces (empty when none), when either is an objection.
  virtual std::optional<std::string> RefuseObjectionWrite(const AccessContext&,
                                                          std::string_view /*json*/,
                                                          std::string_view /*previous*/) {
    return std::nullopt;
  }
  // Why `who` may not update or delete an existing item of `type` that is in `patient_id`'s
  // compartment before or after the write, whose first version `author_organisation` wrote (for
  // a 403), or nothing when they may: a change needs write access to every record the item
  // leaves, stays in or enters, and a grant lets its user change only their organisation's items.
  virtual std::optional<std::string> RefuseChangeInRecordOf(
      const AccessContext&, std::string_view /*patient_id*/, std::string_view /*type*/,
      std::string_view /*author_organisation*/) {
    return std::nullopt;
  }
  // Why `who` may not write a version of `type` in `patient_id`'s compartment (for a 403), or
  // nothing when they may: a write needs the relationship with the patient a read needs.
  virtual std::optional<std::string> RefuseWriteInRecordOf(const AccessContext&,
                                                           std::string_view /*patient_id*/,
                                                           std::string_view /*type*/) {
    return std::nullopt;
  }
  // True when only `who`'s break-glass opens `patient_id`'s record to them (no relationship,
  // no declaration): what they read or write there is audited with purpose of use BTG.
  virtual bool OpensOnlyByBreakGlass(const AccessContext&, std::string_view /*patient_id*/) {
    return false;
  }
};

class OpenPolicy final : public AccessPolicy {
 public:
  bool MayRead(const AccessContext&, const store::ItemFacts&) override { return true; }
  bool AdmitsEverything(const AccessContext&) override { return true; }
};

// What one request disclosed, handed to the audit when the request ends.
struct Disclosure {
  AccessContext who;
  std::string action;              // "read", "search", "history", "everything", ...
  std::set<std::string> patients;  // ids of the patients whose data was returned
  int64_t items = 0;
  int64_t withheld = 0;
  // "Type/id" of the items returned, the first kAuditedResources of them (items counts all).
  std::vector<std::string> resources;
  static constexpr size_t kAuditedResources = 100;
  // Purpose of use for the audit: empty is TREAT; the policy sets "BTG" when a break-glass is
  // what opened an item.
  std::string purpose_of_use;
};

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual void Record(const Disclosure& disclosure) = 0;
};

class RequestGate final : public store::ReadGate {
 public:
  RequestGate(AccessPolicy& policy, AuditSink* audit, AccessContext who, std::string action)
      : policy_(policy), audit_(audit) {
    disclosure_.who = std::move(who);
    disclosure_.action = std::move(action);
  }
  ~RequestGate() override {
    AuditSink* sink = disclosure_.who.request_audit ? disclosure_.who.request_audit : audit_;
    if (sink && (disclosure_.items > 0 || disclosure_.withheld > 0)) sink->Record(disclosure_);
  }
  bool Admit(const store::ItemFacts& item) override {
    const ReadDecision decision = policy_.Decide(disclosure_.who, item);
    if (decision == ReadDecision::kWithhold) {
      ++disclosure_.withheld;
      return false;
    }
    if (decision == ReadDecision::kAdmitByBreakGlass) disclosure_.purpose_of_use = "BTG";
    ++disclosure_.items;
    if (!item.patient_id.empty()) {
      disclosure_.patients.emplace(item.patient_id);
    } else if (!item.sealing_facts.empty()) {  // an item outside the compartments naming some
      for (std::string_view patient : fhir::PatientsNamedIn(item.sealing_facts).ids) {
        disclosure_.patients.emplace(patient);
      }
    }
    if (disclosure_.resources.size() < Disclosure::kAuditedResources) {
      disclosure_.resources.push_back(std::string(item.type) + "/" + std::string(item.id));
    }
    return true;
  }
  bool Permits(const store::ItemFacts& item) override {
    return policy_.MayRead(disclosure_.who, item);
  }
  bool AdmitsEverything() override { return policy_.AdmitsEverything(disclosure_.who); }
  bool AdmitsNoneOf(std::string_view type) override {
    return policy_.RefusesType(disclosure_.who, type);
  }
  void CountWithheld(int64_t count) override { disclosure_.withheld += count; }
  const Disclosure& disclosure() const { return disclosure_; }

 private:
  AccessPolicy& policy_;
  AuditSink* audit_;
  Disclosure disclosure_;
};

}  // namespace carerecord::access
