// The parts of a resource a client asks for: _summary=true keeps the elements R4 marks isSummary
// (recursing into backbone elements such as Observation.component; data types are kept whole),
// _summary=text the narrative and required elements, _elements the elements named. Called by
// the read and search interactions. Pure.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <vector>

namespace carerecord::fhir {

// `resource` is a whole resource with a resourceType this server knows; an unknown type gives
// the resource unchanged. Primitive extensions (_birthDate) follow their element.
boost::json::object SummaryOf(const boost::json::object& resource);

// _summary=text: the narrative, id, meta and the elements R4 requires at the top level.
boost::json::object TextSummaryOf(const boost::json::object& resource);

// _elements: resourceType, id and meta with the elements named, a choice by its base name
// (value keeps valueQuantity), added to `out`.
void AddElements(const boost::json::object& resource, const std::vector<std::string>& names,
                 boost::json::object& out);

}  // namespace carerecord::fhir
