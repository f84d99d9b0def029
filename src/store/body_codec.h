// Compression of stored resource bodies. Small JSON documents compress poorly on their own, so
// once enough bodies of a resource type have been seen, a zstd dictionary is trained for that
// type and used for every later body of it (about 3x smaller than plain zstd on Synthea data).
// Each body starts with a byte saying how it was encoded, so old bodies stay readable.
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

  // With a dictionary for `type` when there is one.
  std::string Encode(std::string_view type, std::string_view json) const;
  base::Result<std::string> Decode(std::string_view stored) const;
  // Decode, then parse: the stored resource as a JSON object (an error if it is not one).
  base::Result<boost::json::object> DecodeObject(std::string_view stored) const;

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
  mutable std::shared_mutex mutex_;
  std::unordered_map<int64_t, std::shared_ptr<Dictionary>> by_id_;
  std::unordered_map<std::string, std::shared_ptr<Dictionary>> by_type_;

  std::mutex samples_mutex_;
  std::map<std::string, std::vector<std::string>> samples_;
  std::map<std::string, size_t> sample_bytes_;
  std::map<std::string, bool> handed_out_;
};

// Plain encoding without dictionaries, for callers that have no codec.
std::string EncodeBody(std::string_view json);

}  // namespace carerecord::store
