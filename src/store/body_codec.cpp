#include "store/body_codec.h"

#include <zstd.h>

namespace carerecord::store {
namespace {

constexpr char kRaw = 'R';   // stored as is (tiny bodies, where a frame would be larger)
constexpr char kZstd = 'Z';  // one zstd frame
constexpr int kLevel = 3;    // the speed/size knee for small JSON documents

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

}  // namespace

std::string EncodeBody(std::string_view json) {
  std::string out;
  if (json.size() < 64) {
    out.reserve(json.size() + 1);
    out.push_back(kRaw);
    out.append(json);
    return out;
  }
  out.resize(1 + ZSTD_compressBound(json.size()));
  out[0] = kZstd;
  size_t n = ZSTD_compressCCtx(ThreadContexts().compress, out.data() + 1, out.size() - 1,
                               json.data(), json.size(), kLevel);
  if (ZSTD_isError(n)) {  // cannot happen with a bound-sized buffer; keep the data anyway
    out.assign(1, kRaw);
    out.append(json);
    return out;
  }
  out.resize(1 + n);
  return out;
}

base::Result<std::string> DecodeBody(std::string_view stored) {
  if (stored.empty()) return base::MakeError(base::ErrorCode::kInternal, "empty stored body");
  std::string_view payload = stored.substr(1);
  if (stored[0] == kRaw) return std::string(payload);
  if (stored[0] != kZstd) {
    return base::MakeError(base::ErrorCode::kInternal, "unknown body encoding");
  }
  unsigned long long size = ZSTD_getFrameContentSize(payload.data(), payload.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return base::MakeError(base::ErrorCode::kInternal, "corrupt stored body");
  }
  std::string out(size, '\0');
  size_t n = ZSTD_decompressDCtx(ThreadContexts().decompress, out.data(), out.size(),
                                 payload.data(), payload.size());
  if (ZSTD_isError(n) || n != size) {
    return base::MakeError(base::ErrorCode::kInternal, "corrupt stored body");
  }
  return out;
}

}  // namespace carerecord::store
