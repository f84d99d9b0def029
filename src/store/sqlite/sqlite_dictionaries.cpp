// BodyDictionaries: training, storing and re-encoding (see sqlite_dictionaries.h).

#include "store/sqlite/sqlite_dictionaries.h"

#include <algorithm>
#include <cstdio>

namespace carerecord::store {

namespace {
constexpr auto kFirstBackOff = std::chrono::milliseconds(500);
constexpr auto kMaxBackOff = std::chrono::seconds(60);
constexpr int kMaxBodiesPerBatch = 20000;  // a bounded write-back; the next batch takes the rest
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
    Spawn([this, type = type, samples = std::move(samples)] {
      std::string dictionary = BodyCodec::TrainDictionary(samples);
      if (dictionary.empty()) return;
      std::lock_guard lock(mutex_);
      trained_.emplace_back(type, std::move(dictionary));
    });
  }
}

void BodyDictionaries::StoreAndReencode(uint64_t applied_through,
                                        const std::function<uint64_t()>& queued_through) {
  JoinFinished();
  auto now = std::chrono::steady_clock::now();
  std::erase_if(waiting_, [&](const std::pair<std::string, uint64_t>& type) {
    if (type.second > applied_through) return false;
    to_reencode_.push_back(type.first);
    return true;
  });
  if (now < next_attempt_) return;
  std::vector<std::pair<std::string, std::string>> trained;
  {
    std::lock_guard lock(mutex_);
    trained.swap(trained_);
    for (Reencoded& batch : reencoded_) to_write_back_.push_back(std::move(batch));
    reencoded_.clear();
  }
  if (trained.empty() && to_reencode_.empty() && to_write_back_.empty()) return;
  base::Status failed;
  std::vector<std::pair<std::string, std::string>> unstored;
  for (auto& [type, dictionary] : trained) {
    base::Status status = failed.ok() ? Store(type, dictionary) : failed;
    if (status.ok()) {
      waiting_.emplace_back(type, queued_through());
    } else {
      failed = status;
      unstored.emplace_back(std::move(type), std::move(dictionary));
    }
  }
  std::vector<Reencoded> batches;
  batches.swap(to_write_back_);
  for (Reencoded& batch : batches) {
    if (batch.read_failed) {
      failed = base::MakeError(base::ErrorCode::kInternal, "cannot read bodies to re-encode");
      to_reencode_.push_back(batch.type);
      continue;
    }
    base::Status status = failed.ok() ? WriteBack(batch) : failed;
    if (!status.ok()) {
      failed = status;
      to_write_back_.push_back(std::move(batch));
    } else if (batch.more) {
      to_reencode_.push_back(batch.type);
    }
  }
  if (failed.ok()) {
    std::vector<std::string> types;
    types.swap(to_reencode_);
    for (const std::string& type : types) StartReencoding(type);
    back_off_ = std::chrono::milliseconds(0);
    return;
  }
  {
    std::lock_guard lock(mutex_);
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

// Re-encodes, on a thread of its own and a reader connection, the bodies of `type` written
// before it had a dictionary (the training samples and their neighbours). Bodies never change
// once written, so the batch stays right until the writer writes it back.
void BodyDictionaries::StartReencoding(const std::string& type) {
  Spawn([this, type] {
    Reencoded batch;
    batch.type = type;
    auto db = open_reader_ ? open_reader_() : nullptr;
    batch.read_failed = db == nullptr;
    if (db) {
      auto select = db->Prepare(
          "SELECT v.vid, v.body FROM version v JOIN resource r ON r.pk = v.pk "
          "WHERE r.type_id = ? AND substr(v.body, 1, 1) IN (X'5A', X'7A') LIMIT " +
          std::to_string(kMaxBodiesPerBatch));
      batch.read_failed = !select.ok();
      if (select.ok()) select->Bind(1, names_.types.Find(type));
      while (select.ok()) {
        auto row = select->Step();
        if (!row.ok()) batch.read_failed = true;
        if (!row.ok() || !row.value()) break;
        auto body = codec_.Reencode(type, select->Blob(1));
        if (!body.ok()) continue;  // left as it is
        batch.bodies.emplace_back(select->Int(0), std::move(body).value());
      }
      batch.more = batch.bodies.size() == static_cast<size_t>(kMaxBodiesPerBatch);
    }  // the statement is finalized before its connection closes
    db.reset();
    if (!batch.read_failed && batch.bodies.empty()) return;
    std::lock_guard lock(mutex_);
    reencoded_.push_back(std::move(batch));
  });
}

// Writes a batch of re-encoded bodies back, in one transaction of its own.
base::Status BodyDictionaries::WriteBack(const Reencoded& batch) {
  CR_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  auto update = db_.Cached("UPDATE version SET body = ? WHERE vid = ?");
  base::Status status = update.ok() ? base::Status::Ok() : base::Status(update.error());
  for (size_t i = 0; status.ok() && i < batch.bodies.size(); ++i) {
    (*update)->BindBlob(1, batch.bodies[i].second).Bind(2, batch.bodies[i].first);
    status = (*update)->Run();
  }
  if (status.ok()) status = db_.Exec("COMMIT");
  if (!status.ok()) (void)db_.Exec("ROLLBACK");
  return status;
}

void BodyDictionaries::Spawn(std::function<void()> work) {
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::thread thread([work = std::move(work), done] {
    work();
    done->store(true, std::memory_order_release);
  });
  threads_.push_back(Background{std::move(thread), std::move(done)});
}

void BodyDictionaries::JoinFinished() {
  std::erase_if(threads_, [](Background& background) {
    if (!background.done->load(std::memory_order_acquire)) return false;
    background.thread.join();
    return true;
  });
}

void BodyDictionaries::Stop() {
  for (Background& background : threads_) background.thread.join();
  threads_.clear();
}

}  // namespace carerecord::store
