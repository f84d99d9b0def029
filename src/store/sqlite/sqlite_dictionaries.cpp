// BodyDictionaries: training, storing and re-encoding (see sqlite_dictionaries.h).

#include "store/sqlite/sqlite_dictionaries.h"

#include <algorithm>
#include <cstdio>

namespace carerecord::store {

namespace {
constexpr auto kFirstBackOff = std::chrono::milliseconds(500);
constexpr auto kMaxBackOff = std::chrono::seconds(60);
}  // namespace

// Offers committed bodies of types that have no dictionary yet; when a type has enough, its
// dictionary is trained on a background thread (it takes tens of milliseconds) and stored by
// the writer after a later group.
void BodyDictionaries::Learn(const std::vector<const WriteTransaction*>& committed) {
  for (const WriteTransaction* transaction : committed) {
    for (const PreparedWrite& write : transaction->writes) {
      if (!write.is_delete && !codec_.HasDictionary(write.type)) {
        codec_.OfferSample(write.type, write.json);
      }
    }
  }
  for (auto& [type, samples] : codec_.TakeTrainingSets()) {
    trainers_.emplace_back([this, type = type, samples = std::move(samples)] {
      std::string dictionary = BodyCodec::TrainDictionary(samples);
      if (dictionary.empty()) return;
      std::lock_guard lock(trained_mutex_);
      trained_.emplace_back(type, std::move(dictionary));
    });
  }
}

void BodyDictionaries::StoreAndReencode() {
  auto now = std::chrono::steady_clock::now();
  if (now < next_attempt_) return;
  std::vector<std::pair<std::string, std::string>> trained;
  {
    std::lock_guard lock(trained_mutex_);
    trained.swap(trained_);
  }
  if (trained.empty() && to_reencode_.empty()) return;
  base::Status failed;
  std::vector<std::pair<std::string, std::string>> unstored;
  for (auto& [type, dictionary] : trained) {
    base::Status status = failed.ok() ? Store(type, dictionary) : failed;
    if (status.ok()) {
      to_reencode_.push_back(type);
    } else {
      failed = status;
      unstored.emplace_back(std::move(type), std::move(dictionary));
    }
  }
  std::vector<std::string> reencode;
  reencode.swap(to_reencode_);
  for (std::string& type : reencode) {
    base::Status status = failed.ok() ? Reencode(type) : failed;
    if (!status.ok()) {
      failed = status;
      to_reencode_.push_back(std::move(type));
    }
  }
  if (failed.ok()) {
    back_off_ = std::chrono::milliseconds(0);
    return;
  }
  {
    std::lock_guard lock(trained_mutex_);
    for (auto& pending : unstored) trained_.push_back(std::move(pending));
  }
  back_off_ = std::min<std::chrono::milliseconds>(
      kMaxBackOff, back_off_.count() ? back_off_ * 2 : kFirstBackOff);
  next_attempt_ = now + back_off_;
  std::fprintf(stderr, "carerecord: body dictionaries: %s; tried again in %lld ms\n",
               failed.error().message.c_str(), static_cast<long long>(back_off_.count()));
}

base::Status BodyDictionaries::Store(const std::string& type, const std::string& dictionary) {
  auto stmt = db_.Cached("INSERT INTO body_dictionary (type_id, dictionary) VALUES (?, ?)");
  if (!stmt.ok()) return stmt.error();
  (*stmt)->Bind(1, names_.types.Find(type)).BindBlob(2, dictionary);
  CR_RETURN_IF_ERROR((*stmt)->Run());  // autocommit: durable before any body names it
  codec_.AddDictionary(sqlite3_last_insert_rowid(db_.raw()), type, dictionary);
  return base::Status::Ok();
}

// Re-encodes the bodies of `type` written before it had a dictionary (the training samples and
// their neighbours), in one transaction of its own.
base::Status BodyDictionaries::Reencode(const std::string& type) {
  constexpr int kMaxBodies = 20000;  // bounded pause; a later dictionary takes the rest
  auto select = db_.Prepare(
      "SELECT v.vid, v.body FROM version v JOIN resource r ON r.pk = v.pk "
      "WHERE r.type_id = ? AND substr(v.body, 1, 1) = X'5A' LIMIT " +
      std::to_string(kMaxBodies));
  if (!select.ok()) return select.error();
  select->Bind(1, names_.types.Find(type));
  std::vector<std::pair<int64_t, std::string>> updates;
  for (;;) {
    auto row = select->Step();
    if (!row.ok()) return row.error();
    if (!row.value()) break;
    auto json = codec_.Decode(select->Blob(1));
    if (!json.ok()) return json.error();
    updates.emplace_back(select->Int(0), codec_.Encode(type, json.value()));
  }
  if (updates.empty()) return base::Status::Ok();
  CR_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  auto update = db_.Cached("UPDATE version SET body = ? WHERE vid = ?");
  base::Status status = update.ok() ? base::Status::Ok() : base::Status(update.error());
  for (size_t i = 0; status.ok() && i < updates.size(); ++i) {
    (*update)->BindBlob(1, updates[i].second).Bind(2, updates[i].first);
    status = (*update)->Run();
  }
  if (status.ok()) status = db_.Exec("COMMIT");
  if (!status.ok()) (void)db_.Exec("ROLLBACK");
  return status;
}

void BodyDictionaries::Stop() {
  for (std::thread& trainer : trainers_) trainer.join();
  trainers_.clear();
}

}  // namespace carerecord::store
