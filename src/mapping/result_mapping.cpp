// ORU^R01: one DiagnosticReport per OBR and one Observation per OBX under it.
#include <cctype>
#include <set>
#include <string>
#include <string_view>

#include "mapping/mapping_context.h"

namespace carerecord::mapping::internal {

namespace json = boost::json;
using hl7v2::ErrorCondition;

namespace {

std::string_view ReportStatus(std::string_view code) {  // HL7 table 0123
  if (code == "O" || code == "I" || code == "S") return "registered";
  if (code == "P") return "preliminary";
  if (code == "A" || code == "R") return "partial";
  if (code == "F") return "final";
  if (code == "C") return "corrected";
  if (code == "X") return "cancelled";
  return "unknown";
}

std::string_view ObservationStatus(std::string_view code) {  // HL7 table 0085
  if (code == "F") return "final";
  if (code == "C") return "corrected";
  if (code == "A") return "amended";
  if (code == "P" || code == "R" || code == "S") return "preliminary";
  if (code == "I") return "registered";
  if (code == "X") return "cancelled";
  if (code == "D" || code == "W") return "entered-in-error";
  return "unknown";
}

// Why an OBX states no value (OBX-5 empty or ""), from its status (table 0085), as R4's
// data-absent-reason: X "results cannot be obtained" (status cancelled) is not-performed, N "not
// asked" is not-asked, a result still to come (I, R, P, S) temp-unknown, any other unknown.
json::object DataAbsentReason(std::string_view status) {
  std::string_view code = "unknown", display = "Unknown";
  if (status == "X") {
    code = "not-performed", display = "Not Performed";
  } else if (status == "N") {
    code = "not-asked", display = "Not Asked";
  } else if (status == "I" || status == "R" || status == "P" || status == "S") {
    code = "temp-unknown", display = "Temporarily Unknown";
  }
  return Concept("http://terminology.hl7.org/CodeSystem/data-absent-reason", code, display);
}

bool HasValue(const json::object& observation) {
  for (const auto& [key, member] : observation) {
    if (std::string_view(key).starts_with("value")) return true;
  }
  return false;
}

// OBX-8 (table 0078) as R4's ObservationInterpretation, whose codes are v2's where both have one.
json::object Interpretation(std::string_view flag) {
  static constexpr std::string_view kV3[] = {"L", "H", "LL", "HH", "N", "A",  "AA", "U", "D",
                                             "B", "W", "S",  "R",  "I", "MS", "VS", "<", ">"};
  for (std::string_view code : kV3) {
    if (flag == code) {
      return Concept("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", flag);
    }
  }
  return Concept("http://terminology.hl7.org/CodeSystem/v2-0078", flag);
}

json::object Quantity(json::value number, const std::string& unit, const std::string& unit_system) {
  json::object quantity{{"value", std::move(number)}};
  if (!unit.empty()) {
    quantity["unit"] = unit;
    if (auto ucum = UcumCode(unit, unit_system)) {
      quantity["system"] = "http://unitsofmeasure.org";
      quantity["code"] = *ucum;
    }
  }
  return quantity;
}

// OBX-7 "3.5-5.0", "3.5 to 5.0", "<5", ">60" or text.
json::object ReferenceRange(const std::string& text, const std::string& unit,
                            const std::string& unit_system) {
  auto bound = [&](std::string_view s) -> std::optional<json::object> {
    auto number = DecimalValue(s);
    if (!number) return std::nullopt;
    return Quantity(std::move(*number), unit, unit_system);
  };
  json::object range;
  for (std::string_view separator : {" to ", "-", "_"}) {
    const size_t at = text.find(separator, text[0] == '-' ? 1 : 0);
    if (at == std::string::npos) continue;
    auto low = bound(text.substr(0, at));
    auto high = bound(text.substr(at + separator.size()));
    if (low && high) {
      range["low"] = std::move(*low);
      range["high"] = std::move(*high);
      return range;
    }
  }
  if (text[0] == '<' || text[0] == '>') {
    const size_t skip = text.size() > 1 && text[1] == '=' ? 2 : 1;
    if (auto limit = bound(text.substr(skip))) {
      range[text[0] == '<' ? "high" : "low"] = std::move(*limit);
      return range;
    }
  }
  range["text"] = text;
  return range;
}

struct ReportInProgress {
  std::string system;  // the report's identity; its Observations are scoped under it
  std::string value;
  json::object report;
  json::array results;
  json::array presented_forms;
  size_t observation_count = 0;
  std::set<std::string> identities;  // of its Observations
  std::optional<std::string> effective;
  std::optional<std::string> issued;
};

// Sets Observation.value[x] from OBX-2/OBX-5; false (with the error set) when the value is not
// of its stated type. ED goes to the report's presentedForm (R4 Observations have no
// attachment value).
bool SetValue(MappingContext& ctx, const FieldReader& r, json::object& observation,
              ReportInProgress& report) {
  const std::string type = r.Text(2);
  const size_t reps = r.Repetitions(5);
  if (reps == 0 || r.State(5) != FieldState::kValue) return true;  // none: dataAbsentReason
  const std::string unit = r.Text(6, 1, 1), unit_system = r.Text(6, 1, 3);
  auto bad = [&](std::string why) {
    ctx.Fail(ErrorCondition::kDataTypeError, r.segment().Location(5, 1), std::move(why));
    return false;
  };
  if (type == "NM") {
    const std::string text = r.Text(5, 1, 1);
    if (text.empty()) return true;
    std::string_view digits = text;
    std::string comparator;
    for (std::string_view c : {"<=", ">=", "<", ">"}) {
      if (digits.substr(0, c.size()) == c) {
        comparator = c;
        digits.remove_prefix(c.size());
        break;
      }
    }
    auto number = DecimalValue(digits);
    if (!number) return bad("'" + text + "' is not a number (OBX-2 says NM)");
    json::object quantity = Quantity(std::move(*number), unit, unit_system);
    if (!comparator.empty()) quantity["comparator"] = comparator;
    observation["valueQuantity"] = std::move(quantity);
    if (reps > 1) {  // a numeric OBX with several values keeps the rest as a note
      std::string rest;
      for (size_t rep = 2; rep <= reps; ++rep) rest += (rest.empty() ? "" : ", ") + r.Text(5, rep);
      observation["note"] = json::array{json::object{{"text", "further values: " + rest}}};
    }
    return true;
  }
  if (type == "ST" || type == "TX" || type == "FT" || type == "RP" || type == "HD" ||
      type == "ID" || type == "IS") {
    std::string text;
    for (size_t rep = 1; rep <= reps; ++rep) {
      // FT's formatting is already plain text; TX repetitions are lines.
      std::string line = r.Text(5, rep, 1);
      if (!text.empty()) text += '\n';
      text += line;
    }
    if (!text.empty()) observation["valueString"] = std::move(text);
    return true;
  }
  if (type == "CE" || type == "CWE" || type == "CNE" || type == "CF") {
    json::object concept_ = ReadCodeableConcept(r, 5, 1);
    PutIfAny(observation, "valueCodeableConcept", std::move(concept_));
    return true;
  }
  if (type == "SN") {  // comparator ^ number ^ separator/suffix ^ number
    const std::string comparator = r.Text(5, 1, 1), first = r.Text(5, 1, 2),
                      separator = r.Text(5, 1, 3), second = r.Text(5, 1, 4);
    // No first number (empty or ""): no value, which dataAbsentReason then says (hostile round 9
    // N4: `^""` failed the whole message).
    if (first.empty() && second.empty()) return true;
    // A range with one number missing (empty or "") keeps the number it has, as a Range may have
    // only a low or a high (round 10 R3); a ratio needs both (R4's rat-1), so one missing either
    // is no value, and the numbers as sent are kept as a note (round 11).
    if (!separator.empty() && (first.empty() || second.empty())) {
      if (separator == ":" || separator == "/") {
        observation["note"] =
            json::array{json::object{{"text", "structured numeric as sent: " + comparator + "^" +
                                                  first + "^" + separator + "^" + second}}};
        return true;
      }
      const std::string& given = first.empty() ? second : first;
      auto number = DecimalValue(given);
      if (!number) {
        return bad("structured numeric '" + given + "' (OBX-5." + (first.empty() ? "4" : "2") +
                   ") is not a number");
      }
      if (separator == "-") {
        observation["valueRange"] = json::object{
            {first.empty() ? "high" : "low", Quantity(std::move(*number), unit, unit_system)}};
      } else {
        return bad("structured numeric separator '" + separator + "' is not one of - : /");
      }
      return true;
    }
    auto a = DecimalValue(first);
    if (!a) return bad("structured numeric '" + first + "' (OBX-5.2) is not a number");
    if (separator.empty()) {
      json::object quantity = Quantity(std::move(*a), unit, unit_system);
      if (comparator == "<" || comparator == ">" || comparator == "<=" || comparator == ">=") {
        quantity["comparator"] = comparator;
      } else if (!comparator.empty() && comparator != "=") {
        return bad("structured numeric comparator '" + comparator + "' is not one of < > <= >=");
      }
      observation["valueQuantity"] = std::move(quantity);
      return true;
    }
    auto b = DecimalValue(second);
    if (!b) return bad("structured numeric '" + second + "' (OBX-5.4) is not a number");
    if (separator == "-") {
      observation["valueRange"] =
          json::object{{"low", Quantity(std::move(*a), unit, unit_system)},
                       {"high", Quantity(std::move(*b), unit, unit_system)}};
    } else if (separator == ":" || separator == "/") {
      observation["valueRatio"] = json::object{{"numerator", json::object{{"value", *a}}},
                                               {"denominator", json::object{{"value", *b}}}};
    } else {
      return bad("structured numeric separator '" + separator + "' is not one of - : /");
    }
    return true;
  }
  if (type == "DT" || type == "TS" || type == "DTM") {
    const std::string text = r.Text(5, 1, 1);
    auto when = ctx.DateTime(type == "DT" ? text.substr(0, 8) : text);
    if (!when) return bad("'" + text + "' is not a " + type);
    observation["valueDateTime"] = *when;
    return true;
  }
  if (type == "ED") {  // ^type^subtype^encoding^data
    const std::string encoding = r.Text(5, 1, 4), data = r.Text(5, 1, 5);
    if (data.empty()) {
      ctx.Warn(r.segment().Location(5).ToString() + ": an ED value with no data is left out");
      return true;
    }
    if (encoding != "Base64") {
      return bad("ED encoding '" + encoding + "' is not supported (Base64 is)");
    }
    std::string media = r.Text(5, 1, 2), subtype = r.Text(5, 1, 3);
    if (media.empty() || media == "AP" || media == "Application") media = "application";
    if (subtype.empty()) subtype = "octet-stream";
    for (char& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (char& c : subtype) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    report.presented_forms.emplace_back(
        json::object{{"contentType", media + "/" + subtype}, {"data", data}});
    observation.clear();  // not an Observation
    return true;
  }
  ctx.Fail(ErrorCondition::kTableValueNotFound, r.segment().Location(2),
           "OBX value type '" + type + "' is not mapped (NM ST TX FT CE CWE SN DT TS ED are)");
  return false;
}

void FinishReport(MappingContext& ctx, ReportInProgress& report) {
  if (!report.results.empty()) report.report["result"] = std::move(report.results);
  if (!report.presented_forms.empty()) {
    report.report["presentedForm"] = std::move(report.presented_forms);
  }
  MappedResource resource;
  resource.type = "DiagnosticReport";
  resource.identity_system = report.system;
  resource.identity_value = report.value;
  resource.resource = std::move(report.report);
  ctx.Add(std::move(resource));
}

}  // namespace

void MapObservationResult(MappingContext& ctx) {
  auto pid = ctx.message().FindSegment("PID");
  if (!pid) {
    ctx.Fail(ErrorCondition::kSegmentSequenceError, ctx.message().segment(0).Location(),
             "ORU^R01 has no PID segment");
    return;
  }
  // The lab is not the authority for demographics: its PID only makes sure the patient exists.
  auto patient = ctx.MapPatient(*pid, WriteMode::kCreateIfAbsent);
  if (!patient) return;
  json::object visit = ctx.VisitReference();
  std::optional<ReportInProgress> report;
  std::optional<hl7v2::SegmentView> orc;
  json::object* last_observation = nullptr;
  size_t reports = 0;
  for (hl7v2::SegmentView segment : ctx.message()) {
    if (ctx.error()) return;
    const std::string_view id = segment.id();
    if (id == "ORC") {
      orc = segment;
    } else if (id == "OBR") {
      if (report) FinishReport(ctx, *report);
      last_observation = nullptr;
      report.emplace();
      ++reports;
      FieldReader r = ctx.Reader(segment);
      std::string number = r.Text(3, 1, 1), ns = r.Text(3, 1, 2), kind = "filler-order";
      if (number.empty() && orc) {
        FieldReader o = ctx.Reader(*orc);
        number = o.Text(3, 1, 1);
        ns = o.Text(3, 1, 2);
      }
      if (number.empty()) {
        number = r.Text(2, 1, 1);
        ns = r.Text(2, 1, 2);
        kind = "placer-order";
      }
      if (number.empty()) {
        ctx.Fail(ErrorCondition::kRequiredFieldMissing, segment.Location(3),
                 "the report has no filler order number (OBR-3) nor placer order number (OBR-2) "
                 "to be found by");
        return;
      }
      json::object code = ReadCodeableConcept(r, 4);
      if (code.empty()) {
        ctx.Fail(ErrorCondition::kRequiredFieldMissing, segment.Location(4),
                 "the universal service identifier (OBR-4) is empty");
        return;
      }
      report->system = ctx.System(kind, ns);
      report->value = number;
      json::object& dr = report->report;
      dr["resourceType"] = "DiagnosticReport";
      json::array identifiers{
          json::object{{"type", Concept("http://terminology.hl7.org/CodeSystem/v2-0203",
                                        kind == "filler-order" ? "FILL" : "PLAC")},
                       {"system", report->system},
                       {"value", number}}};
      if (const std::string placer = r.Text(2, 1, 1); kind == "filler-order" && !placer.empty()) {
        identifiers.emplace_back(
            json::object{{"type", Concept("http://terminology.hl7.org/CodeSystem/v2-0203", "PLAC")},
                         {"system", ctx.System("placer-order", r.Text(2, 1, 2))},
                         {"value", placer}});
      }
      dr["identifier"] = std::move(identifiers);
      dr["status"] = ReportStatus(r.Text(25));
      if (const std::string section = r.Text(24); !section.empty()) {
        dr["category"] =
            json::array{Concept("http://terminology.hl7.org/CodeSystem/v2-0074", section)};
      }
      dr["code"] = std::move(code);
      dr["subject"] = json::object{{"reference", patient->reference}};
      if (!visit.empty()) dr["encounter"] = visit;
      report->effective = ctx.TimeField(r, 7, "the observation time");
      report->issued = ctx.TimeField(r, 22, "the results report time", /*instant=*/true);
      if (report->effective) dr["effectiveDateTime"] = *report->effective;
      if (report->issued) dr["issued"] = *report->issued;
      json::array performers{ctx.OrganisationReference()};
      dr["performer"] = std::move(performers);
    } else if (id == "OBX") {
      if (!report) {
        ctx.Warn(segment.Location().ToString() + ": an OBX outside any OBR is left out");
        continue;
      }
      last_observation = nullptr;
      FieldReader r = ctx.Reader(segment);
      ++report->observation_count;
      json::object code = ReadCodeableConcept(r, 3);
      if (code.empty()) {
        ctx.Fail(ErrorCondition::kRequiredFieldMissing, segment.Location(3),
                 "the observation identifier (OBX-3) is empty");
        return;
      }
      std::string set_id = r.Text(1);
      if (set_id.empty()) set_id = std::to_string(report->observation_count);
      std::string value = report->value + "/" + set_id;
      if (const std::string sub = r.Text(4); !sub.empty()) value += "/" + sub;
      // Set ids restart in some senders' specimen groups: a repeat is told apart by its place
      // in the report, which a resend repeats.
      if (!report->identities.insert(value).second) {
        value += "#" + std::to_string(report->observation_count);
      }
      json::object observation{{"resourceType", "Observation"}};
      const std::string system = report->system;
      observation["identifier"] = json::array{json::object{{"system", system}, {"value", value}}};
      observation["status"] = ObservationStatus(r.Text(11));
      if (auto* category = report->report.if_contains("category")) {
        observation["category"] = *category;
      }
      observation["code"] = std::move(code);
      observation["subject"] = json::object{{"reference", patient->reference}};
      if (!visit.empty()) observation["encounter"] = visit;
      if (auto when = ctx.TimeField(r, 14, "the observation time")) {
        observation["effectiveDateTime"] = *when;
      } else if (report->effective) {
        observation["effectiveDateTime"] = *report->effective;
      }
      if (report->issued) observation["issued"] = *report->issued;
      json::array performers;
      for (size_t rep = 1; rep <= r.Repetitions(16); ++rep) {
        json::object who = ReadClinicianReference(r, 16, rep, ctx.StaffSystem());
        if (!who.empty()) performers.emplace_back(std::move(who));
      }
      if (const std::string lab = r.Text(23, 1, 1); !lab.empty()) {
        performers.emplace_back(json::object{{"type", "Organization"}, {"display", lab}});
      }
      if (!performers.empty()) observation["performer"] = std::move(performers);
      if (!SetValue(ctx, r, observation, *report)) return;
      if (observation.empty()) continue;  // an attachment, kept on the report
      if (!HasValue(observation)) observation["dataAbsentReason"] = DataAbsentReason(r.Text(11));
      const std::string unit = r.Text(6, 1, 1), unit_system = r.Text(6, 1, 3);
      if (const std::string range = r.Text(7); !range.empty()) {
        observation["referenceRange"] = json::array{ReferenceRange(range, unit, unit_system)};
      }
      json::array interpretations;
      for (size_t rep = 1; rep <= r.Repetitions(8); ++rep) {
        const std::string flag = r.Text(8, rep, 1);
        if (!flag.empty()) interpretations.emplace_back(Interpretation(flag));
      }
      if (!interpretations.empty()) observation["interpretation"] = std::move(interpretations);
      MappedResource resource;
      resource.type = "Observation";
      resource.identity_system = system;
      resource.identity_value = value;
      resource.resource = std::move(observation);
      const std::string reference = ctx.Add(std::move(resource));
      report->results.emplace_back(json::object{{"reference", reference}});
      // Valid until the next Add: only the NTEs that follow this OBX use it.
      last_observation = &ctx.out().resources.back().resource;
    } else if (id == "NTE" && last_observation) {
      FieldReader r = ctx.Reader(segment);
      std::string text;
      for (size_t rep = 1; rep <= r.Repetitions(3); ++rep) {
        if (!text.empty()) text += '\n';
        text += r.Text(3, rep);
      }
      if (text.empty()) continue;
      json::value& notes = (*last_observation)["note"];
      if (!notes.is_array()) notes.emplace_array();
      notes.as_array().emplace_back(json::object{{"text", std::move(text)}});
    }
  }
  if (ctx.error()) return;
  if (!report) {
    ctx.Fail(ErrorCondition::kSegmentSequenceError, pid->Location(),
             "ORU^R01 has no OBR segment: there is no result to map");
    return;
  }
  FinishReport(ctx, *report);
}

}  // namespace carerecord::mapping::internal
