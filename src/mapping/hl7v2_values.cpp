#include "mapping/hl7v2_values.h"

#include <array>
#include <cctype>
#include <cstdio>
#include <utility>

#include "fhir/fhir_date.h"
#include "fhir/json_number.h"
#include "fhir/json_parse.h"

namespace carerecord::mapping {

namespace json = boost::json;

bool IsNullText(std::string_view raw) {
  const size_t begin = raw.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return false;
  return raw.substr(begin, raw.find_last_not_of(" \t") - begin + 1) == "\"\"";
}

std::string FieldReader::Text(size_t field, size_t repetition, size_t component,
                              size_t subcomponent) const {
  if (error_->has_value()) return {};
  // "" is HL7's null (chapter 2): "delete the value" in an update, never a value to store. The
  // test is on the text as sent, before unescaping: \X2222\ is two quote characters, a value.
  if (IsNullText(segment_.Get(field, repetition, component, subcomponent))) return {};
  auto text = segment_.Text(field, repetition, component, subcomponent);
  if (!text.ok()) {
    *error_ = text.error();
    return {};
  }
  // Values are trimmed: FHIR strings and codes may not start or end with white space, and
  // senders pad fields ("Ann Arbor ").
  std::string& s = text.value();
  size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return {};
  size_t end = s.find_last_not_of(" \t");
  return s.substr(begin, end - begin + 1);
}

FieldState FieldReader::State(size_t field) const {
  const std::string_view raw = segment_.Get(field);
  if (raw.find_first_not_of(" \t") == std::string_view::npos) return FieldState::kAbsent;
  return IsNullText(raw) ? FieldState::kNull : FieldState::kValue;
}

void FieldReader::Fail(hl7v2::ErrorCondition condition, size_t field, std::string reason,
                       size_t rep, size_t comp) const {
  if (error_->has_value()) return;
  *error_ = hl7v2::MakeHl7Error(condition, segment_.Location(field, rep, comp), std::move(reason));
}

namespace {

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int Number(std::string_view s) {
  int n = 0;
  for (char c : s) n = n * 10 + (c - '0');
  return n;
}

int64_t Weekday(int64_t days) {  // 0 = Sunday; 1970-01-01 was a Thursday
  return ((days + 4) % 7 + 7) % 7;
}

unsigned LastSunday(int year, unsigned month) {
  const unsigned last_day = month == 3 || month == 10 ? 31 : 30;
  const int64_t days = fhir::DaysFromCivil(year, month, last_day);
  return last_day - static_cast<unsigned>(Weekday(days));
}

std::string FormatZone(int minutes) {
  char buf[16];
  const int a = minutes < 0 ? -minutes : minutes;
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", minutes < 0 ? '-' : '+', a / 60, a % 60);
  return buf;
}

struct ParsedTs {
  std::string digits;    // 4 to 14 digits
  std::string fraction;  // digits after '.', may be empty
  std::optional<int> zone;
};

std::optional<ParsedTs> SplitTs(std::string_view ts) {
  ParsedTs out;
  size_t i = 0;
  while (i < ts.size() && ts[i] >= '0' && ts[i] <= '9') ++i;
  out.digits = std::string(ts.substr(0, i));
  const size_t n = out.digits.size();
  if (n != 4 && n != 6 && n != 8 && n != 10 && n != 12 && n != 14) return std::nullopt;
  if (i < ts.size() && ts[i] == '.') {
    size_t j = i + 1;
    while (j < ts.size() && ts[j] >= '0' && ts[j] <= '9') ++j;
    if (j == i + 1 || n != 14) return std::nullopt;
    out.fraction = std::string(ts.substr(i + 1, j - i - 1));
    i = j;
  }
  if (i < ts.size()) {
    if ((ts[i] != '+' && ts[i] != '-') || ts.size() - i != 5 || !AllDigits(ts.substr(i + 1))) {
      return std::nullopt;
    }
    const int hh = Number(ts.substr(i + 1, 2)), mm = Number(ts.substr(i + 3, 2));
    if (hh > 14 || mm > 59) return std::nullopt;
    out.zone = (ts[i] == '-' ? -1 : 1) * (hh * 60 + mm);
  }
  return out;
}

}  // namespace

int LondonOffsetMinutes(int year, int month, int day, int hour) {
  if (month > 3 && month < 10) return 60;
  if (month < 3 || month > 10) return 0;
  const unsigned change = LastSunday(year, static_cast<unsigned>(month));
  if (month == 3) {  // summer time from 01:00 GMT on the last Sunday of March
    return day > static_cast<int>(change) || (day == static_cast<int>(change) && hour >= 1) ? 60
                                                                                            : 0;
  }
  // ... until 01:00 GMT (02:00 local) on the last Sunday of October
  return day < static_cast<int>(change) || (day == static_cast<int>(change) && hour < 2) ? 60 : 0;
}

std::optional<int> ZoneOf(std::string_view ts) {
  auto parsed = SplitTs(ts);
  if (!parsed) return std::nullopt;
  return parsed->zone;
}

std::optional<std::string> ToFhirDateTime(std::string_view ts,
                                          std::optional<int> default_zone_minutes) {
  auto parsed = SplitTs(ts);
  if (!parsed) return std::nullopt;
  const std::string& d = parsed->digits;
  std::string out = d.substr(0, 4);
  if (d.size() >= 6) out += "-" + d.substr(4, 2);
  if (d.size() >= 8) out += "-" + d.substr(6, 2);
  if (d.size() >= 10) {
    out += "T" + d.substr(8, 2) + ":" + (d.size() >= 12 ? d.substr(10, 2) : "00") + ":" +
           (d.size() >= 14 ? d.substr(12, 2) : "00");
    if (!parsed->fraction.empty()) out += "." + parsed->fraction;
    int zone = 0;
    if (parsed->zone) {
      zone = *parsed->zone;
    } else if (default_zone_minutes) {
      zone = *default_zone_minutes;
    } else {
      zone = LondonOffsetMinutes(Number(d.substr(0, 4)), Number(d.substr(4, 2)),
                                 Number(d.substr(6, 2)), Number(d.substr(8, 2)));
    }
    out += FormatZone(zone);
    if (Number(d.substr(8, 2)) > 23 || (d.size() >= 12 && Number(d.substr(10, 2)) > 59) ||
        (d.size() >= 14 && Number(d.substr(12, 2)) > 59)) {
      return std::nullopt;
    }
  }
  if (!fhir::ParseFhirDate(out).ok()) return std::nullopt;  // 2021-02-30, month 13
  return out;
}

std::optional<std::string> ToFhirInstant(std::string_view ts,
                                         std::optional<int> default_zone_minutes) {
  auto parsed = SplitTs(ts);
  if (!parsed || parsed->digits.size() < 14) return std::nullopt;
  return ToFhirDateTime(ts, default_zone_minutes);
}

bool IsValidNhsNumber(std::string_view text) {
  if (text.size() != 10 || !AllDigits(text)) return false;
  int sum = 0;
  for (int i = 0; i < 9; ++i) sum += (text[i] - '0') * (10 - i);
  int check = 11 - sum % 11;
  if (check == 11) check = 0;
  if (check == 10) return false;  // no number has this check digit
  return check == text[9] - '0';
}

namespace {

void PutText(json::object& o, std::string_view key, std::string value) {
  if (!value.empty()) o[key] = std::move(value);
}

}  // namespace

json::object ReadHumanName(const FieldReader& r, size_t field, size_t rep) {
  json::object name;
  PutText(name, "family", r.Text(field, rep, 1, 1));
  json::array given;
  for (size_t comp : {2, 3}) {
    std::string g = r.Text(field, rep, comp);
    if (!g.empty()) given.emplace_back(std::move(g));
  }
  if (!given.empty()) name["given"] = std::move(given);
  std::string prefix = r.Text(field, rep, 5);
  if (!prefix.empty()) name["prefix"] = json::array{json::value(prefix)};
  json::array suffix;
  for (size_t comp : {4, 6}) {
    std::string s = r.Text(field, rep, comp);
    if (!s.empty()) suffix.emplace_back(std::move(s));
  }
  if (!suffix.empty()) name["suffix"] = std::move(suffix);
  if (name.empty()) return name;
  const std::string type = r.Text(field, rep, 7);  // HL7 table 0200
  if (type == "L") {
    name["use"] = "official";
  } else if (type == "D") {
    name["use"] = "usual";
  } else if (type == "M") {
    name["use"] = "maiden";
  } else if (type == "N" || type == "A") {
    name["use"] = "nickname";
  } else if (type == "C" || type == "B" || type == "BAD") {
    name["use"] = "old";
  } else if (type == "S" || type == "K") {
    name["use"] = "anonymous";
  }
  return name;
}

json::object ReadAddress(const FieldReader& r, size_t field, size_t rep) {
  json::object address;
  json::array lines;
  for (size_t comp : {1, 2}) {
    std::string line = r.Text(field, rep, comp, 1);
    if (!line.empty()) lines.emplace_back(std::move(line));
  }
  if (!lines.empty()) address["line"] = std::move(lines);
  PutText(address, "city", r.Text(field, rep, 3));
  PutText(address, "district", r.Text(field, rep, 4));  // a county in England (UK Core)
  PutText(address, "postalCode", r.Text(field, rep, 5));
  PutText(address, "country", r.Text(field, rep, 6));
  if (address.empty()) return address;
  const std::string type = r.Text(field, rep, 7);  // HL7 table 0190
  if (type == "H" || type == "P") {
    address["use"] = "home";
  } else if (type == "B" || type == "O") {
    address["use"] = "work";
  } else if (type == "C") {
    address["use"] = "temp";
  } else if (type == "BA") {
    address["use"] = "old";
  } else if (type == "M") {
    address["type"] = "postal";
  }
  return address;
}

json::object ReadContactPoint(const FieldReader& r, size_t field, size_t rep,
                              std::string_view default_use) {
  json::object contact;
  const std::string use = r.Text(field, rep, 2);   // table 0201
  const std::string kind = r.Text(field, rep, 3);  // table 0202
  std::string value;
  if (kind == "Internet" || kind == "X.400" || use == "NET") {
    value = r.Text(field, rep, 4);
    contact["system"] = "email";
  }
  if (value.empty()) {
    const std::string area = r.Text(field, rep, 6), local = r.Text(field, rep, 7);
    value = !local.empty() ? (area.empty() ? local : area + " " + local) : r.Text(field, rep, 1);
    if (value.empty()) return {};
    contact["system"] = kind == "FX" ? "fax" : kind == "BP" || use == "BPN" ? "pager" : "phone";
    const std::string extension = r.Text(field, rep, 8);
    if (!extension.empty()) value += " ext. " + extension;
  }
  contact["value"] = value;
  if (kind == "CP" || use == "PRS") {
    contact["use"] = "mobile";
  } else if (use == "WPN") {
    contact["use"] = "work";
  } else if (use == "PRN" || use == "VHN") {
    contact["use"] = "home";
  } else if (!default_use.empty()) {
    contact["use"] = std::string(default_use);
  }
  return contact;
}

std::string CodingSystemUri(std::string_view name) {
  static const std::array<std::pair<std::string_view, std::string_view>, 22> kSystems{{
      {"LN", "http://loinc.org"},
      {"LOINC", "http://loinc.org"},
      {"SCT", "http://snomed.info/sct"},
      {"SNM", "http://snomed.info/sct"},
      {"SNOMED", "http://snomed.info/sct"},
      {"SNOMEDCT", "http://snomed.info/sct"},
      {"SNOMED-CT", "http://snomed.info/sct"},
      {"I10", "http://hl7.org/fhir/sid/icd-10"},
      {"ICD10", "http://hl7.org/fhir/sid/icd-10"},
      {"I10C", "http://hl7.org/fhir/sid/icd-10-cm"},
      {"I9", "http://hl7.org/fhir/sid/icd-9-cm"},
      {"I9C", "http://hl7.org/fhir/sid/icd-9-cm"},
      {"I9CDX", "http://hl7.org/fhir/sid/icd-9-cm"},
      {"I9M", "http://hl7.org/fhir/sid/icd-9-cm"},
      {"UCUM", "http://unitsofmeasure.org"},
      {"DCM", "http://dicom.nema.org/resources/ontology/DCM"},
      {"C4", "http://www.ama-assn.org/go/cpt"},
      {"CPT", "http://www.ama-assn.org/go/cpt"},
      {"RXN", "http://www.nlm.nih.gov/research/umls/rxnorm"},
      {"NDC", "http://hl7.org/fhir/sid/ndc"},
      {"CVX", "http://hl7.org/fhir/sid/cvx"},
      {"DMD", "https://dmd.nhs.uk"},
  }};
  for (const auto& [v2, uri] : kSystems) {
    if (name == v2) return std::string(uri);
  }
  // HL7 tables: "HL70078" -> v2-0078.
  if (name.size() == 7 && name.substr(0, 3) == "HL7" && AllDigits(name.substr(3))) {
    return "http://terminology.hl7.org/CodeSystem/v2-" + std::string(name.substr(3));
  }
  return "urn:carerecord:v2-coding-system:" + UrnPart(name);
}

namespace {

// FHIR codes: no leading or trailing white space, single spaces inside.
std::string CleanCode(std::string code) {
  std::string out;
  bool space = false;
  for (char c : code) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace

json::object ReadCodeableConcept(const FieldReader& r, size_t field, size_t rep) {
  json::object concept_;
  json::array codings;
  for (size_t base : {1, 4}) {
    std::string code = CleanCode(r.Text(field, rep, base));
    std::string display = r.Text(field, rep, base + 1);
    std::string system = r.Text(field, rep, base + 2);
    if (code.empty()) continue;
    json::object coding;
    if (!system.empty()) coding["system"] = CodingSystemUri(system);
    coding["code"] = std::move(code);
    PutText(coding, "display", std::move(display));
    codings.emplace_back(std::move(coding));
  }
  std::string text = r.Text(field, rep, 9);  // CWE-9 original text
  if (text.empty()) text = r.Text(field, rep, 2);
  if (text.empty() && codings.empty()) text = r.Text(field, rep, 1);
  if (!codings.empty()) concept_["coding"] = std::move(codings);
  PutText(concept_, "text", std::move(text));
  return concept_;
}

json::object ReadMaritalStatus(const FieldReader& r, size_t field) {
  constexpr char kTable0002[] = "http://terminology.hl7.org/CodeSystem/v2-0002";
  json::object status = ReadCodeableConcept(r, field);
  auto* codings = status.if_contains("coding");
  if (!codings) return status;
  // A code with no CWE-3 is read as table 0002's when it is one of its codes (HL7's, and HL7
  // UK's 8 and 9); another ("X",
  // "m") is kept as sent, without a system, as ReadCodeableConcept keeps any coding CWE-3 does
  // not name (hostile round 8 L2: it was filed under v2-0002).
  static constexpr std::string_view kCodes = "ABCDEGIMNOPRSTUW89";
  for (auto& coding : codings->as_array()) {
    auto& c = coding.as_object();
    const std::string_view code(c.at("code").as_string());
    if (!c.contains("system") && code.size() == 1 && kCodes.find(code[0]) != kCodes.npos) {
      c["system"] = kTable0002;
    }
  }
  const json::object& first = codings->as_array()[0].as_object();
  if (!first.contains("system") || first.at("system") != kTable0002) return status;
  // HL7's v2-to-FHIR ConceptMap (table 0002 to v3 MaritalStatus), for the codes whose meaning
  // is the same in the HL7 UK table: P and N mean separated and not disclosed there (domestic
  // partner and annulled in HL7's), O and T have no v3 code; those keep the sender's coding only.
  static const std::array<std::array<std::string_view, 4>, 12> kV3{{
      {"A", "L", "Legally Separated", ""},
      {"B", "U", "unmarried", ""},
      {"C", "C", "Common Law", ""},
      {"D", "D", "Divorced", ""},
      {"E", "L", "Legally Separated", ""},
      {"G", "T", "Domestic partner", ""},
      {"I", "I", "Interlocutory", ""},
      {"M", "M", "Married", ""},
      {"R", "T", "Domestic partner", ""},
      {"S", "S", "Never Married", ""},
      {"W", "W", "Widowed", ""},
      {"U", "UNK", "unknown", "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"},
  }};
  const std::string_view code(first.at("code").as_string());
  for (const auto& [v2, v3, display, system] : kV3) {
    if (code != v2) continue;
    json::object v3_coding{
        {"system",
         system.empty() ? "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus" : system},
        {"code", v3},
        {"display", display}};
    codings->as_array().insert(codings->as_array().begin(), std::move(v3_coding));
    break;
  }
  return status;
}

json::object ReadClinicianReference(const FieldReader& r, size_t field, size_t rep,
                                    std::string_view staff_system) {
  json::object reference;
  const std::string id = r.Text(field, rep, 1);
  std::string display;
  for (size_t comp : {6, 3, 2}) {  // prefix, given, family (XCN-2.1)
    std::string part = comp == 2 ? r.Text(field, rep, 2, 1) : r.Text(field, rep, comp);
    if (part.empty()) continue;
    if (!display.empty()) display += ' ';
    display += part;
  }
  if (!id.empty()) {
    json::object identifier;
    const std::string authority = r.Text(field, rep, 9);
    identifier["system"] =
        std::string(staff_system) + (authority.empty() ? "" : ":") + UrnPart(authority);
    identifier["value"] = id;
    reference["identifier"] = std::move(identifier);
  }
  if (reference.empty() && display.empty()) return reference;
  reference["type"] = "Practitioner";
  PutText(reference, "display", std::move(display));
  return reference;
}

std::optional<std::string> UcumCode(std::string_view unit, std::string_view coding_system) {
  if (unit.empty()) return std::nullopt;
  if (coding_system == "UCUM") return std::string(unit);
  static const std::array<std::pair<std::string_view, std::string_view>, 40> kUnits{{
      {"mmol/L", "mmol/L"},
      {"mmol/l", "mmol/L"},
      {"umol/L", "umol/L"},
      {"umol/l", "umol/L"},
      {"nmol/L", "nmol/L"},
      {"nmol/l", "nmol/L"},
      {"pmol/L", "pmol/L"},
      {"pmol/l", "pmol/L"},
      {"mg/dL", "mg/dL"},
      {"mg/dl", "mg/dL"},
      {"mg/L", "mg/L"},
      {"mg/l", "mg/L"},
      {"g/L", "g/L"},
      {"g/l", "g/L"},
      {"g/dL", "g/dL"},
      {"g/dl", "g/dL"},
      {"ng/mL", "ng/mL"},
      {"ng/ml", "ng/mL"},
      {"ug/L", "ug/L"},
      {"%", "%"},
      {"fL", "fL"},
      {"fl", "fL"},
      {"pg", "pg"},
      {"U/L", "U/L"},
      {"IU/L", "[IU]/L"},
      {"iu/L", "[IU]/L"},
      {"mU/L", "mU/L"},
      {"x10^9/L", "10*9/L"},
      {"10^9/L", "10*9/L"},
      {"x10E9/L", "10*9/L"},
      {"x10^12/L", "10*12/L"},
      {"10^12/L", "10*12/L"},
      {"x10E12/L", "10*12/L"},
      {"beats/min", "/min"},
      {"bpm", "/min"},
      {"mmHg", "mm[Hg]"},
      {"kg/m2", "kg/m2"},
      {"mL/min/1.73m2", "mL/min/{1.73_m2}"},
      {"Cel", "Cel"},
      {"degC", "Cel"},
  }};
  for (const auto& [v2, ucum] : kUnits) {
    if (unit == v2) return std::string(ucum);
  }
  static const std::array<std::string_view, 14> kSame{"kg", "g", "mg", "ug",  "cm", "mm", "m",
                                                      "mL", "L", "s",  "min", "h",  "d",  "mL/min"};
  for (std::string_view same : kSame) {
    if (unit == same) return std::string(unit);
  }
  return std::nullopt;
}

std::string UrnPart(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::optional<json::value> DecimalValue(std::string_view text) {
  std::string s(text);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.erase(0, 1);
  }
  while (s.size() > 1 && s[0] == '0' && s[1] != '.') s.erase(0, 1);  // HL7 allows "007"
  if (!s.empty() && s[0] == '.') s.insert(0, "0");
  if (!s.empty() && s.back() == '.') s.pop_back();
  if (negative) s.insert(0, "-");
  if (!fhir::IsJsonNumberText(s)) return std::nullopt;
  auto parsed = fhir::ParseFhirJson(s, fhir::JsonLimits{});
  if (!parsed.ok() || !fhir::IsNumber(parsed.value())) return std::nullopt;
  return std::move(parsed).value();
}

}  // namespace carerecord::mapping
