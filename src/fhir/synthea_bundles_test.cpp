// Validation and extraction over real (synthetic) data: every resource of the Synthea bundles in
// ../shared/data must validate, and yield the entries its common parameters promise.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fhir/index_extraction.h"
#include "fhir/resource_validation.h"
#include "fhir/search_parameters.h"

namespace carerecord::fhir {
namespace {

namespace fs = std::filesystem;

const fs::path kSyntheaDir =
    fs::path(CARERECORD_SOURCE_DIR) / ".." / "shared" / "data" / "synthea-r4";

std::vector<fs::path> BundleFiles() {
  std::vector<fs::path> files;
  if (!fs::is_directory(kSyntheaDir)) return files;
  for (const fs::directory_entry& entry : fs::directory_iterator(kSyntheaDir)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

boost::json::object ReadBundle(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return boost::json::parse(text.str()).as_object();
}

TEST(SyntheaBundles, EveryResourceValidatesAndIndexes) {
  const std::vector<fs::path> files = BundleFiles();
  if (files.empty()) GTEST_SKIP() << "no Synthea data at " << kSyntheaDir;
  size_t resources = 0;
  std::chrono::nanoseconds spent{0};
  for (const fs::path& file : files) {
    boost::json::object bundle = ReadBundle(file);
    const boost::json::array& entries = bundle.at("entry").as_array();
    for (size_t i = 0; i < entries.size(); ++i) {
      const boost::json::object& resource = entries[i].at("resource").as_object();
      const std::string_view type = resource.at("resourceType").as_string();
      const auto start = std::chrono::steady_clock::now();
      base::Status status = ValidateResource(resource);
      IndexEntries index = ExtractIndexEntries(resource, type);
      spent += std::chrono::steady_clock::now() - start;
      ++resources;
      ASSERT_TRUE(status.ok()) << file.filename() << " entry " << i << " " << type << ": "
                               << status.error().location << " " << status.error().message;
      // Synthea writes meta.profile on its US Core resources; _profile must index it.
      if (resource.contains("meta")) {
        const SearchParamDef* profile = FindSearchParam(type, "_profile");
        bool found = std::any_of(index.uris.begin(), index.uris.end(),
                                 [&](const UriEntry& e) { return e.param_id == profile->id; });
        EXPECT_TRUE(found || !resource.at("meta").as_object().contains("profile"))
            << file.filename() << " entry " << i;
      }
      if (type == "Observation") {
        const SearchParamDef* code = FindSearchParam(type, "code");
        EXPECT_TRUE(std::any_of(index.tokens.begin(), index.tokens.end(),
                                [&](const TokenEntry& e) { return e.param_id == code->id; }));
        const SearchParamDef* subject = FindSearchParam(type, "subject");
        EXPECT_TRUE(
            std::any_of(index.references.begin(), index.references.end(),
                        [&](const ReferenceEntry& e) { return e.param_id == subject->id; }));
      }
    }
  }
  EXPECT_GT(resources, 1000u);
  std::cout << "[ timing   ] validation + extraction: " << resources << " resources, "
            << std::chrono::duration<double, std::micro>(spent).count() / resources << " us each\n";
}

}  // namespace
}  // namespace carerecord::fhir
