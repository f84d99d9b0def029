// The shared HL7 v2 samples through MapMessage: every one maps or fails with a reason that names
// where, every mapped resource is valid FHIR R4, and the ADT, ORU and MDM samples give the
// resources they state, field by field.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/json_number.h"
#include "fhir/resource_validation.h"
#include "hl7v2/message.h"
#include "mapping/hl7v2_mapping.h"

namespace carerecord::mapping {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const fs::path kSampleDir = fs::path(CARERECORD_SOURCE_DIR) / ".." / "shared" / "data" / "hl7v2";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

FeedContext Feed(const hl7v2::Message& message) {
  FeedContext feed;
  feed.feed = "rx1-pas";
  feed.organisation_ods = "RX1";
  feed.sending_facility = message.header().sending_facility;
  feed.received_ms = 1'800'000'000'000;
  feed.message_id = message.header().control_id;
  return feed;
}

struct Sample {
  std::string bytes;
  std::optional<hl7v2::Message> message;
};

// Maps one sample file; fails the test when it does not parse (the parser's tests cover that).
hl7v2::Result<MappedMessage> MapSample(const std::string& name, Sample& sample) {
  sample.bytes = ReadFile(kSampleDir / name);
  auto parsed = hl7v2::ParseMessage(std::string_view(sample.bytes));
  EXPECT_TRUE(parsed.ok()) << name;
  sample.message.emplace(std::move(parsed).value());
  return MapMessage(*sample.message, Feed(*sample.message));
}

std::vector<const MappedResource*> OfType(const MappedMessage& m, std::string_view type) {
  std::vector<const MappedResource*> out;
  for (const auto& r : m.resources) {
    if (r.type == type) out.push_back(&r);
  }
  return out;
}

std::string Str(const json::value& v) { return std::string(v.as_string()); }

TEST(Hl7v2MappingSamples, EverySampleMapsOrFailsWithAReasonAndEveryResourceIsValid) {
  if (!fs::is_directory(kSampleDir)) GTEST_SKIP() << "no HL7 v2 samples at " << kSampleDir;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kSampleDir)) {
    if (entry.path().extension() == ".hl7") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());
  size_t mapped = 0, failed = 0, resources = 0;
  std::map<std::string, size_t> reasons;
  for (const fs::path& file : files) {
    Sample sample;
    auto result = MapSample(file.filename().string(), sample);
    if (!result.ok()) {
      ++failed;
      const hl7v2::Hl7Error& error = result.error();
      EXPECT_FALSE(error.reason.empty()) << file;
      EXPECT_FALSE(error.location.segment_id.empty()) << file << ": " << error.ToString();
      ++reasons[std::string(sample.message->header().message_code) + " " +
                std::to_string(static_cast<int>(error.condition))];
      std::printf("  %-40s not mapped: %s\n", file.filename().c_str(), error.ToString().c_str());
      continue;
    }
    ++mapped;
    for (const MappedResource& r : result->resources) {
      ++resources;
      json::object resource = MergeStated(nullptr, r);  // as created
      resource["id"] = "x";
      if (r.mode == WriteMode::kPatchExisting) continue;  // a partial, merged with the stored one
      // References within the message are urn:uuid until written; they validate as references.
      auto valid = fhir::ValidateResource(resource);
      EXPECT_TRUE(valid.ok()) << file.filename() << " " << r.type << ": "
                              << (valid.ok()
                                      ? ""
                                      : valid.error().message + " at " + valid.error().location)
                              << "\n"
                              << json::serialize(resource);
      EXPECT_TRUE(r.fixed_id.empty() != r.identity_value.empty()) << r.type;
    }
  }
  std::printf("HL7 v2 samples: %zu mapped (%zu resources), %zu not mapped, of %zu\n", mapped,
              resources, failed, files.size());
  EXPECT_EQ(mapped + failed, files.size());
  EXPECT_GT(mapped, 40u);
}

TEST(Hl7v2MappingSamples, AdtA01PatientEncounterAndTheRest) {
  if (!fs::is_directory(kSampleDir)) GTEST_SKIP() << "no HL7 v2 samples";
  Sample sample;
  auto mapped = MapSample("ADT01-28.hl7", sample);
  ASSERT_TRUE(mapped.ok()) << mapped.error().ToString();
  // EVN-2 20070818112300+0700
  EXPECT_EQ(mapped->event_time, "2007-08-18T11:23:00+07:00");
  auto patients = OfType(*mapped, "Patient");
  ASSERT_EQ(patients.size(), 1u);
  const json::object& p = patients[0]->resource;
  EXPECT_EQ(patients[0]->identity_system, "urn:carerecord:source:RX1:mrn:ADT1");
  EXPECT_EQ(patients[0]->identity_value, "PATID1234");
  const json::object& id = p.at("identifier").as_array()[0].as_object();
  EXPECT_EQ(Str(id.at("value")), "PATID1234");
  EXPECT_EQ(Str(id.at("system")), "urn:carerecord:source:RX1:mrn:ADT1");
  EXPECT_EQ(Str(id.at("type").at("coding").as_array()[0].at("code")), "MR");
  EXPECT_EQ(Str(id.at("assigner").at("display")), "ADT1");
  // The SS repetition is not kept; 123456789 is no NHS number either.
  EXPECT_EQ(p.at("identifier").as_array().size(), 1u);
  const json::object& name = p.at("name").as_array()[0].as_object();
  EXPECT_EQ(Str(name.at("family")), "EVERYMAN");
  EXPECT_EQ(name.at("given").as_array(), (json::array{"ADAM", "A"}));
  EXPECT_EQ(name.at("suffix").as_array(), (json::array{"III"}));
  EXPECT_EQ(Str(p.at("birthDate")), "1961-06-15");
  EXPECT_EQ(Str(p.at("gender")), "male");
  const json::object& address = p.at("address").as_array()[0].as_object();
  EXPECT_EQ(address.at("line").as_array(), (json::array{"2222 HOME STREET"}));
  EXPECT_EQ(Str(address.at("city")), "GREENSBORO");
  EXPECT_EQ(Str(address.at("district")), "NC");
  EXPECT_EQ(Str(address.at("postalCode")), "27401-1020");
  const json::array& telecom = p.at("telecom").as_array();
  ASSERT_EQ(telecom.size(), 2u);
  EXPECT_EQ(Str(telecom[0].at("value")), "(555) 555-2004");
  EXPECT_EQ(Str(telecom[0].at("use")), "home");
  EXPECT_EQ(Str(telecom[1].at("use")), "work");
  EXPECT_EQ(Str(p.at("managingOrganization").at("identifier").at("value")), "RX1");
  // Provenance.
  const json::object& meta = p.at("meta").as_object();
  EXPECT_EQ(Str(meta.at("source")), "urn:carerecord:feed:rx1-pas#MSG00001");
  EXPECT_EQ(Str(meta.at("tag").as_array()[0].at("system")), kOdsSystem);
  EXPECT_EQ(Str(meta.at("tag").as_array()[0].at("code")), "RX1");
  EXPECT_EQ(Str(meta.at("extension").as_array()[0].at("valueDateTime")),
            "2007-08-18T11:23:00+07:00");

  // PV1 has neither a visit number (PV1-19) nor an admission time (PV1-44): no Encounter can be
  // found again by a later message, so none is made, and the operator is told.
  EXPECT_TRUE(OfType(*mapped, "Encounter").empty());
  ASSERT_EQ(mapped->warnings.size(), 1u);
  EXPECT_NE(mapped->warnings[0].find("PV1-19"), std::string::npos);

  auto kin = OfType(*mapped, "RelatedPerson");
  ASSERT_EQ(kin.size(), 1u);
  EXPECT_EQ(Str(kin[0]->resource.at("name").as_array()[0].at("family")), "NUCLEAR");
  EXPECT_EQ(
      Str(kin[0]->resource.at("relationship").as_array()[0].at("coding").as_array()[0].at("code")),
      "SPO");
  EXPECT_EQ(kin[0]->identity_value, "PATID1234/1");
}

TEST(Hl7v2MappingSamples, AdtA01AllergyDiagnosisGpAndVisit) {
  if (!fs::is_directory(kSampleDir)) GTEST_SKIP() << "no HL7 v2 samples";
  Sample sample;
  auto mapped = MapSample("ADT-A01-01.hl7", sample);
  ASSERT_TRUE(mapped.ok()) << mapped.error().ToString();
  auto patients = OfType(*mapped, "Patient");
  ASSERT_EQ(patients.size(), 1u);
  // PID-3: PATID1234 of type MR, assigning authority test1.
  EXPECT_EQ(patients[0]->identity_value, "PATID1234");
  EXPECT_EQ(patients[0]->identity_system, "urn:carerecord:source:RX1:mrn:test1");
  const json::object& p = patients[0]->resource;
  const json::array& gps = p.at("generalPractitioner").as_array();
  ASSERT_EQ(gps.size(), 2u);
  EXPECT_EQ(Str(gps[0].at("display")), "LINDAS TEST ORGANIZATION");
  EXPECT_EQ(Str(gps[0].at("identifier").at("value")), "SIISCLIENT818");
  EXPECT_EQ(Str(gps[1].at("identifier").at("system")), "https://fhir.hl7.org.uk/Id/gmp-number");
  EXPECT_EQ(Str(gps[1].at("identifier").at("value")), "88");
  EXPECT_EQ(Str(p.at("name").as_array()[0].at("use")), "usual");  // XPN-7 D: display name

  auto encounters = OfType(*mapped, "Encounter");
  ASSERT_EQ(encounters.size(), 1u);
  const json::object& e = encounters[0]->resource;
  EXPECT_EQ(Str(e.at("class").at("code")), "PRENC");  // PV1-2 P
  EXPECT_EQ(Str(e.at("location").as_array()[0].at("location").at("display")),
            "HUH AE OMU, OMU B, Bed 03, HOMERTON UNIVER");

  auto allergies = OfType(*mapped, "AllergyIntolerance");
  ASSERT_EQ(allergies.size(), 1u);
  const json::object& a = allergies[0]->resource;
  EXPECT_EQ(Str(a.at("code").at("coding").as_array()[0].at("code")), "P");
  EXPECT_EQ(Str(a.at("code").at("coding").as_array()[0].at("display")), "PENICILLIN");
  EXPECT_EQ(a.at("category").as_array(), (json::array{"environment"}));  // AL1-2 EA
  EXPECT_EQ(Str(a.at("criticality")), "low");                            // AL1-4 MI
  EXPECT_EQ(Str(a.at("reaction").as_array()[0].at("manifestation").as_array()[0].at("text")),
            "CODE16");
  EXPECT_EQ(Str(a.at("onsetDateTime")), "2021-08-24");

  auto conditions = OfType(*mapped, "Condition");
  ASSERT_EQ(conditions.size(), 1u);
  const json::object& c = conditions[0]->resource;
  EXPECT_EQ(Str(c.at("code").at("coding").as_array()[0].at("system")), "http://snomed.info/sct");
  EXPECT_EQ(Str(c.at("code").at("coding").as_array()[0].at("code")), "422504002");
  EXPECT_EQ(Str(c.at("onsetDateTime")), "2004-01-25T11:40:25+04:20");
  EXPECT_EQ(Str(c.at("verificationStatus").at("coding").as_array()[0].at("code")), "provisional");
  EXPECT_EQ(Str(c.at("encounter").at("reference")), "urn:uuid:" + encounters[0]->local_uuid);
}

TEST(Hl7v2MappingSamples, OruReportsAndObservations) {
  if (!fs::is_directory(kSampleDir)) GTEST_SKIP() << "no HL7 v2 samples";
  Sample sample;
  auto mapped = MapSample("LRI_2.0-NG_CBC_Typ_Message.hl7", sample);
  ASSERT_TRUE(mapped.ok()) << mapped.error().ToString();
  auto reports = OfType(*mapped, "DiagnosticReport");
  ASSERT_EQ(reports.size(), 1u);
  const json::object& dr = reports[0]->resource;
  EXPECT_EQ(reports[0]->identity_value, "R-991133");
  EXPECT_EQ(reports[0]->identity_system,
            "urn:carerecord:source:RX1:filler-order:NIST%20Lab%20Filler");
  EXPECT_EQ(Str(dr.at("code").at("coding").as_array()[0].at("code")), "57021-8");
  EXPECT_EQ(Str(dr.at("code").at("coding").as_array()[0].at("system")), "http://loinc.org");
  auto observations = OfType(*mapped, "Observation");
  ASSERT_GE(observations.size(), 20u);
  EXPECT_EQ(dr.at("result").as_array().size(), observations.size());
  const json::object& rbc = observations[0]->resource;
  EXPECT_EQ(observations[0]->identity_value, "R-991133/1");
  EXPECT_EQ(Str(rbc.at("code").at("coding").as_array()[0].at("code")), "26453-1");
  EXPECT_EQ(fhir::NumberText(rbc.at("valueQuantity").at("value")), "4.41");
  EXPECT_EQ(Str(rbc.at("valueQuantity").at("code")), "10*6/uL");  // OBX-6 names UCUM
  EXPECT_EQ(Str(rbc.at("status")), "final");
  EXPECT_EQ(fhir::NumberText(rbc.at("referenceRange").as_array()[0].at("low").at("value")), "4.3");
  EXPECT_EQ(fhir::NumberText(rbc.at("referenceRange").as_array()[0].at("high").at("value")), "6.2");
  EXPECT_EQ(Str(rbc.at("interpretation").as_array()[0].at("coding").as_array()[0].at("code")), "N");
  const json::object& hb = observations[1]->resource;
  EXPECT_EQ(Str(hb.at("interpretation").as_array()[0].at("coding").as_array()[0].at("code")), "L");
  // OBX 20: CWE.
  const json::object& aniso = observations[19]->resource;
  EXPECT_EQ(Str(aniso.at("valueCodeableConcept").at("coding").as_array()[0].at("code")),
            "260348001");
  EXPECT_EQ(Str(aniso.at("valueCodeableConcept").at("text")), "Moderate Anisocytosis");
  // OBX 26: TX.
  EXPECT_EQ(Str(observations[25]->resource.at("valueString")), "Many spherocytes present.");
}

TEST(Hl7v2MappingSamples, OruStructuredNumericAndReportStatus) {
  if (!fs::is_directory(kSampleDir)) GTEST_SKIP() << "no HL7 v2 samples";
  Sample sample;
  auto mapped = MapSample("ORU-R01-RMGEAD.hl7", sample);
  ASSERT_TRUE(mapped.ok()) << mapped.error().ToString();
  auto observations = OfType(*mapped, "Observation");
  ASSERT_EQ(observations.size(), 1u);
  const json::object& glucose = observations[0]->resource;
  EXPECT_EQ(fhir::NumberText(glucose.at("valueQuantity").at("value")), "182");
  EXPECT_EQ(Str(glucose.at("valueQuantity").at("code")), "mg/dL");
  EXPECT_EQ(Str(glucose.at("interpretation").as_array()[0].at("coding").as_array()[0].at("code")),
            "H");
  EXPECT_EQ(fhir::NumberText(glucose.at("referenceRange").as_array()[0].at("high").at("value")),
            "105");
  auto reports = OfType(*mapped, "DiagnosticReport");
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(Str(reports[0]->resource.at("status")), "final");
  EXPECT_EQ(Str(reports[0]->resource.at("effectiveDateTime")), "2002-02-15T07:30:00+06:00");
}

TEST(Hl7v2MappingSamples, MdmTextDocumentAsDocumentReferenceAndBinary) {
  if (!fs::is_directory(kSampleDir)) GTEST_SKIP() << "no HL7 v2 samples";
  Sample sample;
  auto mapped = MapSample("MDM-T02-03.hl7", sample);
  ASSERT_TRUE(mapped.ok()) << mapped.error().ToString();
  auto documents = OfType(*mapped, "DocumentReference");
  ASSERT_EQ(documents.size(), 1u);
  const json::object& d = documents[0]->resource;
  EXPECT_EQ(documents[0]->identity_value, "2RWRVAJ627408");
  EXPECT_EQ(Str(d.at("status")), "current");
  EXPECT_EQ(Str(d.at("docStatus")), "preliminary");  // TXA-17 IP
  EXPECT_EQ(Str(d.at("type").at("coding").as_array()[0].at("code")), "DS");
  EXPECT_EQ(Str(d.at("date")), "2021-08-01T09:06:42+02:15");
  EXPECT_EQ(Str(d.at("author").as_array()[0].at("display")), "Dr Kathleen Woolfson");
  auto binaries = OfType(*mapped, "Binary");
  ASSERT_EQ(binaries.size(), 1u);
  const json::object& attachment = d.at("content").as_array()[0].at("attachment").as_object();
  EXPECT_EQ(Str(attachment.at("url")), "Binary/" + binaries[0]->fixed_id);
  EXPECT_EQ(Str(attachment.at("contentType")), "text/plain; charset=utf-8");
  EXPECT_EQ(Str(binaries[0]->resource.at("securityContext").at("reference")),
            "urn:uuid:" + documents[0]->local_uuid);
  // The 29 TX lines, in order, base64.
  const std::string data = Str(binaries[0]->resource.at("data"));
  EXPECT_EQ(data.substr(0, 12), "VG9pbGV0IGN5");  // "Toilet cy"
  EXPECT_GT(attachment.at("size").to_number<int64_t>(), 500);
}

TEST(Hl7v2MappingSamples, MdmWithoutContentIsRefusedWithAReason) {
  if (!fs::is_directory(kSampleDir)) GTEST_SKIP() << "no HL7 v2 samples";
  Sample sample;
  auto mapped = MapSample("MDM-T02-01.hl7", sample);  // OBX HD and an ED with no data
  ASSERT_FALSE(mapped.ok());
  EXPECT_EQ(mapped.error().condition, hl7v2::ErrorCondition::kRequiredFieldMissing);
  EXPECT_EQ(mapped.error().location.segment_id, "TXA");
  EXPECT_NE(mapped.error().reason.find("no document content"), std::string::npos);
}

TEST(Hl7v2MappingSamples, UnmappedTypesNameTheirType) {
  if (!fs::is_directory(kSampleDir)) GTEST_SKIP() << "no HL7 v2 samples";
  Sample sample;
  auto mapped = MapSample("SIU-S12-01.hl7", sample);
  ASSERT_FALSE(mapped.ok());
  EXPECT_EQ(mapped.error().condition, hl7v2::ErrorCondition::kUnsupportedMessageType);
  EXPECT_EQ(mapped.error().location.segment_id, "MSH");
  EXPECT_EQ(mapped.error().location.field, 9);
  EXPECT_NE(mapped.error().reason.find("SIU^S12"), std::string::npos);
}

}  // namespace
}  // namespace carerecord::mapping
