// What the store writer's tests share: a Patient body, the store's position as a request's
// snapshot records it, and a create through the store with a commit check.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "fhir/fhir_date.h"
#include "interactions/search_request.h"
#include "interactions/write_preparation.h"
#include "tests/test_server.h"

namespace carerecord::testing {

inline std::string PatientBody(const std::string& family, const std::string& note = "",
                               const std::string& identifier = "") {
  boost::json::object patient{
      {"resourceType", "Patient"},
      {"gender", "male"},
      {"name", boost::json::array{boost::json::object{{"family", family}}}}};
  if (!identifier.empty()) {
    patient["identifier"] =
        boost::json::array{boost::json::object{{"system", "urn:test:mrn"}, {"value", identifier}}};
  }
  if (!note.empty()) {
    patient["text"] = boost::json::object{
        {"status", "generated"},
        {"div", "<div xmlns=\"http://www.w3.org/1999/xhtml\">" + note + "</div>"}};
  }
  return boost::json::serialize(patient);
}

// Where the store stands now, as a request's snapshot would record it.
inline int64_t Position(TestServer& server) {
  auto reader = server.store().OpenTransactionReader(store::TransactionReaderKeyForTests::Make());
  return reader->Position();
}

// Creates a Patient straight through the store, with a commit check of `query` that the caller
// says matched nothing on a snapshot at `position`.
inline base::Result<store::CommitResult> CreateChecked(TestServer& server,
                                                       const interactions::QueryParams& query,
                                                       int64_t position) {
  auto parsed = interactions::ParseSearch("Patient", query, /*strict=*/true);
  EXPECT_TRUE(parsed.ok());
  store::CommitCheck check;
  check.spec = std::make_shared<store::SearchSpec>(parsed->spec);
  check.conflict_message = "a matching Patient was created concurrently";
  static int next = 0;
  interactions::WriteRequest request{
      "Patient", "checked-" + std::to_string(++next), 1, "POST", fhir::NowMs(), server.base()};
  auto write = interactions::PrepareWrite(boost::json::parse(PatientBody("Checked")).as_object(),
                                          request, nullptr);
  EXPECT_TRUE(write.ok());
  store::WriteTransaction transaction;
  transaction.writes.push_back(std::move(write).value());
  transaction.checks.push_back(std::move(check));
  transaction.read_position = position;
  transaction.provenance = {"test", "", fhir::NowMs()};
  return server.store().Commit(std::move(transaction));
}

}  // namespace carerecord::testing
