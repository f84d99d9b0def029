#include "feeds/mapping_processor.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <thread>

#include "feeds/apply_mapped.h"
#include "hl7v2/message.h"
#include "mapping/hl7v2_mapping.h"

namespace carerecord::feeds {
namespace {

mapping::FeedContext FeedOf(const InboxMessage& message) {
  return mapping::FeedContext{message.feed_name, message.ods_code, message.sending_facility,
                              message.received_ms, message.control_id};
}

// A message parsed and mapped, waiting to be applied.
struct Prepared {
  size_t index = 0;  // in the batch
  mapping::FeedContext feed;
  mapping::MappedMessage mapped;
};

// Never throws: it runs on the batch's threads, where an exception would end the process, and
// one message's failure is its own.
base::Status Apply(interactions::FhirService& service, const Prepared& p) {
  try {
    auto applied = ApplyMappedMessage(service, p.mapped, p.feed);
    if (!applied.ok()) return applied.error();
    return base::Status::Ok();
  } catch (const std::exception& e) {
    return base::MakeError(base::ErrorCode::kInternal,
                           std::string("processing threw: ") + e.what());
  } catch (...) {
    return base::MakeError(base::ErrorCode::kInternal, "processing threw a non-exception");
  }
}

// The keys a message is found by in the record: every identity it writes (scoped to its
// organisation by the identity system), and a merge's loser.
std::vector<std::string> IdentityKeys(const Prepared& p) {
  std::vector<std::string> keys;
  for (const mapping::MappedResource& r : p.mapped.resources) {
    keys.push_back(r.fixed_id.empty()
                       ? r.type + '\x1f' + r.identity_system + '\x1f' + r.identity_value
                       : r.type + "\x1f\x1f" + r.fixed_id);
  }
  if (p.mapped.merge) {
    keys.push_back("Patient\x1f" + p.mapped.merge->loser_system + '\x1f' +
                   p.mapped.merge->loser_value);
  }
  return keys;
}

// One round: messages that share no identity, applied together. Never throws (see Apply).
std::vector<base::Status> ApplyRound(interactions::FhirService& service,
                                     const std::vector<const Prepared*>& round) {
  if (round.size() == 1) return {Apply(service, *round[0])};
  std::vector<MessageToApply> messages;
  messages.reserve(round.size());
  for (const Prepared* p : round) messages.push_back(MessageToApply{&p->mapped, &p->feed});
  std::vector<base::Status> statuses;
  try {
    for (auto& applied : ApplyMappedMessages(service, messages)) {
      statuses.push_back(applied.ok() ? base::Status::Ok() : base::Status(applied.error()));
    }
    return statuses;
  } catch (const std::exception&) {
  } catch (...) {
  }
  // Something threw while they were together: each alone, so the cause is its message's.
  statuses.clear();
  for (const Prepared* p : round) statuses.push_back(Apply(service, *p));
  return statuses;
}

size_t Root(std::vector<size_t>& parent, size_t i) {
  while (parent[i] != i) i = parent[i] = parent[parent[i]];
  return i;
}

// Applies `group`: chains of messages sharing an identity, each in event time order (a merge
// in its arrival place). A thread takes up to `per_transaction` chains at a time and applies them
// in rounds: the next message of each of its chains, written together in one transaction (their
// identities are disjoint, so planning them on the same state is planning each on its own), and
// the round after only once that one is committed. Up to `parallel` threads at once.
void ApplyGroup(interactions::FhirService& service, std::vector<const Prepared*> group,
                const MappingProcessorOptions& options, std::vector<base::Status>& outcomes) {
  std::vector<size_t> parent(group.size());
  std::iota(parent.begin(), parent.end(), 0);
  std::map<std::string, size_t> owner;
  for (size_t i = 0; i < group.size(); ++i) {
    for (const std::string& key : IdentityKeys(*group[i])) {
      auto [at, inserted] = owner.emplace(key, i);
      if (!inserted) parent[Root(parent, i)] = Root(parent, at->second);
    }
  }
  std::map<size_t, std::vector<const Prepared*>> by_root;
  for (size_t i = 0; i < group.size(); ++i) by_root[Root(parent, i)].push_back(group[i]);
  std::vector<std::vector<const Prepared*>> chains;
  for (auto& [root, chain] : by_root) {
    // Event time order, the batch's (inbox) order between equal times; a merge (A40) keeps its
    // place in the batch's order among the chain's messages, which are sorted only between
    // merges: a merge does not look at event times (it is applied or refused on the record as
    // it finds it), so its order against what shares an identity with it is the order the
    // messages arrived in, as when each merge cut the whole batch in two.
    for (auto first = chain.begin(); first != chain.end();) {
      auto last = std::find_if(first, chain.end(),
                               [](const Prepared* p) { return p->mapped.merge.has_value(); });
      std::stable_sort(first, last, [](const Prepared* a, const Prepared* b) {
        return a->mapped.event_ms < b->mapped.event_ms;
      });
      first = last == chain.end() ? last : last + 1;
    }
    chains.push_back(std::move(chain));
  }
  const size_t per_transaction = std::max<size_t>(options.per_transaction, 1);
  // Chains shared out evenly: enough threads to use `parallel`, each with at most
  // `per_transaction` chains at a time.
  const size_t threads = std::min<size_t>(std::max(options.parallel, 1), chains.size());
  if (threads == 0) return;
  const size_t slice = std::min(per_transaction, (chains.size() + threads - 1) / threads);
  std::atomic<size_t> next{0};
  auto run = [&] {
    for (size_t first; (first = next.fetch_add(slice)) < chains.size();) {
      const size_t last = std::min(chains.size(), first + slice);
      for (size_t round = 0;; ++round) {
        std::vector<const Prepared*> now;
        for (size_t c = first; c < last; ++c) {
          if (round < chains[c].size()) now.push_back(chains[c][round]);
        }
        if (now.empty()) break;
        std::vector<base::Status> applied = ApplyRound(service, now);
        for (size_t k = 0; k < now.size(); ++k) outcomes[now[k]->index] = std::move(applied[k]);
      }
    }
  };
  std::vector<std::thread> workers;
  for (size_t t = 1; t < threads; ++t) workers.emplace_back(run);
  run();
  for (std::thread& worker : workers) worker.join();
}

}  // namespace

base::Status MappingProcessor::Process(const InboxMessage& message) {
  auto parsed = hl7v2::ParseMessage(message.raw);
  if (!parsed.ok()) return parsed.error().ToError();
  ProcessedMessage processed = MapAndApply(service_, *parsed, FeedOf(message));
  if (processed.refused) return processed.refused->ToError();
  if (processed.failed) return *processed.failed;
  return base::Status::Ok();
}

std::vector<base::Status> MappingProcessor::ProcessBatch(
    const std::vector<InboxMessage>& messages) {
  std::vector<base::Status> outcomes(messages.size(), base::Status::Ok());
  std::vector<Prepared> prepared;
  prepared.reserve(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    auto parsed = hl7v2::ParseMessage(messages[i].raw);
    if (!parsed.ok()) {
      outcomes[i] = parsed.error().ToError();
      continue;
    }
    mapping::FeedContext feed = FeedOf(messages[i]);
    try {
      auto mapped = mapping::MapMessage(*parsed, feed);
      if (!mapped.ok()) {
        outcomes[i] = mapped.error().ToError();
        continue;
      }
      prepared.push_back(Prepared{i, std::move(feed), std::move(mapped).value()});
    } catch (const std::exception& e) {  // this message's alone, as in Apply
      outcomes[i] =
          base::MakeError(base::ErrorCode::kInternal, std::string("mapping threw: ") + e.what());
    }
  }
  // A merge is a member of its chain (the messages sharing an identity with it: every message
  // about its survivor or loser names that Patient), not a cut across the whole batch, so the
  // other chains' rounds are not cut short at each merge.
  std::vector<const Prepared*> all;
  all.reserve(prepared.size());
  for (const Prepared& p : prepared) all.push_back(&p);
  ApplyGroup(service_, std::move(all), options_, outcomes);
  return outcomes;
}

}  // namespace carerecord::feeds
