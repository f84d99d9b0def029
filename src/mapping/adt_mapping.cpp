// ADT: Patient (PID, PD1), Encounter (PV1, PV2), RelatedPerson (NK1), AllergyIntolerance (AL1),
// Condition (DG1), and the A40 merge (MRG).
#include <string>
#include <string_view>

#include "mapping/mapping_context.h"

namespace carerecord::mapping::internal {

namespace json = boost::json;
using hl7v2::ErrorCondition;

namespace {

constexpr char kParticipationType[] = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";

// What each supported trigger says of the visit's status; empty `stated` and `implied`: no
// Encounter (A28, A31, A40 carry person data only). An A08 states the visit as it stands, by HL7's
// null rules: discharged when PV1-45 holds a time, back in progress when PV1-45 is "" (the
// discharge withdrawn), and otherwise nothing of the status: the stored one stays, and `implied`
// is what a new Encounter starts with.
struct VisitStatus {
  std::string_view stated;
  std::string_view implied;
  std::string_view effective() const { return stated.empty() ? implied : stated; }
};

VisitStatus EncounterStatusFor(std::string_view trigger, const FieldReader& pv1) {
  if (trigger == "A01" || trigger == "A02" || trigger == "A04" || trigger == "A06" ||
      trigger == "A07" || trigger == "A12" || trigger == "A13") {
    return {"in-progress", {}};  // A12 and A13 cancel a transfer and a discharge: in progress
  }
  if (trigger == "A03") return {"finished", {}};
  if (trigger == "A05") return {"planned", {}};
  if (trigger == "A11") return {"cancelled", {}};
  if (trigger == "A08") {
    if (pv1.State(45) == FieldState::kValue) return {"finished", {}};
    if (pv1.State(45) == FieldState::kNull) return {"in-progress", {}};
    if (pv1.State(44) == FieldState::kValue) return {{}, "in-progress"};
    return {{}, pv1.Text(2) == "P" ? "planned" : "unknown"};
  }
  return {};
}

json::object EncounterClass(std::string_view patient_class, std::string_view trigger) {
  constexpr char kActCode[] = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
  if (trigger == "A06") return Coding(kActCode, "IMP", "inpatient encounter");
  if (trigger == "A07") return Coding(kActCode, "AMB", "ambulatory");
  if (patient_class == "I") return Coding(kActCode, "IMP", "inpatient encounter");
  if (patient_class == "O") return Coding(kActCode, "AMB", "ambulatory");
  if (patient_class == "E") return Coding(kActCode, "EMER", "emergency");
  if (patient_class == "P") return Coding(kActCode, "PRENC", "pre-admission");
  if (patient_class.empty()) {
    return Coding("http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "UNK", "unknown");
  }
  return Coding("http://terminology.hl7.org/CodeSystem/v2-0004", patient_class);
}

// PL as a Location reference by its description ("OMU B, Bed 03, HUH AE OMU, HOMERTON UNIVER"):
// the feed names places, it does not send Location resources.
json::object LocationReference(const FieldReader& r, size_t field) {
  std::string display;
  for (size_t comp : {1, 2, 3, 4}) {
    std::string part = r.Text(field, 1, comp, 1);
    if (part.empty()) continue;
    if (!display.empty()) display += ", ";
    display += part;
  }
  if (display.empty()) display = r.Text(field, 1, 9);
  if (display.empty()) return {};
  return json::object{{"type", "Location"}, {"display", display}};
}

// The clinicians of one XCN field as participants of one type: a part of Encounter.participant
// of its own (an A08 naming the attending doctor leaves the referrer as stored).
void AddParticipants(MappingContext& ctx, const FieldReader& r, MappedResource& resource,
                     size_t field, std::string_view code, std::string_view display) {
  json::array participants;
  for (size_t rep = 1; rep <= r.Repetitions(field); ++rep) {
    json::object who = ReadClinicianReference(r, field, rep, ctx.StaffSystem());
    if (who.empty()) continue;
    participants.emplace_back(
        json::object{{"type", json::array{Concept(kParticipationType, code, display)}},
                     {"individual", std::move(who)}});
  }
  PutPart(resource, "participant", "/type/0/coding/0/code", {std::string(code)}, r.State(field),
          std::move(participants));
}

std::string MapEncounter(MappingContext& ctx, const PatientMapping& patient,
                         std::string_view trigger) {
  auto pv1 = ctx.message().FindSegment("PV1");
  if (!pv1) return {};
  FieldReader r = ctx.Reader(*pv1);
  const VisitStatus visit = EncounterStatusFor(trigger, r);
  const std::string_view status = visit.effective();
  if (status.empty()) return {};
  std::string system, value = r.Text(19, 1, 1);
  if (!value.empty()) {
    system = ctx.System("visit", r.Text(19, 1, 4, 1));
  } else if (const std::string admitted = r.Text(44, 1, 1); !admitted.empty()) {
    // No visit number: the patient and the admission time identify the stay.
    system = ctx.System("visit-admitted", patient.authority);
    value = patient.value + "/" + admitted;
  } else {
    ctx.Warn("PV1: no visit number (PV1-19) nor admission time (PV1-44): no Encounter");
    return {};
  }
  // ADT states the visit in part (WriteMode::kUpdateStated): what PV1 and PV2 leave out stays as
  // stored; "" deletes.
  MappedResource resource;
  resource.type = "Encounter";
  resource.identity_system = system;
  resource.identity_value = value;
  resource.mode = WriteMode::kUpdateStated;
  json::object& encounter = resource.resource;
  encounter["resourceType"] = "Encounter";
  encounter["identifier"] = json::array{json::object{{"system", system}, {"value", value}}};
  if (visit.stated.empty()) {
    resource.fallbacks.push_back(Fallback{"status", json::string(visit.implied), {"status"}});
  } else {
    encounter["status"] = visit.stated;
  }
  // Encounter.class is required: a PV1-2 left out keeps the stored class (or starts as unknown);
  // "" states it unknown.
  if (r.State(2) != FieldState::kAbsent || trigger == "A06" || trigger == "A07") {
    encounter["class"] = EncounterClass(r.Text(2), trigger);
  } else {
    resource.fallbacks.push_back(Fallback{"class", EncounterClass("", trigger), {"class"}});
  }
  if (const std::string service = r.Text(10); !service.empty()) {
    encounter["serviceType"] = Concept("http://terminology.hl7.org/CodeSystem/v2-0069", service);
  } else {
    PutStated(encounter, "serviceType", r.State(10), nullptr);
  }
  encounter["subject"] = json::object{{"reference", patient.reference}};
  AddParticipants(ctx, r, resource, 7, "ATND", "attender");
  AddParticipants(ctx, r, resource, 17, "ADM", "admitter");
  AddParticipants(ctx, r, resource, 8, "REF", "referrer");
  AddParticipants(ctx, r, resource, 9, "CON", "consultant");
  // The period is merged member by member: start from PV1-44, end from PV1-45.
  resource.merged = {"period", "hospitalization"};
  json::object period;
  if (auto start = ctx.TimeField(r, 44, "the admit time")) {
    period["start"] = *start;
  } else {
    PutStated(period, "start", r.State(44), nullptr);
  }
  if (trigger == "A13" || (status != "finished" && r.State(45) == FieldState::kNull)) {
    period["end"] = nullptr;  // the discharge cancelled: the visit has no end, whatever PV1-45 says
  } else if (status == "finished") {
    if (auto end = ctx.TimeField(r, 45, "the discharge time")) {
      period["end"] = *end;
    } else {
      PutStated(period, "end", r.State(45), nullptr);
    }
  }
  PutIfAny(encounter, "period", std::move(period));
  if (auto pv2 = ctx.message().FindSegment("PV2")) {
    FieldReader p2 = ctx.Reader(*pv2);
    json::object reason = ReadCodeableConcept(p2, 3);
    json::array reasons;
    if (!reason.empty()) reasons.emplace_back(std::move(reason));
    PutStated(encounter, "reasonCode", p2.State(3), std::move(reasons));
  }
  json::object hospitalization;
  if (const std::string source = r.Text(14); !source.empty()) {
    hospitalization["admitSource"] =
        Concept("http://terminology.hl7.org/CodeSystem/v2-0023", source);
  } else {
    PutStated(hospitalization, "admitSource", r.State(14), nullptr);
  }
  if (trigger == "A13" || (status != "finished" && r.State(45) == FieldState::kNull)) {
    hospitalization["dischargeDisposition"] = nullptr;
  } else if (const std::string disposition = r.Text(36);
             !disposition.empty() && status == "finished") {
    hospitalization["dischargeDisposition"] =
        Concept("http://terminology.hl7.org/CodeSystem/v2-0112", disposition);
  } else if (status == "finished") {
    PutStated(hospitalization, "dischargeDisposition", r.State(36), nullptr);
  }
  PutIfAny(encounter, "hospitalization", std::move(hospitalization));
  // PV1-3 states where the patient is (and on A02, PV1-6 where they were): the list replaced.
  json::array locations;
  json::object here = LocationReference(r, 3);
  if (!here.empty()) {
    locations.emplace_back(json::object{
        {"location", std::move(here)},
        {"status", status == "finished" || status == "cancelled" ? "completed" : "active"}});
    if (trigger == "A02") {  // the ward the patient left
      json::object prior = LocationReference(r, 6);
      if (!prior.empty()) {
        locations.emplace_back(
            json::object{{"location", std::move(prior)}, {"status", "completed"}});
      }
    }
  }
  PutStated(encounter, "location", r.State(3), std::move(locations));
  encounter["serviceProvider"] = ctx.OrganisationReference();
  return ctx.Add(std::move(resource));
}

void MapNextOfKin(MappingContext& ctx, const PatientMapping& patient) {
  for (size_t n = 1;; ++n) {
    auto nk1 = ctx.message().FindSegment("NK1", n);
    if (!nk1) break;
    FieldReader r = ctx.Reader(*nk1);
    MappedResource resource;
    resource.mode = WriteMode::kUpdateStated;  // what NK1 leaves out stays as stored
    json::object& person = resource.resource;
    person["resourceType"] = "RelatedPerson";
    std::string set_id = r.Text(1);
    if (set_id.empty()) set_id = std::to_string(n);
    const std::string system = ctx.System("next-of-kin", patient.authority);
    const std::string value = patient.value + "/" + set_id;
    person["identifier"] = json::array{json::object{{"system", system}, {"value", value}}};
    person["active"] = true;
    person["patient"] = json::object{{"reference", patient.reference}};
    json::object relationship = ReadCodeableConcept(r, 3);
    if (auto* codings = relationship.if_contains("coding")) {
      for (auto& coding : codings->as_array()) {
        auto& c = coding.as_object();
        if (!c.contains("system")) c["system"] = "http://terminology.hl7.org/CodeSystem/v2-0063";
      }
    }
    json::array relationships, names, addresses;
    if (!relationship.empty()) relationships.emplace_back(std::move(relationship));
    PutStated(person, "relationship", r.State(3), std::move(relationships));
    if (json::object name = ReadHumanName(r, 2, 1); !name.empty()) {
      names.emplace_back(std::move(name));
    }
    PutStated(person, "name", r.State(2), std::move(names));
    PutPart(resource, "telecom", "/use", HomeUses(), r.State(5), ReadTelecoms(r, 5, false));
    PutPart(resource, "telecom", "/use", BusinessUses(), r.State(6), ReadTelecoms(r, 6, true));
    if (json::object address = ReadAddress(r, 4, 1); !address.empty()) {
      addresses.emplace_back(std::move(address));
    }
    PutStated(person, "address", r.State(4), std::move(addresses));
    resource.type = "RelatedPerson";
    resource.identity_system = system;
    resource.identity_value = value;
    ctx.Add(std::move(resource));
  }
}

// Whether a field holds HL7's null and nothing else: "" whole, or in every component that has
// anything ("\"\"^\"\"", round 10 R4), so that it says "delete" and states no value.
bool StatesOnlyNulls(const hl7v2::SegmentView& segment, size_t field) {
  const hl7v2::Delimiters& d = segment.delimiters();
  const char cuts[] = {d.component, d.repetition, '\0'};
  std::string_view rest = segment.Get(field);
  bool null = false;
  while (true) {
    const size_t cut = rest.find_first_of(cuts);
    const std::string_view part = rest.substr(0, cut);
    if (IsNullText(part)) {
      null = true;
    } else if (part.find_first_not_of(" \t") != std::string_view::npos) {
      return false;
    }
    if (cut == std::string_view::npos) return null;
    rest.remove_prefix(cut + 1);
  }
}

void MapAllergies(MappingContext& ctx, const PatientMapping& patient) {
  for (size_t n = 1;; ++n) {
    auto al1 = ctx.message().FindSegment("AL1", n);
    if (!al1) break;
    FieldReader r = ctx.Reader(*al1);
    std::string allergen = r.Text(3, 1, 1);
    if (allergen.empty()) allergen = r.Text(3, 1, 2);
    if (allergen.empty() && StatesOnlyNulls(*al1, 3)) {
      // "" deletes; an allergy is not deleted by an AL1 (action codes are not read), so this one
      // says nothing the record can apply. Left out, not the whole message (hostile round 8 L6).
      ctx.Warn("AL1 " + std::to_string(n) +
               ": the allergen (AL1-3) is \"\" (delete), and an AL1 deletes no allergy here: "
               "the segment is left out");
      continue;
    }
    if (allergen.empty()) {
      ctx.Fail(ErrorCondition::kRequiredFieldMissing, al1->Location(3),
               "the allergen (AL1-3) is empty");
      return;
    }
    MappedResource resource;
    resource.mode = WriteMode::kUpdateStated;  // what AL1 leaves out stays as stored
    json::object& allergy = resource.resource;
    allergy["resourceType"] = "AllergyIntolerance";
    // The allergen identifies the allergy within the patient: AL1-1 only counts the segments.
    const std::string system = ctx.System("allergy", patient.authority);
    const std::string value = patient.value + "/" + allergen;
    allergy["identifier"] = json::array{json::object{{"system", system}, {"value", value}}};
    allergy["clinicalStatus"] = Concept(
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active");
    allergy["verificationStatus"] =
        Concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                "confirmed", "Confirmed");
    const std::string type = r.Text(2, 1, 1);  // table 0127
    if (type == "DA") {
      allergy["category"] = json::array{"medication"};
    } else if (type == "FA") {
      allergy["category"] = json::array{"food"};
    } else if (type == "EA" || type == "AA" || type == "PA" || type == "LA") {
      allergy["category"] = json::array{"environment"};
    } else {
      PutStated(allergy, "category", r.State(2), nullptr);
    }
    const std::string severity = r.Text(4, 1, 1);  // table 0128
    if (severity == "SV") {
      allergy["criticality"] = "high";
    } else if (severity == "MO" || severity == "MI") {
      allergy["criticality"] = "low";
    } else if (severity == "U") {
      allergy["criticality"] = "unable-to-assess";
    } else {
      PutStated(allergy, "criticality", r.State(4), nullptr);
    }
    allergy["code"] = ReadCodeableConcept(r, 3);
    allergy["patient"] = json::object{{"reference", patient.reference}};
    if (auto onset = ctx.TimeField(r, 6, "the identification date")) {
      allergy["onsetDateTime"] = *onset;
    } else {
      PutStated(allergy, "onsetDateTime", r.State(6), nullptr);
    }
    json::array manifestations;
    for (size_t rep = 1; rep <= r.Repetitions(5); ++rep) {
      std::string text = r.Text(5, rep, 1);
      if (!text.empty()) manifestations.emplace_back(json::object{{"text", std::move(text)}});
    }
    json::array reactions;
    if (!manifestations.empty()) {
      reactions.emplace_back(json::object{{"manifestation", std::move(manifestations)}});
    }
    PutStated(allergy, "reaction", r.State(5), std::move(reactions));
    resource.type = "AllergyIntolerance";
    resource.identity_system = system;
    resource.identity_value = value;
    ctx.Add(std::move(resource));
  }
}

void MapDiagnoses(MappingContext& ctx, const PatientMapping& patient,
                  const std::string& encounter) {
  for (size_t n = 1;; ++n) {
    auto dg1 = ctx.message().FindSegment("DG1", n);
    if (!dg1) break;
    FieldReader r = ctx.Reader(*dg1);
    json::object code = ReadCodeableConcept(r, 3);
    std::string key = r.Text(3, 1, 1);
    if (const std::string description = r.Text(4); code.empty() && !description.empty()) {
      code = json::object{{"text", description}};  // before v2.5 DG1-4 may carry it alone
      key = description;
    }
    if (key.empty()) key = r.Text(3, 1, 2);
    if (key.empty() && StatesOnlyNulls(*dg1, 3)) {
      ctx.Warn("DG1 " + std::to_string(n) +
               ": the diagnosis code (DG1-3) is \"\" (delete), and a DG1 deletes no diagnosis "
               "here: the segment is left out");
      continue;
    }
    if (key.empty()) {
      ctx.Fail(ErrorCondition::kRequiredFieldMissing, dg1->Location(3),
               "the diagnosis code (DG1-3) is empty");
      return;
    }
    MappedResource resource;
    resource.mode = WriteMode::kUpdateStated;  // what DG1 leaves out stays as stored
    json::object& condition = resource.resource;
    condition["resourceType"] = "Condition";
    const std::string system = ctx.System("diagnosis", patient.authority);
    const std::string value = patient.value + "/" + key;
    condition["identifier"] = json::array{json::object{{"system", system}, {"value", value}}};
    condition["clinicalStatus"] =
        Concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active");
    // Table 0052: A admitting, W working, F final. Not sent: the stored status stays, or its
    // absence when a "" deleted it (only a new Condition is provisional).
    constexpr char kVerification[] = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
    const json::object provisional = Concept(kVerification, "provisional", "Provisional");
    if (r.State(6) == FieldState::kAbsent) {
      resource.fallbacks.push_back(
          Fallback{"verificationStatus", provisional, {"verificationStatus"}, {}, true});
    } else {
      PutStated(
          condition, "verificationStatus", r.State(6),
          r.Text(6, 1, 1) == "F" ? Concept(kVerification, "confirmed", "Confirmed") : provisional);
    }
    condition["category"] =
        json::array{Concept("http://terminology.hl7.org/CodeSystem/condition-category",
                            "encounter-diagnosis", "Encounter Diagnosis")};
    condition["code"] = std::move(code);
    condition["subject"] = json::object{{"reference", patient.reference}};
    if (!encounter.empty()) condition["encounter"] = json::object{{"reference", encounter}};
    if (auto onset = ctx.TimeField(r, 5, "the diagnosis time")) {
      condition["onsetDateTime"] = *onset;
    } else {
      PutStated(condition, "onsetDateTime", r.State(5), nullptr);
    }
    PutStated(condition, "recorder", r.State(16),
              ReadClinicianReference(r, 16, 1, ctx.StaffSystem()));
    resource.type = "Condition";
    resource.identity_system = system;
    resource.identity_value = value;
    ctx.Add(std::move(resource));
  }
}

constexpr std::string_view kSupportedTriggers[] = {"A01", "A02", "A03", "A04", "A05", "A06", "A07",
                                                   "A08", "A11", "A12", "A13", "A28", "A31", "A40"};

}  // namespace

void MapAdt(MappingContext& ctx) {
  const std::string& trigger = ctx.message().header().trigger_event;
  bool supported = false;
  for (std::string_view t : kSupportedTriggers) supported = supported || trigger == t;
  auto msh = ctx.message().FindSegment("MSH");
  if (!supported) {
    ctx.Fail(ErrorCondition::kUnsupportedEventCode, msh->Location(9, 1, 2),
             "ADT event " + trigger + " is not mapped (A01-A08, A11-A13, A28, A31 and A40 are)");
    return;
  }
  auto pid = ctx.message().FindSegment("PID");
  if (!pid) {
    ctx.Fail(ErrorCondition::kSegmentSequenceError, msh->Location(),
             "ADT^" + trigger + " has no PID segment");
    return;
  }
  auto patient = ctx.MapPatient(*pid, WriteMode::kUpdateStated);
  if (!patient) return;
  if (trigger == "A40") {
    auto mrg = ctx.message().FindSegment("MRG");
    if (!mrg) {
      ctx.Fail(ErrorCondition::kSegmentSequenceError, pid->Location(),
               "ADT^A40 has no MRG segment naming the patient to merge");
      return;
    }
    FieldReader m = ctx.Reader(*mrg);
    const std::string loser = m.Text(1, 1, 1);
    if (loser.empty()) {
      ctx.Fail(ErrorCondition::kRequiredFieldMissing, mrg->Location(1),
               "the prior patient identifier (MRG-1) is empty");
      return;
    }
    std::string authority = m.Text(1, 1, 4, 1);
    if (authority.empty()) authority = m.Text(1, 1, 4, 2);
    if (authority.empty()) authority = patient->authority;  // same source, same numbering
    PatientMerge merge;
    merge.survivor_system = patient->system;
    merge.survivor_value = patient->value;
    merge.loser_system = ctx.System("mrn", authority);
    merge.loser_value = loser;
    merge.survivor_at = pid->Location(3);
    merge.loser_at = mrg->Location(1);
    if (merge.loser_system == merge.survivor_system && merge.loser_value == merge.survivor_value) {
      ctx.Fail(ErrorCondition::kDataTypeError, mrg->Location(1),
               "MRG-1 names the surviving patient itself");
      return;
    }
    ctx.out().merge = std::move(merge);
    return;
  }
  const std::string encounter = MapEncounter(ctx, *patient, trigger);
  MapNextOfKin(ctx, *patient);
  MapAllergies(ctx, *patient);
  MapDiagnoses(ctx, *patient, encounter);
}

}  // namespace carerecord::mapping::internal
