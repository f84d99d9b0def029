// Compression of stored resource bodies. Small JSON documents compress poorly on their own, so
// once enough bodies of a resource type have been seen, a zstd dictionary is trained for that
// type and used for every later body of it (about 3x smaller than plain zstd on Synthea data).
// Each body starts with a byte saying how it was encoded, so old bodies stay readable.
// meta.lastUpdated is not final when a body is encoded: the writer takes it at commit, in commit
// order, and keeps it in the version row. A body encoded with `stamp_at` records where that text
// starts, and Decode with the version's time writes it there; so bodies are compressed on the
// request threads, before the commit queue, and a large one never holds commits queued behind it.
// A BodyCodec is shared by all threads: Encode/Decode are thread-safe; dictionaries are only
// added, never changed or removed.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace carerecord::store {

class BodyCodec {
 public:
  BodyCodec();
  ~BodyCodec();

  // With a dictionary for `type` when there is one. `stamp_at`: where meta.lastUpdated's text
  // starts in `json` (npos: the body has none to stamp).
  std::string Encode(std::string_view type, std::string_view json,
                     size_t stamp_at = std::string_view::npos) const;
  // The JSON with meta.lastUpdated set to `last_updated_ms`, the version's commit time.
  base::Result<std::string> Decode(std::string_view stored, int64_t last_updated_ms) const;
  // The JSON as encoded, meta.lastUpdated as the writer prepared it: for readers that do not
  // hand the resource out (text matching, reindexing).
  base::Result<std::string> Decode(std::string_view stored) const;
  // Decode, then parse: the stored resource as a JSON object (an error if it is not one).
  base::Result<boost::json::object> DecodeObject(std::string_view stored) const;
  // The body encoded again with the type's current dictionary, its stamp place kept.
  base::Result<std::string> Reencode(std::string_view type, std::string_view stored) const;

  // Registers a dictionary stored under `id` for `type` (loaded at open, or just trained).
  void AddDictionary(int64_t id, const std::string& type, std::string bytes);
  bool HasDictionary(std::string_view type) const;

  // Training material: the writer offers each committed body; when a type without a dictionary
  // has enough, TakeTrainingSet hands back its samples (once) for TrainDictionary.
  void OfferSample(const std::string& type, std::string_view json);
  std::vector<std::pair<std::string, std::vector<std::string>>> TakeTrainingSets();
  // A dictionary trained on `samples`, or empty when zstd cannot make a useful one.
  static std::string TrainDictionary(const std::vector<std::string>& samples);

 private:
  struct Dictionary;
  // Decodes the frame; `stamp_at` receives where meta.lastUpdated starts (npos: nowhere).
  base::Result<std::string> DecodeFrame(std::string_view stored, size_t& stamp_at) const;
  mutable std::shared_mutex mutex_;
  std::unordered_map<int64_t, std::shared_ptr<Dictionary>> by_id_;
  std::unordered_map<std::string, std::shared_ptr<Dictionary>> by_type_;

  std::mutex samples_mutex_;
  std::map<std::string, std::vector<std::string>> samples_;
  std::map<std::string, size_t> sample_bytes_;
  std::map<std::string, bool> handed_out_;
};

// Plain encoding without dictionaries, for callers that have no codec.
std::string EncodeBody(std::string_view json, size_t stamp_at = std::string_view::npos);

}  // namespace carerecord::store
