#include "fhir/category_facts.h"

#include <algorithm>

namespace carerecord::fhir {

bool IsCategorizedType(std::string_view type) {
  return std::find(std::begin(kCategorizedTypes), std::end(kCategorizedTypes), type) !=
         std::end(kCategorizedTypes);
}

bool EveryPartHasCategory(std::string_view facts, const std::vector<Coding>& allowed) {
  bool part_has = false;
  while (!facts.empty()) {
    const size_t end = facts.find('\n');
    const std::string_view line = facts.substr(0, end);
    facts.remove_prefix(end == std::string_view::npos ? facts.size() : end + 1);
    if (line == "~") {  // the current version's facts follow
      if (!part_has) return false;
      part_has = false;
      continue;
    }
    if (part_has || line.empty() || line[0] != 'K') continue;
    const size_t bar = line.find('|');
    if (bar == std::string_view::npos) continue;
    const std::string_view system = line.substr(1, bar - 1), code = line.substr(bar + 1);
    part_has = std::any_of(allowed.begin(), allowed.end(), [&](const Coding& coding) {
      return coding.system == system && coding.code == code;
    });
  }
  return part_has;
}

}  // namespace carerecord::fhir
