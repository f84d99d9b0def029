#include "mapping/hl7v2_mapping.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <utility>

#include "fhir/fhir_date.h"
#include "mapping/mapping_context.h"

namespace carerecord::mapping {

namespace json = boost::json;
using hl7v2::ErrorCondition;

std::string IdentitySystem(std::string_view ods, std::string_view kind,
                           std::string_view authority) {
  std::string system = std::string(kIdentitySystemPrefix) + UrnPart(ods) + ":" + std::string(kind);
  if (!authority.empty()) system += ":" + UrnPart(authority);
  return system;
}

namespace internal {

namespace {

// The calendar date (YYYY-MM-DD) at `time_ms` in the zone furthest ahead of UTC (+14:00): no
// place on Earth has reached a later date.
std::string LatestDateAt(int64_t time_ms) {
  const std::time_t seconds = static_cast<std::time_t>(time_ms / 1000 + 14 * 3600);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return text;
}

}  // namespace

json::object Coding(std::string_view system, std::string_view code, std::string_view display) {
  json::object coding{{"system", system}, {"code", code}};
  if (!display.empty()) coding["display"] = display;
  return coding;
}

json::object Concept(std::string_view system, std::string_view code, std::string_view display) {
  return json::object{{"coding", json::array{Coding(system, code, display)}}};
}

namespace {

bool MapsToNothing(const json::value& value) {
  return value.is_null() || (value.is_string() && value.as_string().empty()) ||
         (value.is_object() && value.as_object().empty()) ||
         (value.is_array() && value.as_array().empty());
}

}  // namespace

void PutStated(json::object& patch, std::string_view key, FieldState state, json::value value) {
  if (state == FieldState::kNull) {
    patch[key] = nullptr;
  } else if (state == FieldState::kValue && !MapsToNothing(value)) {
    patch[key] = std::move(value);
  }
}

void PutPart(MappedResource& resource, std::string_view member, std::string_view key,
             std::vector<std::string> values, FieldState state, json::array items, bool prefix) {
  if (state == FieldState::kValue && items.empty()) state = FieldState::kAbsent;
  resource.parts.push_back(
      ArrayPart{std::string(member), std::string(key), std::move(values), state, prefix});
  if (state != FieldState::kValue) return;
  json::value& into = resource.resource[member];
  if (!into.is_array()) into.emplace_array();
  for (auto& item : items) into.as_array().push_back(std::move(item));
}

json::array ReadTelecoms(const FieldReader& r, size_t field, bool business) {
  json::array telecoms;
  for (size_t rep = 1; rep <= r.Repetitions(field); ++rep) {
    json::object contact = ReadContactPoint(r, field, rep, business ? "work" : "home");
    if (contact.empty()) continue;
    json::value& use = contact["use"];
    if (business) {
      use = "work";
    } else if (use == "work") {
      use = "home";
    }
    telecoms.emplace_back(std::move(contact));
  }
  return telecoms;
}

MappingContext::MappingContext(const hl7v2::Message& message, const FeedContext& feed)
    : message_(message), feed_(feed), zone_(ZoneOf(message.header().date_time)) {}

std::string MappingContext::System(std::string_view kind, std::string_view authority) const {
  return IdentitySystem(feed_.organisation_ods, kind, authority);
}

std::optional<std::string> MappingContext::DateTime(std::string_view ts) const {
  return ToFhirDateTime(ts, zone_);
}

std::optional<std::string> MappingContext::Instant(std::string_view ts) const {
  return ToFhirInstant(ts, zone_);
}

std::optional<std::string> MappingContext::TimeField(const FieldReader& r, size_t field,
                                                     std::string_view what, bool instant) {
  const std::string text = r.Text(field, 1, 1);
  if (text.empty()) return std::nullopt;
  const std::string name = std::string(r.segment().id()) + "-" + std::to_string(field);
  auto when = DateTime(text);
  if (!when) {
    r.Fail(ErrorCondition::kDataTypeError, field,
           std::string(what) + " (" + name + ") '" + text +
               "' is not a timestamp (YYYY[MM[DD[HH[MM[SS]]]]][+/-ZZZZ])",
           1, 1);
    return std::nullopt;
  }
  if (!instant) return when;
  auto exact = Instant(text);
  if (!exact) {
    Warn(r.segment().Location(field, 1, 1).ToString() + ": " + std::string(what) + " '" + text +
         "' is not precise to the second (an instant needs it): left out");
  }
  return exact;
}

std::string MappingContext::Add(MappedResource resource) {
  char uuid[40];
  std::snprintf(uuid, sizeof uuid, "00000000-0000-4000-8000-%012zu", out_.resources.size() + 1);
  resource.local_uuid = uuid;
  std::string reference = "urn:uuid:" + resource.local_uuid;
  out_.resources.push_back(std::move(resource));
  return reference;
}

json::object MappingContext::OrganisationReference() const {
  return json::object{
      {"type", "Organization"},
      {"identifier", json::object{{"system", kOdsSystem}, {"value", feed_.organisation_ods}}}};
}

void MappingContext::Fail(ErrorCondition condition, hl7v2::ErrorLocation where,
                          std::string reason) {
  if (!error_) error_ = hl7v2::MakeHl7Error(condition, std::move(where), std::move(reason));
}

json::object MappingContext::VisitReference() {
  auto pv1 = message_.FindSegment("PV1");
  if (!pv1) return {};
  FieldReader r = Reader(*pv1);
  const std::string visit = r.Text(19, 1, 1);
  if (visit.empty()) return {};
  return json::object{{"type", "Encounter"},
                      {"identifier", json::object{{"system", System("visit", r.Text(19, 1, 4, 1))},
                                                  {"value", visit}}}};
}

namespace {

// HL7 table 0203 identifier types that identify the patient within the sender, best first.
constexpr std::string_view kIdentityTypes[] = {"MR", "PI", "PT", "PN", "AN"};

std::string AuthorityOf(const FieldReader& r, size_t field, size_t rep) {
  std::string authority = r.Text(field, rep, 4, 1);
  if (authority.empty()) authority = r.Text(field, rep, 4, 2);
  return authority;
}

// UK Core's NHS number verification status (PID-32 in HL7 UK feeds holds table 0445's NHS codes
// 01-08); a number the sender does not qualify is "02: present but not traced", since the record
// cannot claim a trace it was not told of.
json::object NhsNumberIdentifier(std::string number, std::string status) {
  static const std::pair<std::string_view, std::string_view> kStatuses[] = {
      {"01", "Number present and verified"},
      {"02", "Number present but not traced"},
      {"03", "Trace required"},
      {"04", "Trace attempted - No match or multiple match found"},
      {"05", "Trace needs to be resolved - (NHS Number or patient detail conflict)"},
      {"06", "Trace in progress"},
      {"07", "Number not present and trace not required"},
      {"08", "Trace postponed (baby under six weeks old)"},
  };
  std::string_view display;
  for (const auto& [code, text] : kStatuses) {
    if (status == code) display = text;
  }
  if (display.empty()) {
    status = "02";
    display = kStatuses[1].second;
  }
  json::object extension{
      {"url",
       "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"},
      {"valueCodeableConcept",
       Concept("https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland",
               status, display)}};
  return json::object{{"extension", json::array{std::move(extension)}},
                      {"system", kNhsNumberSystem},
                      {"value", std::move(number)}};
}

}  // namespace

std::optional<PatientMapping> MappingContext::MapPatient(hl7v2::SegmentView pid, WriteMode mode) {
  FieldReader r = Reader(pid);
  std::optional<size_t> identity_rep;
  size_t identity_rank = std::size(kIdentityTypes) + 1;
  std::string nhs_number;
  const size_t reps = r.Repetitions(3);
  for (size_t rep = 1; rep <= reps; ++rep) {
    const std::string value = r.Text(3, rep, 1);
    if (value.empty()) continue;
    const std::string type = r.Text(3, rep, 5);
    if (type == "NH" || type == "NHS") {
      if (nhs_number.empty()) nhs_number = value;
      continue;
    }
    size_t rank = std::size(kIdentityTypes);
    for (size_t i = 0; i < std::size(kIdentityTypes); ++i) {
      if (type == kIdentityTypes[i]) rank = i;
    }
    if (type == "SS" || type == "NI" || type == "DL" || type == "PPN") rank = SIZE_MAX;
    if (rank < identity_rank) {
      identity_rank = rank;
      identity_rep = rep;
    }
  }
  // Before v2.3.1 PID-2 held the national number; English feeds put the NHS number there.
  const std::string external = r.Text(2, 1, 1);
  if (nhs_number.empty() && external.size() == 10 &&
      external.find_first_not_of("0123456789") == std::string::npos) {
    nhs_number = external;
  }
  if (!identity_rep) {
    Fail(ErrorCondition::kRequiredFieldMissing, pid.Location(3),
         "no patient identifier the sender assigns (PID-3 of type MR, PI, PT, PN or AN)");
    return std::nullopt;
  }
  PatientMapping mapped;
  mapped.value = r.Text(3, *identity_rep, 1);
  mapped.authority = AuthorityOf(r, 3, *identity_rep);
  mapped.system = System("mrn", mapped.authority);
  MappedResource resource;
  resource.type = "Patient";
  resource.identity_system = mapped.system;
  resource.identity_value = mapped.value;
  resource.mode = mode;
  json::object& patient = resource.resource;
  patient["resourceType"] = "Patient";
  // PID-3 states the sender's identifiers whole (it is required, so always stated); the NHS
  // number, from PID-3 or PID-2, is a part of its own: a message that does not carry it leaves
  // the stored one, and "" in PID-2 (or as an NH repetition's number) deletes it.
  json::array identifiers;
  FieldState nhs_state = nhs_number.empty() ? FieldState::kAbsent : FieldState::kValue;
  for (size_t rep = 1; rep <= reps; ++rep) {
    const std::string value = r.Text(3, rep, 1);
    const std::string type = r.Text(3, rep, 5);
    if (value.empty() && (type == "NH" || type == "NHS") && nhs_number.empty() &&
        IsNullText(r.segment().Get(3, rep, 1))) {
      nhs_state = FieldState::kNull;
    }
    if (value.empty() || type == "NH" || type == "NHS") continue;
    if (type == "SS") continue;  // a US social security number has no place in an English record
    json::object identifier;
    if (rep == *identity_rep) {
      identifier["use"] = "usual";
      identifier["system"] = mapped.system;
    } else {
      identifier["system"] =
          System("id-" + (type.empty() ? std::string("none") : type), AuthorityOf(r, 3, rep));
    }
    if (!type.empty()) {
      identifier["type"] = Concept("http://terminology.hl7.org/CodeSystem/v2-0203", type);
    }
    identifier["value"] = value;
    const std::string authority = AuthorityOf(r, 3, rep);
    if (!authority.empty()) identifier["assigner"] = json::object{{"display", authority}};
    identifiers.emplace_back(std::move(identifier));
  }
  if (nhs_number.empty() && nhs_state == FieldState::kAbsent) nhs_state = r.State(2);
  json::array nhs;
  if (!nhs_number.empty()) {
    if (IsValidNhsNumber(nhs_number)) {
      nhs.emplace_back(NhsNumberIdentifier(nhs_number, r.Text(32, 1, 1)));
    } else {
      nhs_state = FieldState::kAbsent;  // a wrong number states nothing: the stored one stays
      Warn("PID: '" + nhs_number +
           "' fails the NHS number check (modulus 11) and is not stored as an NHS number");
    }
  }
  // PID-3's part is the identifiers under this organisation's source systems (every one it
  // maps, and none a client may add: fhir/server_owned.h); an identifier a user gave the Patient
  // under a system of their own stays.
  PutPart(resource, "identifier", "/system", {IdentitySystem(feed_.organisation_ods, "", "")},
          FieldState::kValue, std::move(identifiers), /*prefix=*/true);
  PutPart(resource, "identifier", "/system", {kNhsNumberSystem}, nhs_state, std::move(nhs));
  patient["active"] = true;

  json::array names;
  for (size_t rep = 1; rep <= r.Repetitions(5); ++rep) {
    json::object name = ReadHumanName(r, 5, rep);
    if (!name.empty()) names.emplace_back(std::move(name));
  }
  PutStated(patient, "name", r.State(5), std::move(names));
  // PID-13 and PID-14 each state their own numbers (ReadTelecoms: told apart by use).
  PutPart(resource, "telecom", "/use", HomeUses(), r.State(13), ReadTelecoms(r, 13, false));
  PutPart(resource, "telecom", "/use", BusinessUses(), r.State(14), ReadTelecoms(r, 14, true));
  if (const std::string sex = r.Text(8); !sex.empty()) {
    patient["gender"] = sex == "M"                 ? "male"
                        : sex == "F"               ? "female"
                        : sex == "O" || sex == "A" ? "other"
                                                   : "unknown";
  } else {
    PutStated(patient, "gender", r.State(8), nullptr);
  }
  if (const std::string birth = r.Text(7); !birth.empty()) {
    auto date = ToFhirDateTime(birth.substr(0, std::min<size_t>(birth.size(), 8)), std::nullopt);
    if (!date) {
      Fail(ErrorCondition::kDataTypeError, pid.Location(7, 1, 1),
           "birth date '" + birth + "' is not a date (YYYYMMDD)");
      return std::nullopt;
    }
    // A birth after the message was sent (MSH-7's date, as the sender wrote it) or after the
    // latest date anywhere on Earth now (or when it was received, when that is later: a clock
    // ahead of ours) is a wrong date, not a patient.
    const std::string_view born(*date);
    std::string sent = message_.header().date_time.substr(0, 8);
    if (sent.size() == 8) sent = sent.substr(0, 4) + "-" + sent.substr(4, 2) + "-" + sent.substr(6);
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    const int64_t received_ms = std::max(feed_.received_ms, now_ms);
    const std::string latest = LatestDateAt(received_ms);
    auto after = [&born](std::string_view limit) {  // compared to the precision both state
      const size_t n = std::min(born.size(), limit.size());
      return n >= 4 && born.substr(0, n) > limit.substr(0, n);
    };
    if (after(sent) || after(latest)) {
      Fail(
          ErrorCondition::kDataTypeError, pid.Location(7, 1, 1),
          "birth date (PID-7) '" + birth + "' is in the future (" +
              (after(sent) ? "after the message's time, MSH-7 '" + message_.header().date_time + "'"
                           : "after " + latest + ", today's date anywhere when it was received") +
              ")");
      return std::nullopt;
    }
    patient["birthDate"] = *date;
  } else {
    PutStated(patient, "birthDate", r.State(7), nullptr);
  }
  // deceased[x], one choice element fed by two fields: PID-29 owns the date of death, PID-30 the
  // indicator, and a date states the death too. A date wins over the indicator (HL7's v2-to-FHIR
  // map reads PID-30 only when PID-29 is not valued); N states alive and deletes a stored date
  // (it contradicts it); "" in PID-29 deletes the date but not the death it implied (stored
  // deceasedDateTime: deceasedBoolean true, unless PID-30 states otherwise); "" in PID-30 deletes
  // the indicator, not a stored date. ARCHITECTURE.md has the whole table.
  std::optional<std::string> died;
  if (r.State(29) == FieldState::kValue) {
    died = TimeField(r, 29, "the date of death");
    if (error_) return std::nullopt;
  }
  const FieldState date_state = died                               ? FieldState::kValue
                                : r.State(29) == FieldState::kNull ? FieldState::kNull
                                                                   : FieldState::kAbsent;
  const std::string indicator = r.Text(30);
  const FieldState indicator_state = indicator == "Y" || indicator == "N" ? FieldState::kValue
                                     : r.State(30) == FieldState::kNull   ? FieldState::kNull
                                                                          : FieldState::kAbsent;
  if (date_state == FieldState::kValue) {
    patient["deceasedDateTime"] = *died;
    patient["deceasedBoolean"] = nullptr;
    if (indicator == "N") {
      Warn("PID: the date of death (PID-29) contradicts PID-30 'N'; the date is kept");
    }
  } else if (indicator_state == FieldState::kValue) {
    if (indicator == "N" || date_state == FieldState::kNull) {
      patient["deceasedDateTime"] = nullptr;
      patient["deceasedBoolean"] = indicator == "Y";
    } else {  // Y alone: a stored date already says so
      resource.fallbacks.push_back(Fallback{"deceasedBoolean", true, {"deceasedDateTime"}, {}});
    }
  } else if (date_state == FieldState::kNull) {
    patient["deceasedDateTime"] = nullptr;
    if (indicator_state == FieldState::kNull) {
      patient["deceasedBoolean"] = nullptr;
    } else {
      resource.fallbacks.push_back(
          Fallback{"deceasedBoolean", true, {"deceasedBoolean"}, {"deceasedDateTime"}});
    }
  } else if (indicator_state == FieldState::kNull) {
    patient["deceasedBoolean"] = nullptr;
  }
  json::array addresses;
  for (size_t rep = 1; rep <= r.Repetitions(11); ++rep) {
    json::object address = ReadAddress(r, 11, rep);
    if (!address.empty()) addresses.emplace_back(std::move(address));
  }
  PutStated(patient, "address", r.State(11), std::move(addresses));
  PutStated(patient, "maritalStatus", r.State(16), ReadMaritalStatus(r, 16));

  // PD1-3 the registered GP practice (XON: the ODS code in XON-10, or XON-3 before v2.5) and
  // PD1-4 the GP (XCN: the national GMP code in XCN-1), each a part of generalPractitioner.
  if (auto pd1 = message_.FindSegment("PD1")) {
    FieldReader d = Reader(*pd1);
    std::string practice_code = d.Text(3, 1, 10);
    if (practice_code.empty()) practice_code = d.Text(3, 1, 3);
    const std::string practice_name = d.Text(3, 1, 1);
    json::array practices;
    if (!practice_code.empty() || !practice_name.empty()) {
      json::object practice{{"type", "Organization"}};
      if (!practice_code.empty()) {
        practice["identifier"] = json::object{{"system", kOdsSystem}, {"value", practice_code}};
      }
      PutIfAny(practice, "display", practice_name);
      practices.emplace_back(std::move(practice));
    }
    json::array gps;
    json::object gp = ReadClinicianReference(d, 4, 1, StaffSystem());
    if (!gp.empty()) {
      if (auto* identifier = gp.if_contains("identifier")) {
        identifier->as_object()["system"] = "https://fhir.hl7.org.uk/Id/gmp-number";
      }
      gps.emplace_back(std::move(gp));
    }
    PutPart(resource, "generalPractitioner", "/type", {"Organization"}, d.State(3),
            std::move(practices));
    PutPart(resource, "generalPractitioner", "/type", {"Practitioner"}, d.State(4), std::move(gps));
  }
  patient["managingOrganization"] = OrganisationReference();

  mapped.reference = Add(std::move(resource));
  return mapped;
}

namespace {

std::string MetaSource(const FeedContext& feed) {
  return fhir::kFeedSourcePrefix + UrnPart(feed.feed) + "#" + UrnPart(feed.message_id);
}

}  // namespace

}  // namespace internal

hl7v2::Result<MappedMessage> MapMessage(const hl7v2::Message& message, const FeedContext& feed) {
  using internal::MappingContext;
  const hl7v2::MessageHeader& header = message.header();
  auto msh = message.FindSegment("MSH");
  if (feed.organisation_ods.empty() || feed.feed.empty()) {
    return hl7v2::MakeHl7Error(ErrorCondition::kApplicationInternalError, msh->Location(),
                               "the feed has no name or organisation (ODS code) configured");
  }
  MappingContext ctx(message, feed);
  ctx.out().message_type = header.message_code + "^" + header.trigger_event;

  // The event time orders this source's messages (apply_mapped.h): EVN-2 for ADT (when the
  // event was recorded), else MSH-7 (when the sending system built the message).
  std::string time_text;
  hl7v2::ErrorLocation time_where = msh->Location(7, 1, 1);
  if (auto evn = message.FindSegment("EVN"); evn && header.message_code == "ADT") {
    auto recorded = evn->Text(2, 1, 1);
    // "" (HL7's null) states no time: MSH-7 orders the message then.
    if (recorded.ok() && !recorded.value().empty() && !IsNullText(evn->Get(2, 1, 1))) {
      time_text = recorded.value();
      time_where = evn->Location(2, 1, 1);
    }
  }
  if (time_text.empty()) time_text = header.date_time;
  auto event_time = ctx.DateTime(time_text);
  if (time_text.empty() || !event_time || time_text.size() < 8) {
    return hl7v2::MakeHl7Error(
        time_text.empty() ? ErrorCondition::kRequiredFieldMissing : ErrorCondition::kDataTypeError,
        time_where,
        "the message time '" + time_text +
            "' is needed to order this source's messages and is not a timestamp "
            "(YYYYMMDD[HHMM[SS]][+/-ZZZZ])");
  }
  ctx.out().event_time = *event_time;
  ctx.out().event_ms = fhir::ParseFhirDate(*event_time).value().low_ms;

  if (header.message_code == "ADT") {
    internal::MapAdt(ctx);
  } else if (header.message_code == "ORU" && header.trigger_event == "R01") {
    internal::MapObservationResult(ctx);
  } else if (header.message_code == "MDM") {
    internal::MapDocument(ctx);
  } else {
    return hl7v2::MakeHl7Error(ErrorCondition::kUnsupportedMessageType, msh->Location(9),
                               "message type " + header.message_code + "^" + header.trigger_event +
                                   " is not mapped (ADT, ORU^R01 and MDM are)");
  }
  if (ctx.error()) return *ctx.error();

  MappedMessage out = std::move(ctx.out());
  // One identity stated twice (a diagnosis listed in two DG1s): the later one stands. Nothing
  // refers to these (Observations, the only referenced kind, are kept apart in the ORU mapping).
  for (size_t i = 0; i < out.resources.size(); ++i) {
    const MappedResource& r = out.resources[i];
    for (size_t j = i + 1; j < out.resources.size(); ++j) {
      const MappedResource& later = out.resources[j];
      if (later.type == r.type && later.identity_system == r.identity_system &&
          later.identity_value == r.identity_value && later.fixed_id == r.fixed_id) {
        out.warnings.push_back(r.type + " " + r.identity_value +
                               " is stated twice in the message; the later one is kept");
        out.resources.erase(out.resources.begin() + static_cast<std::ptrdiff_t>(i));
        --i;
        break;
      }
    }
  }
  const std::string source = internal::MetaSource(feed);
  for (MappedResource& r : out.resources) {
    json::object meta;
    // A Patient made only because a lab or document named it states no demographics of its
    // own time: with no event time, any ADT of the source replaces it, however early its event.
    if (r.mode != WriteMode::kCreateIfAbsent) {
      meta["extension"] = json::array{
          json::object{{"url", kEventTimeExtension}, {"valueDateTime", out.event_time}}};
    }
    meta["source"] = source;
    meta["tag"] = json::array{internal::Coding(kOdsSystem, feed.organisation_ods)};
    r.resource["meta"] = std::move(meta);
  }
  return out;
}

}  // namespace carerecord::mapping
