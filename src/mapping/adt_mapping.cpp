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

// What each supported trigger does to the visit's status; empty: no Encounter (A28, A31, A40
// carry person data only).
std::string_view EncounterStatusFor(std::string_view trigger, const FieldReader& pv1) {
  if (trigger == "A01" || trigger == "A02" || trigger == "A04" || trigger == "A06" ||
      trigger == "A07" || trigger == "A12" || trigger == "A13") {
    return "in-progress";  // A12 and A13 cancel a transfer and a discharge: back to in progress
  }
  if (trigger == "A03") return "finished";
  if (trigger == "A05") return "planned";
  if (trigger == "A11") return "cancelled";
  if (trigger == "A08") {  // an update states the visit as it stands
    if (pv1.Has(45)) return "finished";
    if (pv1.Has(44)) return "in-progress";
    return pv1.Text(2) == "P" ? "planned" : "unknown";
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

void AddParticipant(MappingContext& ctx, const FieldReader& r, json::array& participants,
                    size_t field, std::string_view code, std::string_view display) {
  for (size_t rep = 1; rep <= r.Repetitions(field); ++rep) {
    json::object who = ReadClinicianReference(r, field, rep, ctx.StaffSystem());
    if (who.empty()) continue;
    participants.emplace_back(
        json::object{{"type", json::array{Concept(kParticipationType, code, display)}},
                     {"individual", std::move(who)}});
  }
}

std::string MapEncounter(MappingContext& ctx, const PatientMapping& patient,
                         std::string_view trigger) {
  auto pv1 = ctx.message().FindSegment("PV1");
  if (!pv1) return {};
  FieldReader r = ctx.Reader(*pv1);
  const std::string_view status = EncounterStatusFor(trigger, r);
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
  json::object encounter{{"resourceType", "Encounter"}};
  encounter["identifier"] = json::array{json::object{{"system", system}, {"value", value}}};
  encounter["status"] = status;
  encounter["class"] = EncounterClass(r.Text(2), trigger);
  if (const std::string service = r.Text(10); !service.empty()) {
    encounter["serviceType"] = Concept("http://terminology.hl7.org/CodeSystem/v2-0069", service);
  }
  encounter["subject"] = json::object{{"reference", patient.reference}};
  json::array participants;
  AddParticipant(ctx, r, participants, 7, "ATND", "attender");
  AddParticipant(ctx, r, participants, 17, "ADM", "admitter");
  AddParticipant(ctx, r, participants, 8, "REF", "referrer");
  AddParticipant(ctx, r, participants, 9, "CON", "consultant");
  if (!participants.empty()) encounter["participant"] = std::move(participants);
  json::object period;
  if (auto start = ctx.TimeField(r, 44, "the admit time")) period["start"] = *start;
  // A13 cancels the discharge: the visit has no end, whatever PV1-45 still says.
  if (trigger != "A13" && status == "finished") {
    if (auto end = ctx.TimeField(r, 45, "the discharge time")) period["end"] = *end;
  }
  PutIfAny(encounter, "period", std::move(period));
  if (auto pv2 = ctx.message().FindSegment("PV2")) {
    FieldReader p2 = ctx.Reader(*pv2);
    json::object reason = ReadCodeableConcept(p2, 3);
    if (!reason.empty()) encounter["reasonCode"] = json::array{std::move(reason)};
  }
  json::object hospitalization;
  if (const std::string source = r.Text(14); !source.empty()) {
    hospitalization["admitSource"] =
        Concept("http://terminology.hl7.org/CodeSystem/v2-0023", source);
  }
  if (const std::string disposition = r.Text(36); !disposition.empty() && status == "finished") {
    hospitalization["dischargeDisposition"] =
        Concept("http://terminology.hl7.org/CodeSystem/v2-0112", disposition);
  }
  PutIfAny(encounter, "hospitalization", std::move(hospitalization));
  json::array locations;
  json::object here = LocationReference(r, 3);
  if (!here.empty()) {
    locations.emplace_back(json::object{
        {"location", std::move(here)},
        {"status", status == "finished" || status == "cancelled" ? "completed" : "active"}});
  }
  if (trigger == "A02") {  // the ward the patient left
    json::object prior = LocationReference(r, 6);
    if (!prior.empty()) {
      locations.emplace_back(json::object{{"location", std::move(prior)}, {"status", "completed"}});
    }
  }
  if (!locations.empty()) encounter["location"] = std::move(locations);
  encounter["serviceProvider"] = ctx.OrganisationReference();

  MappedResource resource;
  resource.type = "Encounter";
  resource.identity_system = system;
  resource.identity_value = value;
  resource.resource = std::move(encounter);
  return ctx.Add(std::move(resource));
}

void MapNextOfKin(MappingContext& ctx, const PatientMapping& patient) {
  for (size_t n = 1;; ++n) {
    auto nk1 = ctx.message().FindSegment("NK1", n);
    if (!nk1) break;
    FieldReader r = ctx.Reader(*nk1);
    json::object person{{"resourceType", "RelatedPerson"}};
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
    if (!relationship.empty()) person["relationship"] = json::array{std::move(relationship)};
    json::object name = ReadHumanName(r, 2, 1);
    if (!name.empty()) person["name"] = json::array{std::move(name)};
    json::array telecom;
    for (size_t field : {5, 6}) {
      for (size_t rep = 1; rep <= r.Repetitions(field); ++rep) {
        json::object contact = ReadContactPoint(r, field, rep, field == 5 ? "home" : "work");
        if (!contact.empty()) telecom.emplace_back(std::move(contact));
      }
    }
    if (!telecom.empty()) person["telecom"] = std::move(telecom);
    json::object address = ReadAddress(r, 4, 1);
    if (!address.empty()) person["address"] = json::array{std::move(address)};
    MappedResource resource;
    resource.type = "RelatedPerson";
    resource.identity_system = system;
    resource.identity_value = value;
    resource.resource = std::move(person);
    ctx.Add(std::move(resource));
  }
}

void MapAllergies(MappingContext& ctx, const PatientMapping& patient) {
  for (size_t n = 1;; ++n) {
    auto al1 = ctx.message().FindSegment("AL1", n);
    if (!al1) break;
    FieldReader r = ctx.Reader(*al1);
    std::string allergen = r.Text(3, 1, 1);
    if (allergen.empty()) allergen = r.Text(3, 1, 2);
    if (allergen.empty()) {
      ctx.Fail(ErrorCondition::kRequiredFieldMissing, al1->Location(3),
               "the allergen (AL1-3) is empty");
      return;
    }
    json::object allergy{{"resourceType", "AllergyIntolerance"}};
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
    }
    const std::string severity = r.Text(4, 1, 1);  // table 0128
    if (severity == "SV") {
      allergy["criticality"] = "high";
    } else if (severity == "MO" || severity == "MI") {
      allergy["criticality"] = "low";
    } else if (severity == "U") {
      allergy["criticality"] = "unable-to-assess";
    }
    allergy["code"] = ReadCodeableConcept(r, 3);
    allergy["patient"] = json::object{{"reference", patient.reference}};
    if (auto onset = ctx.TimeField(r, 6, "the identification date")) {
      allergy["onsetDateTime"] = *onset;
    }
    json::array manifestations;
    for (size_t rep = 1; rep <= r.Repetitions(5); ++rep) {
      std::string text = r.Text(5, rep, 1);
      if (!text.empty()) manifestations.emplace_back(json::object{{"text", std::move(text)}});
    }
    if (!manifestations.empty()) {
      allergy["reaction"] = json::array{json::object{{"manifestation", std::move(manifestations)}}};
    }
    MappedResource resource;
    resource.type = "AllergyIntolerance";
    resource.identity_system = system;
    resource.identity_value = value;
    resource.resource = std::move(allergy);
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
    if (key.empty()) {
      ctx.Fail(ErrorCondition::kRequiredFieldMissing, dg1->Location(3),
               "the diagnosis code (DG1-3) is empty");
      return;
    }
    json::object condition{{"resourceType", "Condition"}};
    const std::string system = ctx.System("diagnosis", patient.authority);
    const std::string value = patient.value + "/" + key;
    condition["identifier"] = json::array{json::object{{"system", system}, {"value", value}}};
    condition["clinicalStatus"] =
        Concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active");
    const std::string type = r.Text(6, 1, 1);  // table 0052: A admitting, W working, F final
    condition["verificationStatus"] =
        type == "F" ? Concept("http://terminology.hl7.org/CodeSystem/condition-ver-status",
                              "confirmed", "Confirmed")
                    : Concept("http://terminology.hl7.org/CodeSystem/condition-ver-status",
                              "provisional", "Provisional");
    condition["category"] =
        json::array{Concept("http://terminology.hl7.org/CodeSystem/condition-category",
                            "encounter-diagnosis", "Encounter Diagnosis")};
    condition["code"] = std::move(code);
    condition["subject"] = json::object{{"reference", patient.reference}};
    if (!encounter.empty()) condition["encounter"] = json::object{{"reference", encounter}};
    if (auto onset = ctx.TimeField(r, 5, "the diagnosis time")) {
      condition["onsetDateTime"] = *onset;
    }
    json::object recorder = ReadClinicianReference(r, 16, 1, ctx.StaffSystem());
    PutIfAny(condition, "recorder", std::move(recorder));
    MappedResource resource;
    resource.type = "Condition";
    resource.identity_system = system;
    resource.identity_value = value;
    resource.resource = std::move(condition);
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
  auto patient = ctx.MapPatient(*pid, WriteMode::kUpsert);
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
