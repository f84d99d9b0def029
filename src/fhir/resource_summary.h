// _summary=true: the copy of a resource that keeps only the elements R4 marks isSummary
// (recursing into backbone elements such as Observation.component; data types are kept whole).
// Called by the read and search interactions when a client asks for summaries. Pure.
#pragma once

#include <boost/json/object.hpp>

namespace carerecord::fhir {

// `resource` is a whole resource with a resourceType this server knows; an unknown type gives
// the resource unchanged. Primitive extensions (_birthDate) follow their element.
boost::json::object SummaryOf(const boost::json::object& resource);

}  // namespace carerecord::fhir
