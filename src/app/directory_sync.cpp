#include "app/directory_sync.h"

#include <boost/json.hpp>
#include <cstdio>
#include <map>

#include "access/access_context.h"
#include "access/roles.h"
#include "base/utf8.h"
#include "interactions/fhir_service.h"

namespace carerecord::app {
namespace {

namespace json = boost::json;

// At most this many users' resources in one transaction: one commit for many, a bounded body.
constexpr size_t kUsersPerTransaction = 200;

interactions::RequestContext DirectoryContext() {
  interactions::RequestContext ctx;
  ctx.who.principal = "system:" + std::string(kDirectorySource);
  ctx.who.purpose = "directory";
  ctx.base_url = "urn:carerecord:local";
  ctx.prefer_return = interactions::PreferReturn::kMinimal;
  return ctx;
}

std::string_view OrganizationTypeCode(std::string_view kind) {
  if (kind == "council") return "govt";
  if (kind == "other") return "other";
  return "prov";  // gp, hospital, community, hospice: healthcare providers
}

json::object OrganizationResource(const store::OrganisationRecord& org, const std::string& id) {
  json::object type_coding{{"system", "http://terminology.hl7.org/CodeSystem/organization-type"},
                           {"code", OrganizationTypeCode(org.kind)}};
  return json::object{
      {"resourceType", "Organization"},
      {"id", id},
      {"identifier", json::array{json::object{{"system", access::kOdsIdentifierSystem},
                                              {"value", org.ods_code}}}},
      {"active", org.enabled},
      {"type", json::array{json::object{{"coding", json::array{type_coding}}, {"text", org.kind}}}},
      {"name", base::ReplaceInvalidUtf8(org.name)}};
}

json::object PractitionerResource(const store::UserRecord& user) {
  json::object practitioner{
      {"resourceType", "Practitioner"},
      {"id", PractitionerIdFor(user)},
      {"identifier", json::array{json::object{{"system", access::kUsernameIdentifierSystem},
                                              {"value", user.username}}}},
      {"active", user.enabled}};
  if (!user.display_name.empty()) {
    practitioner["name"] =
        json::array{json::object{{"text", base::ReplaceInvalidUtf8(user.display_name)}}};
  }
  return practitioner;
}

json::object PractitionerRoleResource(const store::UserRecord& user,
                                      const store::OrganisationRecord& org) {
  json::object coding{{"system", access::kRoleCodeSystem}, {"code", user.role}};
  return json::object{
      {"resourceType", "PractitionerRole"},
      {"id", PractitionerRoleIdFor(user)},
      {"active", user.enabled},
      {"practitioner", json::object{{"reference", "Practitioner/" + PractitionerIdFor(user)}}},
      {"organization", json::object{{"reference", "Organization/" + org.organization_id},
                                    {"display", base::ReplaceInvalidUtf8(org.name)}}},
      {"code", json::array{json::object{{"coding", json::array{coding}}, {"text", user.role}}}}};
}

json::object PutEntry(json::object resource) {
  std::string url = std::string(resource.at("resourceType").as_string()) + "/" +
                    std::string(resource.at("id").as_string());
  return json::object{{"resource", std::move(resource)},
                      {"request", json::object{{"method", "PUT"}, {"url", url}}}};
}

base::Status RunTransaction(interactions::FhirService& service, json::array entries) {
  json::object bundle{
      {"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", std::move(entries)}};
  interactions::Response response =
      service.ProcessBundle(DirectoryContext(), json::serialize(bundle));
  if (response.status >= 300) {
    return base::MakeError(base::ErrorCode::kInternal,
                           "writing the directory's resources failed: HTTP " +
                               std::to_string(response.status) + ": " + response.body);
  }
  return base::Status::Ok();
}

// The id of an Organization with this ODS code that the record already holds, or "".
base::Result<std::string> ExistingOrganizationId(interactions::FhirService& service,
                                                 const std::string& ods_code) {
  interactions::QueryParams params{
      {"identifier", std::string(access::kOdsIdentifierSystem) + "|" + ods_code},
      {"_elements", "id"},
      {"_count", "1"}};
  interactions::Response response = service.Search(DirectoryContext(), "Organization", params);
  if (response.status != 200) {
    return base::MakeError(base::ErrorCode::kInternal,
                           "searching for Organization " + ods_code + " failed: " + response.body);
  }
  boost::system::error_code ec;
  json::value bundle = json::parse(response.body, ec);
  if (ec || !bundle.is_object()) return std::string();
  const auto* entries = bundle.as_object().if_contains("entry");
  if (!entries || !entries->is_array() || entries->as_array().empty()) return std::string();
  const auto& entry = entries->as_array().front().as_object();
  const auto& resource = entry.at("resource").as_object();
  return std::string(resource.at("id").as_string());
}

}  // namespace

std::string OrganizationIdFor(std::string_view ods_code) { return "ods-" + std::string(ods_code); }
std::string PractitionerIdFor(const store::UserRecord& user) {
  return "carerecord-user-" + std::to_string(user.key);
}
std::string PractitionerRoleIdFor(const store::UserRecord& user) {
  return "carerecord-user-" + std::to_string(user.key) + "-role";
}

base::Result<DirectorySyncCounts> SyncDirectoryToRecord(store::IdentityRecords& records,
                                                        store::Store& store) {
  access::OpenPolicy policy;  // the directory's own reads: it writes what it reads
  interactions::ServiceOptions options;
  options.source = std::string(kDirectorySource);
  interactions::FhirService service(store, policy, nullptr, options);
  DirectorySyncCounts counts;

  auto organisations = records.ListOrganisations();
  if (!organisations.ok()) return organisations.error();
  std::map<std::string, store::OrganisationRecord> by_code;
  for (store::OrganisationRecord& org : organisations.value()) {
    if (org.revision > org.synced_revision) {
      const std::string ours = OrganizationIdFor(org.ods_code);
      if (org.organization_id.empty()) {
        auto existing = ExistingOrganizationId(service, org.ods_code);
        if (!existing.ok()) return existing.error();
        org.organization_id = existing->empty() ? ours : existing.value();
      }
      // An Organization of another source is that source's: referred to, never rewritten.
      if (org.organization_id == ours) {
        CR_RETURN_IF_ERROR(
            RunTransaction(service, json::array{PutEntry(OrganizationResource(org, ours))}));
      }
      CR_RETURN_IF_ERROR(
          records.MarkOrganisationSynced(org.key, org.revision, org.organization_id));
      ++counts.organisations;
    }
    by_code[org.ods_code] = std::move(org);
  }

  auto users = records.ListUsers();
  if (!users.ok()) return users.error();
  json::array entries;
  std::vector<const store::UserRecord*> written;
  auto flush = [&]() -> base::Status {
    if (!entries.empty()) CR_RETURN_IF_ERROR(RunTransaction(service, std::move(entries)));
    entries = json::array();
    for (const store::UserRecord* user : written) {
      CR_RETURN_IF_ERROR(records.MarkUserSynced(user->key, user->revision));
      ++counts.users;
    }
    written.clear();
    return base::Status::Ok();
  };
  for (const store::UserRecord& user : users.value()) {
    if (user.revision <= user.synced_revision) continue;
    auto role = access::ParseRole(user.role);
    if (!role || !access::IsStaffRole(*role)) {
      // A patient user is their Patient, which the record holds already.
      CR_RETURN_IF_ERROR(records.MarkUserSynced(user.key, user.revision));
      continue;
    }
    auto org = by_code.find(user.ods_code);
    if (org == by_code.end() || org->second.organization_id.empty()) continue;  // next time
    entries.push_back(PutEntry(PractitionerResource(user)));
    entries.push_back(PutEntry(PractitionerRoleResource(user, org->second)));
    written.push_back(&user);
    if (written.size() >= kUsersPerTransaction) CR_RETURN_IF_ERROR(flush());
  }
  CR_RETURN_IF_ERROR(flush());
  return counts;
}

DirectorySyncLoop::DirectorySyncLoop(std::string data_directory, store::Store& store,
                                     std::chrono::milliseconds interval)
    : data_directory_(std::move(data_directory)), store_(store), interval_(interval) {}

DirectorySyncLoop::~DirectorySyncLoop() { Stop(); }

base::Status DirectorySyncLoop::Start() {
  auto records = store::OpenSqliteIdentityRecords(data_directory_);
  if (!records.ok()) return records.error();
  records_ = std::move(records).value();
  thread_ = std::thread([this] { Run(); });
  return base::Status::Ok();
}

void DirectorySyncLoop::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DirectorySyncLoop::Run() {
  int64_t synced_change = -1;
  std::string last_error;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    auto change = records_->ChangeCounter();
    if (change.ok() && change.value() != synced_change) {
      auto synced = SyncDirectoryToRecord(*records_, store_);
      if (synced.ok()) {
        synced_change = change.value();
        last_error.clear();
      } else if (synced.error().message != last_error) {
        // Retried at the next tick; said once, not every second.
        last_error = synced.error().message;
        std::fprintf(stderr, "carerecord: directory sync: %s\n", last_error.c_str());
      }
    }
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

}  // namespace carerecord::app
