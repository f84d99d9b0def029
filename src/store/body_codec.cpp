#include "store/body_codec.h"

#define ZDICT_STATIC_LINKING_ONLY  // for ZDICT_trainFromBuffer_fastCover with fixed parameters
#include <zdict.h>
#include <zstd.h>

#include <cstring>

#include "fhir/fhir_date.h"
#include "fhir/json_parse.h"

namespace carerecord::store {
namespace {

constexpr char kRaw = 'R';         // stored as is (tiny bodies, where a frame would be larger)
constexpr char kZstd = 'Z';        // one zstd frame
constexpr char kDictionary = 'D';  // 4-byte little-endian dictionary id, then a zstd frame
constexpr int kLevel = 3;          // the speed/size knee for small JSON documents
constexpr size_t kSamplesToTrain = 400;
constexpr size_t kMaxDictionaryBytes = 32 * 1024;

struct Contexts {
  ZSTD_CCtx* compress = ZSTD_createCCtx();
  ZSTD_DCtx* decompress = ZSTD_createDCtx();
  ~Contexts() {
    ZSTD_freeCCtx(compress);
    ZSTD_freeDCtx(decompress);
  }
};

Contexts& ThreadContexts() {
  thread_local Contexts contexts;
  return contexts;
}

base::Error Corrupt() { return base::MakeError(base::ErrorCode::kInternal, "corrupt stored body"); }

}  // namespace

struct BodyCodec::Dictionary {
  int64_t id = 0;
  ZSTD_CDict* cdict = nullptr;
  ZSTD_DDict* ddict = nullptr;
  ~Dictionary() {
    ZSTD_freeCDict(cdict);
    ZSTD_freeDDict(ddict);
  }
};

BodyCodec::BodyCodec() = default;
BodyCodec::~BodyCodec() = default;

namespace {

// A stamped body's kind is the lower-case letter of its frame's kind, followed by the 4-byte
// little-endian offset of meta.lastUpdated's text in the JSON.
constexpr char kStamped = 'a' - 'A';

void AppendUint32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint32_t ReadUint32(std::string_view bytes) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= uint32_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  return value;
}

// The header: the kind, then the stamp's offset when there is one to record.
std::string Header(char kind, std::string_view json, size_t stamp_at) {
  std::string out;
  if (stamp_at >= json.size() || stamp_at > UINT32_MAX) {
    out.push_back(kind);
  } else {
    out.push_back(static_cast<char>(kind + kStamped));
    AppendUint32(out, static_cast<uint32_t>(stamp_at));
  }
  return out;
}

}  // namespace

std::string EncodeBody(std::string_view json, size_t stamp_at) {
  std::string out = Header(json.size() < 64 ? kRaw : kZstd, json, stamp_at);
  size_t header = out.size();
  if (json.size() < 64) {
    out.append(json);
    return out;
  }
  out.resize(header + ZSTD_compressBound(json.size()));
  size_t n = ZSTD_compressCCtx(ThreadContexts().compress, out.data() + header, out.size() - header,
                               json.data(), json.size(), kLevel);
  if (ZSTD_isError(n)) {  // cannot happen with a bound-sized buffer; keep the data anyway
    out = Header(kRaw, json, stamp_at);
    out.append(json);
    return out;
  }
  out.resize(header + n);
  return out;
}

std::string BodyCodec::Encode(std::string_view type, std::string_view json, size_t stamp_at) const {
  std::shared_ptr<Dictionary> dictionary;
  {
    std::shared_lock lock(mutex_);
    auto it = by_type_.find(std::string(type));
    if (it != by_type_.end()) dictionary = it->second;
  }
  if (!dictionary || json.size() < 16) return EncodeBody(json, stamp_at);
  std::string out = Header(kDictionary, json, stamp_at);
  AppendUint32(out, static_cast<uint32_t>(dictionary->id));
  size_t header = out.size();
  out.resize(header + ZSTD_compressBound(json.size()));
  size_t n =
      ZSTD_compress_usingCDict(ThreadContexts().compress, out.data() + header, out.size() - header,
                               json.data(), json.size(), dictionary->cdict);
  if (ZSTD_isError(n)) return EncodeBody(json, stamp_at);
  out.resize(header + n);
  return out;
}

base::Result<std::string> BodyCodec::DecodeFrame(std::string_view stored, size_t& stamp_at) const {
  stamp_at = std::string_view::npos;
  if (stored.empty()) return Corrupt();
  char kind = stored[0];
  std::string_view payload = stored.substr(1);
  if (kind == kRaw + kStamped || kind == kZstd + kStamped || kind == kDictionary + kStamped) {
    if (payload.size() < 4) return Corrupt();
    stamp_at = ReadUint32(payload);
    payload.remove_prefix(4);
    kind = static_cast<char>(kind - kStamped);
  }
  const ZSTD_DDict* ddict = nullptr;
  std::shared_ptr<Dictionary> keep;
  switch (kind) {
    case kRaw:
      return std::string(payload);
    case kZstd:
      break;
    case kDictionary: {
      if (payload.size() < 4) return Corrupt();
      uint32_t id = ReadUint32(payload);
      payload.remove_prefix(4);
      std::shared_lock lock(mutex_);
      auto it = by_id_.find(id);
      if (it == by_id_.end()) {
        return base::MakeError(
            base::ErrorCode::kInternal,
            "stored body needs dictionary " + std::to_string(id) + ", which is missing");
      }
      keep = it->second;
      ddict = keep->ddict;
      break;
    }
    default:
      return base::MakeError(base::ErrorCode::kInternal, "unknown body encoding");
  }
  unsigned long long size = ZSTD_getFrameContentSize(payload.data(), payload.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) return Corrupt();
  std::string out(size, '\0');
  ZSTD_DCtx* dctx = ThreadContexts().decompress;
  size_t n =
      ddict ? ZSTD_decompress_usingDDict(dctx, out.data(), out.size(), payload.data(),
                                         payload.size(), ddict)
            : ZSTD_decompressDCtx(dctx, out.data(), out.size(), payload.data(), payload.size());
  if (ZSTD_isError(n) || n != size) return Corrupt();
  return out;
}

base::Result<std::string> BodyCodec::Decode(std::string_view stored) const {
  size_t stamp_at = 0;
  return DecodeFrame(stored, stamp_at);
}

base::Result<std::string> BodyCodec::Decode(std::string_view stored,
                                            int64_t last_updated_ms) const {
  size_t stamp_at = 0;
  auto json = DecodeFrame(stored, stamp_at);
  if (!json.ok() || stamp_at == std::string_view::npos) return json;
  size_t end = stamp_at < json->size() ? json->find('"', stamp_at) : std::string::npos;
  if (end == std::string::npos) return Corrupt();
  json->replace(stamp_at, end - stamp_at, fhir::FormatInstant(last_updated_ms));
  return json;
}

base::Result<std::string> BodyCodec::Reencode(std::string_view type,
                                              std::string_view stored) const {
  size_t stamp_at = 0;
  auto json = DecodeFrame(stored, stamp_at);
  if (!json.ok()) return json.error();
  return Encode(type, *json, stamp_at);
}

void BodyCodec::AddDictionary(int64_t id, const std::string& type, std::string bytes) {
  auto dictionary = std::make_shared<Dictionary>();
  dictionary->id = id;
  dictionary->cdict = ZSTD_createCDict(bytes.data(), bytes.size(), kLevel);
  dictionary->ddict = ZSTD_createDDict(bytes.data(), bytes.size());
  if (!dictionary->cdict || !dictionary->ddict) return;
  std::unique_lock lock(mutex_);
  by_id_[id] = dictionary;
  by_type_[type] = dictionary;  // the newest dictionary of a type encodes from now on
}

bool BodyCodec::HasDictionary(std::string_view type) const {
  std::shared_lock lock(mutex_);
  return by_type_.count(std::string(type)) > 0;
}

void BodyCodec::OfferSample(const std::string& type, std::string_view json) {
  std::lock_guard lock(samples_mutex_);
  if (handed_out_[type]) return;
  auto& samples = samples_[type];
  if (samples.size() >= kSamplesToTrain) return;
  samples.emplace_back(json);
  sample_bytes_[type] += json.size();
}

std::vector<std::pair<std::string, std::vector<std::string>>> BodyCodec::TakeTrainingSets() {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  std::lock_guard lock(samples_mutex_);
  for (auto& [type, samples] : samples_) {
    if (samples.size() < kSamplesToTrain || handed_out_[type]) continue;
    handed_out_[type] = true;
    out.emplace_back(type, std::move(samples));
    samples.clear();
  }
  return out;
}

std::string BodyCodec::TrainDictionary(const std::vector<std::string>& samples) {
  std::string joined;
  std::vector<size_t> sizes;
  for (const std::string& sample : samples) {
    joined += sample;
    sizes.push_back(sample.size());
  }
  size_t capacity = std::min(kMaxDictionaryBytes, std::max<size_t>(joined.size() / 10, 1024));
  std::string dictionary(capacity, '\0');
  // Fixed k and d: the default trainer searches the parameter space, costing a second of CPU
  // per type for a gain of a few percent.
  ZDICT_fastCover_params_t params{};
  params.k = 200;
  params.d = 8;
  params.f = 20;
  params.steps = 0;
  params.nbThreads = 1;
  params.accel = 1;
  params.zParams.compressionLevel = kLevel;
  size_t n =
      ZDICT_trainFromBuffer_fastCover(dictionary.data(), dictionary.size(), joined.data(),
                                      sizes.data(), static_cast<unsigned>(sizes.size()), params);
  if (ZDICT_isError(n)) return {};
  dictionary.resize(n);
  return dictionary;
}

base::Result<boost::json::object> BodyCodec::DecodeObject(std::string_view stored) const {
  auto json = Decode(stored);
  if (!json.ok()) return json.error();
  // Numbers as stored (0.010 stays 0.010), and as deep as a request body may be.
  fhir::JsonLimits limits;
  limits.max_depth = fhir::kMaxStoredJsonDepth;
  auto parsed = fhir::ParseFhirJson(*json, limits);
  if (!parsed.ok() || !parsed->is_object()) {
    return base::MakeError(base::ErrorCode::kInternal, "a stored body is not a JSON object");
  }
  return std::move(parsed->as_object());
}

}  // namespace carerecord::store
