#include "fhir/search_parameters.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace carerecord::fhir {
namespace {

const SearchParamDef& Find(std::string_view type, std::string_view code) {
  const SearchParamDef* def = FindSearchParam(type, code);
  EXPECT_NE(def, nullptr) << type << "." << code;
  static const SearchParamDef kMissing{};
  return def != nullptr ? *def : kMissing;
}

bool Contains(std::span<const std::string> list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

TEST(ResourceTypes, AreTheR4TypesSortedWithoutServerSpecificOnes) {
  std::span<const std::string> types = AllResourceTypes();
  EXPECT_EQ(types.size(), 146u);
  EXPECT_TRUE(std::is_sorted(types.begin(), types.end()));
  EXPECT_TRUE(IsResourceType("Patient"));
  EXPECT_TRUE(IsResourceType("Parameters"));
  EXPECT_TRUE(IsResourceType("VisionPrescription"));
  EXPECT_FALSE(IsResourceType("patient"));
  EXPECT_FALSE(IsResourceType("Project"));  // Medplum's, in the source schema
  EXPECT_FALSE(IsResourceType("Resource"));
  EXPECT_FALSE(IsResourceType("Quantity"));
}

TEST(SearchParams, ObservationCoreParameters) {
  const SearchParamDef& code = Find("Observation", "code");
  EXPECT_EQ(code.type, SearchParamType::kToken);
  EXPECT_EQ(code.expression, "Observation.code");
  EXPECT_TRUE(code.indexed);

  const SearchParamDef& patient = Find("Observation", "patient");
  EXPECT_EQ(patient.type, SearchParamType::kReference);
  EXPECT_EQ(patient.expression, "Observation.subject.where(resolve() is Patient)");
  EXPECT_EQ(patient.targets, std::vector<std::string>{"Patient"});
  EXPECT_TRUE(patient.indexed);

  const SearchParamDef& date = Find("Observation", "date");
  EXPECT_EQ(date.type, SearchParamType::kDate);
  EXPECT_EQ(date.expression, "Observation.effective");

  const SearchParamDef& value = Find("Observation", "value-quantity");
  EXPECT_EQ(value.type, SearchParamType::kQuantity);
  EXPECT_TRUE(value.indexed);
}

TEST(SearchParams, PatientDemographicParameters) {
  EXPECT_EQ(Find("Patient", "identifier").type, SearchParamType::kToken);
  EXPECT_EQ(Find("Patient", "name").type, SearchParamType::kString);
  EXPECT_EQ(Find("Patient", "family").expression, "Patient.name.family");
  EXPECT_EQ(Find("Patient", "given").type, SearchParamType::kString);
  EXPECT_EQ(Find("Patient", "birthdate").type, SearchParamType::kDate);
  EXPECT_EQ(Find("Patient", "gender").type, SearchParamType::kToken);
  EXPECT_EQ(Find("Patient", "address-postalcode").expression, "Patient.address.postalCode");
  EXPECT_EQ(Find("Patient", "deceased").type, SearchParamType::kToken);
  EXPECT_TRUE(Find("Patient", "deceased").indexed);
  for (const char* code : {"identifier", "name", "family", "given", "birthdate", "gender",
                           "address-postalcode", "email", "phone"}) {
    EXPECT_TRUE(Find("Patient", code).indexed) << code;
  }
}

TEST(SearchParams, ConditionParameters) {
  EXPECT_EQ(Find("Condition", "patient").type, SearchParamType::kReference);
  EXPECT_EQ(Find("Condition", "code").type, SearchParamType::kToken);
  EXPECT_EQ(Find("Condition", "clinical-status").expression, "Condition.clinicalStatus");
  const SearchParamDef& onset = Find("Condition", "onset-date");
  EXPECT_EQ(onset.type, SearchParamType::kDate);
  EXPECT_EQ(onset.expression, "Condition.onset.as(dateTime) | Condition.onset.as(Period)");
  EXPECT_TRUE(onset.indexed);
}

TEST(SearchParams, MultiBaseExpressionKeepsOnlyTheTypesOwnTerms) {
  // clinical-code-style parameters list the terms of many types in one expression.
  EXPECT_EQ(Find("AllergyIntolerance", "code").expression,
            "AllergyIntolerance.code | AllergyIntolerance.reaction.substance");
}

TEST(SearchParams, TermsWithoutATypeBelongToTheOnlyBase) {
  const SearchParamDef& name = Find("InsurancePlan", "name");  // published as "name | alias"
  EXPECT_EQ(name.expression, "InsurancePlan.name | InsurancePlan.alias");
  EXPECT_TRUE(name.indexed);
}

TEST(SearchParams, UnknownParameterOrTypeIsNull) {
  EXPECT_EQ(FindSearchParam("Observation", "no-such-param"), nullptr);
  EXPECT_EQ(FindSearchParam("NoSuchType", "code"), nullptr);
  EXPECT_EQ(FindSearchParam("NoSuchType", "_id"), nullptr);
  EXPECT_EQ(FindSearchParam("Patient", "value-quantity"), nullptr);
}

TEST(SearchParams, CommonParametersComeFromResource) {
  const SearchParamDef& id = Find("Observation", "_id");
  EXPECT_EQ(id.resource_type, "Resource");
  EXPECT_TRUE(id.handled_by_store);
  EXPECT_FALSE(id.indexed);
  EXPECT_TRUE(Find("Patient", "_lastUpdated").handled_by_store);
  EXPECT_EQ(&Find("Patient", "_tag"), &Find("Observation", "_tag"));  // one definition, one id
  EXPECT_TRUE(Find("Patient", "_tag").indexed);
  EXPECT_TRUE(Find("Patient", "_security").indexed);
  EXPECT_EQ(Find("Patient", "_profile").type, SearchParamType::kUri);
  EXPECT_TRUE(Find("Patient", "_profile").indexed);
  EXPECT_EQ(Find("Patient", "_source").type, SearchParamType::kUri);
  for (const char* code : {"_text", "_content", "_list", "_has", "_type", "_query"}) {
    EXPECT_FALSE(Find("Patient", code).indexed) << code;
  }
}

TEST(SearchParams, TextParameterOnlyOnDomainResources) {
  EXPECT_EQ(Find("Patient", "_text").resource_type, "DomainResource");
  EXPECT_EQ(FindSearchParam("Bundle", "_text"), nullptr);
  EXPECT_NE(FindSearchParam("Bundle", "_id"), nullptr);
}

TEST(SearchParams, IdsIndexAllSearchParams) {
  std::span<const SearchParamDef> all = AllSearchParams();
  ASSERT_GT(all.size(), 1500u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].id, i);
  const SearchParamDef* code = FindSearchParam("Observation", "code");
  EXPECT_EQ(&all[code->id], code);
}

TEST(SearchParams, CompositesKnowTheirComponentsAndCombosAreUnions) {
  const SearchParamDef& composite = Find("Observation", "code-value-quantity");
  EXPECT_EQ(composite.type, SearchParamType::kComposite);
  EXPECT_TRUE(composite.indexed);
  ASSERT_EQ(composite.components.size(), 2u);
  EXPECT_EQ(composite.components[0]->code, "code");
  EXPECT_EQ(composite.components[1]->code, "value-quantity");
  const SearchParamDef& combo = Find("Observation", "combo-code-value-quantity");
  std::set<std::string> parts;
  for (const SearchParamDef* part : combo.union_of) parts.insert(part->code);
  EXPECT_EQ(parts, (std::set<std::string>{"code-value-quantity", "component-code-value-quantity"}));
  const SearchParamDef& relationship = Find("DocumentReference", "relationship");
  ASSERT_EQ(relationship.components.size(), 2u);
  EXPECT_EQ(relationship.components[0]->type, SearchParamType::kReference);
}

TEST(SearchParams, UncompilableParametersAreListedButNotIndexed) {
  EXPECT_TRUE(Find("Location", "near").indexed);        // the one special parameter with a path
  EXPECT_FALSE(Find("Bundle", "composition").indexed);  // Bundle.entry[0].resource
}

TEST(SearchParams, SearchParamsOfIncludesOwnAndCommonOnce) {
  std::vector<const SearchParamDef*> params = SearchParamsOf("Observation");
  std::set<std::string> codes;
  for (const SearchParamDef* p : params) {
    EXPECT_TRUE(codes.insert(p->code).second) << "duplicate " << p->code;
  }
  for (const char* code : {"code", "patient", "subject", "_id", "_lastUpdated", "_tag", "_text"}) {
    EXPECT_TRUE(codes.count(code)) << code;
  }
  EXPECT_TRUE(SearchParamsOf("NoSuchType").empty());
}

TEST(SearchParams, TypeNamesAreTheFhirCodes) {
  EXPECT_EQ(SearchParamTypeName(SearchParamType::kReference), "reference");
  EXPECT_EQ(SearchParamTypeName(SearchParamType::kQuantity), "quantity");
}

TEST(PatientCompartment, ObservationIsInItThroughSubjectAndPerformer) {
  std::span<const std::string> params = PatientCompartmentParams("Observation");
  EXPECT_TRUE(Contains(params, "subject"));
  EXPECT_TRUE(Contains(params, "performer"));
  EXPECT_EQ(params.size(), 2u);
}

TEST(PatientCompartment, OtherTypes) {
  EXPECT_TRUE(Contains(PatientCompartmentParams("Condition"), "patient"));
  EXPECT_TRUE(Contains(PatientCompartmentParams("Coverage"), "beneficiary"));
  EXPECT_TRUE(Contains(PatientCompartmentParams("Patient"), "link"));
  EXPECT_TRUE(PatientCompartmentParams("Organization").empty());
  EXPECT_TRUE(PatientCompartmentParams("NoSuchType").empty());
}

TEST(PatientCompartment, EveryParameterNamedExists) {
  for (const std::string& type : AllResourceTypes()) {
    for (const std::string& code : PatientCompartmentParams(type)) {
      EXPECT_NE(FindSearchParam(type, code), nullptr) << type << "." << code;
    }
  }
}

}  // namespace
}  // namespace carerecord::fhir
