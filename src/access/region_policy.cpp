#include "access/region_policy.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/stream_parser.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fhir/category_facts.h"
#include "fhir/json_parse.h"
#include "fhir/sealing_facts.h"
#include "fhir/search_parameters.h"

namespace carerecord::access {
namespace {

namespace json = boost::json;
using base::Invalid;

struct Groups {
  TypeSet compartment, clinical, outside, all;
};

const Groups& AllGroups() {
  static const Groups groups = [] {
    Groups g;
    for (const std::string& type : fhir::AllResourceTypes()) {
      g.all.insert(type);
      if (fhir::PatientCompartmentParams(type).empty()) {
        g.outside.insert(type);
      } else {
        g.compartment.insert(type);
        // The audit trail is the auditor's and the patient's, not part of the clinical record.
        if (type != "AuditEvent") g.clinical.insert(type);
      }
    }
    return g;
  }();
  return groups;
}

constexpr std::string_view kSnomed = "http://snomed.info/sct";
constexpr std::string_view kDocumentCategorySystem =
    "https://carerecord.example/CodeSystem/document-category";
constexpr std::string_view kGenderRecognition =
    "gender history: Gender Recognition Act 2004 s.22 (protected information)";
constexpr std::string_view kFertility =
    "assisted conception: Human Fertilisation and Embryology Act 1990 s.33A (disclosure)";

RoleAccess Access(std::vector<std::string> read, std::vector<std::string> write) {
  RoleAccess access;
  access.read = std::move(read);
  access.write = std::move(write);
  return access;
}

base::Result<TypeSet> Expand(const std::vector<std::string>& names, const std::string& where) {
  TypeSet out;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (const TypeSet& group = GroupTypes(name); !group.empty()) {
      out.insert(group.begin(), group.end());
    } else if (fhir::IsResourceType(name)) {
      out.insert(name);
    } else {
      return Invalid("'" + name + "' is neither an R4 resource type nor a group (" +
                         std::string(kGroupClinical) + ", " + std::string(kGroupCompartment) +
                         ", " + std::string(kGroupOutsideCompartment) + ", " +
                         std::string(kGroupAll) + ")",
                     where + "[" + std::to_string(i) + "]");
    }
  }
  return out;
}

base::Status ExpandAll(RegionPolicy& policy) {
  for (Role role : AllRoles()) {
    RoleAccess& access = policy.roles[static_cast<size_t>(role)];
    std::string where = "roles." + std::string(RoleName(role));
    auto read = Expand(access.read, where + ".read");
    if (!read.ok()) return read.error();
    auto write = Expand(access.write, where + ".write");
    if (!write.ok()) return write.error();
    access.read_types = std::move(read).value();
    for (const auto& [type, categories] : access.read_categories) access.read_types.insert(type);
    access.write_types = std::move(write).value();
  }
  return base::Status::Ok();
}

std::pair<size_t, size_t> LineAndColumn(std::string_view text, size_t offset) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

base::Result<std::vector<std::string>> Strings(const json::value& value, const std::string& where) {
  if (!value.is_array()) return Invalid("must be an array of strings", where);
  std::vector<std::string> out;
  for (size_t i = 0; i < value.get_array().size(); ++i) {
    const json::value& item = value.get_array()[i];
    if (!item.is_string()) {
      return Invalid("must be a string", where + "[" + std::to_string(i) + "]");
    }
    out.emplace_back(item.get_string());
  }
  return out;
}

base::Result<int> PositiveInt(const json::value& value, const std::string& where) {
  if (!value.is_int64() && !value.is_uint64()) return Invalid("must be a whole number", where);
  int64_t n = value.is_int64() ? value.get_int64() : static_cast<int64_t>(value.get_uint64());
  if (n < 1 || n > 100000) return Invalid("must be between 1 and 100000", where);
  return static_cast<int>(n);
}

// roles.ROLE.read_categories: {"DocumentReference": [{system, code, display}, ...]}.
base::Status ApplyReadCategories(const json::value& value, const std::string& where,
                                 RoleAccess& access) {
  if (!value.is_object()) return Invalid("must be an object of resource types", where);
  access.read_categories.clear();
  for (const auto& [type, list] : value.get_object()) {
    const std::string at = where + "." + std::string(type);
    if (!fhir::IsCategorizedType(type)) {
      return Invalid(
          "only DocumentReference is read by category (its versions keep their "
          "categories for the policy)",
          at);
    }
    if (!list.is_array() || list.get_array().empty()) {
      return Invalid("must be a non-empty array of {system, code, display}", at);
    }
    std::vector<CategoryCode>& codes = access.read_categories[std::string(type)];
    for (size_t i = 0; i < list.get_array().size(); ++i) {
      const std::string item_at = at + "[" + std::to_string(i) + "]";
      const json::value& item = list.get_array()[i];
      if (!item.is_object()) return Invalid("must be an object {system, code, display}", item_at);
      CategoryCode code;
      for (const auto& [member, text] : item.get_object()) {
        std::string* field = member == "system"    ? &code.system
                             : member == "code"    ? &code.code
                             : member == "display" ? &code.display
                                                   : nullptr;
        if (!field)
          return Invalid("is not system, code or display", item_at + "." + std::string(member));
        if (!text.is_string())
          return Invalid("must be a string", item_at + "." + std::string(member));
        *field = std::string(text.get_string());
      }
      if (code.system.empty() || code.system.find_first_of("|\n ") != std::string::npos) {
        return Invalid("must be a code system URI", item_at + ".system");
      }
      if (code.code.empty() || code.code.find('\n') != std::string::npos) {
        return Invalid("must be a code", item_at + ".code");
      }
      codes.push_back(std::move(code));
    }
  }
  return base::Status::Ok();
}

base::Status ApplyRoles(const json::value& value, RegionPolicy& policy) {
  if (!value.is_object()) return Invalid("must be an object of roles", "roles");
  for (const auto& [key, entry] : value.get_object()) {
    std::string where = "roles." + std::string(key);
    auto role = ParseRole(key);
    if (!role) return Invalid("is not a role", where);
    if (!entry.is_object()) return Invalid("must be an object with read and write", where);
    RoleAccess& access = policy.roles[static_cast<size_t>(*role)];
    for (const auto& [member, list] : entry.get_object()) {
      std::string at = where + "." + std::string(member);
      if (member == "read_categories") {
        CR_RETURN_IF_ERROR(ApplyReadCategories(list, at, access));
        continue;
      }
      if (member != "read" && member != "write") {
        return Invalid("is not read, write or read_categories", at);
      }
      auto names = Strings(list, at);
      if (!names.ok()) return names.error();
      (member == "read" ? access.read : access.write) = std::move(names).value();
    }
  }
  return base::Status::Ok();
}

base::Status ApplyProtected(const json::value& value, RegionPolicy& policy) {
  if (!value.is_array()) return Invalid("must be an array", "protected");
  policy.protected_codes.clear();
  for (size_t i = 0; i < value.get_array().size(); ++i) {
    std::string where = "protected[" + std::to_string(i) + "]";
    const json::value& item = value.get_array()[i];
    if (!item.is_object()) return Invalid("must be an object {system, code, display, why}", where);
    ProtectedCode code;
    for (const auto& [member, text] : item.get_object()) {
      std::string at = where + "." + std::string(member);
      std::string* field = member == "system"    ? &code.system
                           : member == "code"    ? &code.code
                           : member == "display" ? &code.display
                           : member == "why"     ? &code.why
                                                 : nullptr;
      if (!field) return Invalid("is not system, code, display or why", at);
      if (!text.is_string()) return Invalid("must be a string", at);
      *field = std::string(text.get_string());
    }
    if (code.system.empty() || code.system.find_first_of("|\n ") != std::string::npos) {
      return Invalid("must be a code system URI", where + ".system");
    }
    if (code.code.empty() || code.code.find('\n') != std::string::npos) {
      return Invalid("must be a code", where + ".code");
    }
    policy.protected_codes.push_back(std::move(code));
  }
  return base::Status::Ok();
}

// `groups` as `policy show` prints it: what each group expands to, for people reading it. A
// group is computed from the generated R4 tables, never configured, so a file may carry the
// member (a printed policy loads again as it is) but only as the tables say: a group changed by
// hand would make the file say something the server does not do.
base::Status CheckGroups(const json::value& value) {
  if (!value.is_object()) return Invalid("must be an object of groups", "groups");
  for (const auto& [key, entry] : value.get_object()) {
    const std::string where = "groups." + std::string(key);
    const TypeSet& computed = GroupTypes(key);
    if (computed.empty()) return Invalid("is not a group", where);
    auto listed = Strings(entry, where);
    if (!listed.ok()) return listed.error();
    if (TypeSet(listed->begin(), listed->end()) != computed || listed->size() != computed.size()) {
      return Invalid(
          "is computed from the FHIR R4 compartment definition and cannot be changed: leave it "
          "out, or as `policy show` prints it",
          where);
    }
  }
  return base::Status::Ok();
}

}  // namespace

const TypeSet& GroupTypes(std::string_view group) {
  static const TypeSet none;
  const Groups& groups = AllGroups();
  if (group == kGroupCompartment) return groups.compartment;
  if (group == kGroupClinical) return groups.clinical;
  if (group == kGroupOutsideCompartment) return groups.outside;
  if (group == kGroupAll) return groups.all;
  return none;
}

bool OutsidePatientCompartment(std::string_view type) {
  return AllGroups().outside.count(type) > 0;
}

bool RoleAccess::AdmitsCategory(std::string_view type, std::string_view facts) const {
  if (read_categories.empty()) return true;
  auto rule = read_categories.find(type);
  if (rule == read_categories.end()) return true;
  std::vector<fhir::Coding> allowed;
  allowed.reserve(rule->second.size());
  for (const CategoryCode& code : rule->second) allowed.push_back({code.system, code.code});
  return fhir::EveryPartHasCategory(facts, allowed);
}

bool RegionPolicy::IsProtected(std::string_view sealing_facts) const {
  if (sealing_facts.empty()) return false;
  for (const ProtectedCode& code : protected_codes) {
    if (fhir::HasCoding(sealing_facts, code.system, code.code)) return true;
  }
  return false;
}

RegionPolicy DefaultRegionPolicy() {
  const std::string clinical(kGroupClinical), outside(kGroupOutsideCompartment);
  RegionPolicy policy;
  auto set = [&](Role role, RoleAccess access) {
    policy.roles[static_cast<size_t>(role)] = std::move(access);
  };
  for (Role role : {Role::kClinician, Role::kNurse, Role::kAlliedHealth}) {
    set(role, Access({clinical, outside}, {clinical}));
  }
  // DocumentReference of social-care categories only (the issue's): no national code for "a
  // social-care document" was found that could be cited (UK Core binds DocumentReference.category
  // to no such set; SNOMED CT's record artifacts were not checked here), so the default is a
  // local code of this server's, which a region maps its documents to or replaces by its own.
  RoleAccess social =
      Access({"Patient", "RelatedPerson", "CareTeam", "CarePlan", "Encounter", "EpisodeOfCare",
              "Condition", "AllergyIntolerance", "MedicationRequest", "MedicationStatement",
              "MedicationAdministration", "MedicationDispense", "Flag", outside},
             {"CarePlan", "Flag", "DocumentReference", "RelatedPerson"});
  social.read_categories["DocumentReference"] = {
      {std::string(kDocumentCategorySystem), "social-care", "Social care document"}};
  set(Role::kSocialWorker, std::move(social));
  set(Role::kAdminStaff, Access({"Patient", "RelatedPerson", "Encounter", "Appointment", outside},
                                {"Patient", "RelatedPerson", "Appointment"}));
  set(Role::kAuditor, Access({"AuditEvent", outside}, {}));
  set(Role::kSystemAdmin, Access({outside}, {}));
  set(Role::kPatient, Access({std::string(kGroupCompartment)}, {}));
  set(Role::kIntegration, Access({std::string(kGroupAll)}, {std::string(kGroupAll)}));
  policy.restricted_readers = {Role::kClinician, Role::kNurse};
  // SNOMED CT concepts, as published in HL7 FHIR value sets: the gender identity value set
  // (hl7.org/fhir/2018Jan/valueset-gender-identity.html) and CH EKM Gender Identity; the
  // BFDR IG's Fertility Enhancing Drug Therapy and Artificial Insemination value set.
  policy.protected_codes = {
      {std::string(kSnomed), "407376001", "Male-to-female transsexual (finding)",
       std::string(kGenderRecognition)},
      {std::string(kSnomed), "407377005", "Female-to-male transsexual (finding)",
       std::string(kGenderRecognition)},
      {std::string(kSnomed), "1384187000", "Identifies as transgender (finding)",
       std::string(kGenderRecognition)},
      {std::string(kSnomed), "58533008", "Artificial insemination (procedure)",
       std::string(kFertility)},
      {std::string(kSnomed), "265064001", "Intrauterine artificial insemination (procedure)",
       std::string(kFertility)},
  };
  base::Status expanded = ExpandAll(policy);
  (void)expanded;  // the defaults name only types and groups
  return policy;
}

base::Result<RegionPolicy> ParseRegionPolicy(std::string_view json_text) {
  json::stream_parser parser;
  boost::system::error_code ec;
  size_t used = parser.write(json_text.data(), json_text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    auto [line, column] = LineAndColumn(json_text, used);
    return Invalid("the policy is not JSON at line " + std::to_string(line) + ", column " +
                       std::to_string(column) + ": " + ec.message(),
                   "line " + std::to_string(line));
  }
  json::value root = parser.release();
  // Boost.JSON keeps the last of two equal keys: a policy saying one thing twice is refused, so
  // no role is widened or narrowed by a line the region did not notice.
  fhir::JsonLimits strict;
  strict.fhir_rules = true;
  if (auto checked = fhir::ParseFhirJson(json_text, strict); !checked.ok()) {
    return Invalid(checked.error().message, checked.error().location);
  }
  if (!root.is_object()) return Invalid("the policy must be a JSON object", "/");
  RegionPolicy policy = DefaultRegionPolicy();
  for (const auto& [key, value] : root.get_object()) {
    if (key == "roles") {
      CR_RETURN_IF_ERROR(ApplyRoles(value, policy));
    } else if (key == "restricted_readers") {
      auto names = Strings(value, "restricted_readers");
      if (!names.ok()) return names.error();
      policy.restricted_readers.clear();
      for (size_t i = 0; i < names->size(); ++i) {
        auto role = ParseRole((*names)[i]);
        if (!role) {
          return Invalid("'" + (*names)[i] + "' is not a role",
                         "restricted_readers[" + std::to_string(i) + "]");
        }
        policy.restricted_readers.insert(*role);
      }
    } else if (key == "protected") {
      CR_RETURN_IF_ERROR(ApplyProtected(value, policy));
    } else if (key == "groups") {
      CR_RETURN_IF_ERROR(CheckGroups(value));
    } else if (key == "relationship_window_days" || key == "declaration_days" ||
               key == "break_glass_minutes") {
      auto n = PositiveInt(value, std::string(key));
      if (!n.ok()) return n.error();
      (key == "relationship_window_days" ? policy.relationship_window_days
       : key == "declaration_days"       ? policy.declaration_days
                                         : policy.break_glass_minutes) = *n;
    } else if (key == "access_log_shows_names") {
      if (!value.is_bool()) return Invalid("must be true or false", std::string(key));
      policy.access_log_shows_names = value.get_bool();
    } else {
      return Invalid(
          "is not a member of the policy (roles, restricted_readers, protected, "
          "relationship_window_days, declaration_days, break_glass_minutes, "
          "access_log_shows_names, groups)",
          std::string(key));
    }
  }
  CR_RETURN_IF_ERROR(ExpandAll(policy));
  return policy;
}

base::Result<RegionPolicy> LoadRegionPolicy(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Invalid("the policy file " + path + " is a directory", path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Invalid("cannot read the policy file " + path, path);
  std::ostringstream text;
  text << in.rdbuf();
  auto policy = ParseRegionPolicy(text.str());
  if (!policy.ok()) {
    base::Error error = policy.error();
    error.message = path + ": " + error.location + ": " + error.message;
    return error;
  }
  return policy;
}

std::string RegionPolicyJson(const RegionPolicy& policy) {
  json::object out;
  json::object roles;
  std::set<std::string> groups_used;
  auto list = [&](const std::vector<std::string>& names) {
    json::array array;
    for (const std::string& name : names) {
      array.emplace_back(name);
      if (!GroupTypes(name).empty()) groups_used.insert(name);
    }
    return array;
  };
  for (Role role : AllRoles()) {
    const RoleAccess& access = policy.Of(role);
    json::object shown{{"read", list(access.read)}, {"write", list(access.write)}};
    if (!access.read_categories.empty()) {
      json::object categories;
      for (const auto& [type, codes] : access.read_categories) {
        json::array array;
        for (const CategoryCode& code : codes) {
          array.push_back(json::object{
              {"system", code.system}, {"code", code.code}, {"display", code.display}});
        }
        categories[type] = std::move(array);
      }
      shown["read_categories"] = std::move(categories);
    }
    roles[RoleName(role)] = std::move(shown);
  }
  out["roles"] = std::move(roles);
  json::object groups;
  for (const std::string& group : groups_used) {
    json::array types;
    for (const std::string& type : GroupTypes(group)) types.emplace_back(type);
    groups[group] = std::move(types);
  }
  out["groups"] = std::move(groups);
  json::array readers;
  for (Role role : AllRoles()) {
    if (policy.restricted_readers.count(role)) readers.emplace_back(RoleName(role));
  }
  out["restricted_readers"] = std::move(readers);
  json::array codes;
  for (const ProtectedCode& code : policy.protected_codes) {
    codes.push_back(json::object{{"system", code.system},
                                 {"code", code.code},
                                 {"display", code.display},
                                 {"why", code.why}});
  }
  out["protected"] = std::move(codes);
  out["relationship_window_days"] = policy.relationship_window_days;
  out["declaration_days"] = policy.declaration_days;
  out["break_glass_minutes"] = policy.break_glass_minutes;
  out["access_log_shows_names"] = policy.access_log_shows_names;
  return json::serialize(out);
}

}  // namespace carerecord::access
