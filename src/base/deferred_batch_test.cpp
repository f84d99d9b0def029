#include "base/deferred_batch.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace carerecord::base {
namespace {

// Records what it was given and, when flushed, hands it on in one go.
class Gathered final : public DeferredBatch::Group {
 public:
  Gathered(std::string name, std::vector<std::string>& flushed) : name_(name), flushed_(flushed) {}
  void Add(const std::string& item) { items_ += item; }
  void Flush() override { flushed_.push_back(name_ + ":" + items_); }

 private:
  std::string name_;
  std::string items_;
  std::vector<std::string>& flushed_;
};

TEST(DeferredBatch, ItemsForOneKeyAreFlushedTogetherOnceTheBatchCloses) {
  std::vector<std::string> flushed;
  int a = 0, b = 0;  // two destinations
  EXPECT_EQ(DeferredBatch::Current(), nullptr);
  {
    DeferredBatch batch;
    ASSERT_EQ(DeferredBatch::Current(), &batch);
    auto group = [&](int& key, const char* name) -> Gathered& {
      return DeferredBatch::Current()->GroupFor<Gathered>(
          &key, [&] { return std::make_unique<Gathered>(name, flushed); });
    };
    group(a, "a").Add("1");
    group(b, "b").Add("2");
    group(a, "a").Add("3");
    EXPECT_TRUE(flushed.empty());  // nothing handed on while the batch is open
  }
  EXPECT_EQ(flushed, (std::vector<std::string>{"a:13", "b:2"}));
  EXPECT_EQ(DeferredBatch::Current(), nullptr);
}

TEST(DeferredBatch, AnInnerBatchFlushesItsOwnGroupsAndTheOuterOneIsCurrentAgain) {
  std::vector<std::string> flushed;
  int key = 0;
  DeferredBatch outer;
  outer.GroupFor<Gathered>(&key, [&] { return std::make_unique<Gathered>("outer", flushed); })
      .Add("x");
  {
    DeferredBatch inner;
    EXPECT_EQ(DeferredBatch::Current(), &inner);
    inner.GroupFor<Gathered>(&key, [&] { return std::make_unique<Gathered>("inner", flushed); })
        .Add("y");
  }
  EXPECT_EQ(flushed, (std::vector<std::string>{"inner:y"}));
  EXPECT_EQ(DeferredBatch::Current(), &outer);
}

TEST(DeferredBatch, EachThreadHasItsOwn) {
  DeferredBatch batch;
  DeferredBatch* seen = &batch;
  std::thread([&] { seen = DeferredBatch::Current(); }).join();
  EXPECT_EQ(seen, nullptr);
}

}  // namespace
}  // namespace carerecord::base
