// Scheduler scenarios in the style of vLLM's tests/v1/core/test_scheduler.py,
// driven by a fake model that checks the bookkeeping: it keeps a token-id
// "KV cache" addressed through the block tables, and before running a step
// verifies that every earlier position of the sequence holds the right token
// (so a wrong block table, a wrong prefix hit or a reused live block fails).
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>

namespace qs::engine {
namespace {

std::vector<int32_t> iota_tokens(int32_t n, int32_t start = 0) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

SchedulerConfig small_config() {
  SchedulerConfig c;
  c.max_batch_size = 16;
  c.max_num_batched_tokens = 512;
  c.max_seq_len = 1024;
  c.block_size = 16;
  c.num_blocks = 1000;
  c.max_waiting = 100;
  return c;
}

Scheduler make(const SchedulerConfig& c) {
  auto s = Scheduler::Create(c);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return std::move(s).value();
}

Request req(uint64_t id, int32_t prompt_len, int32_t max_tokens, int32_t first = 0) {
  return Request::make(id, iota_tokens(prompt_len, first), max_tokens);
}

class FakeModel {
 public:
  explicit FakeModel(Scheduler& s)
      : s_(s), kv_(static_cast<size_t>(s.config().num_blocks) * s.config().block_size, -1) {}

  // The next token is a function of the whole sequence, so a recomputed
  // (preempted) request must produce the same tokens as an undisturbed one.
  static int32_t next_token(const std::vector<int32_t>& all) {
    uint64_t h = 1469598103934665603ull;
    for (int32_t t : all) h = (h ^ static_cast<uint32_t>(t)) * 1099511628211ull;
    return 5000 + static_cast<int32_t>(h % 1000);
  }

  ScheduleOutput last;
  std::map<uint64_t, std::vector<int32_t>> outputs;  // finished: output tokens
  std::map<uint64_t, FinishReason> reasons;

  std::vector<RequestEvent> step() {
    last = s_.schedule();
    StepResult res;
    const int32_t bs = s_.config().block_size;
    for (const ScheduledSeq& seq : last.seqs) {
      const Request* r = s_.get_request(seq.request_id);
      EXPECT_NE(r, nullptr);
      if (!r) continue;
      EXPECT_EQ(seq.start_pos, r->num_computed_tokens);
      EXPECT_GE(static_cast<int32_t>(seq.block_table.size()) * bs,
                seq.start_pos + seq.num_tokens());
      auto slot = [&](int32_t pos) { return seq.block_table[pos / bs] * bs + pos % bs; };
      for (int32_t p = 0; p < seq.start_pos; ++p) {
        EXPECT_EQ(kv_[slot(p)], r->all_token_ids[p])
            << "request " << seq.request_id << " position " << p;
      }
      for (int32_t j = 0; j < seq.num_tokens(); ++j) {
        EXPECT_EQ(seq.token_ids[j], r->all_token_ids[seq.start_pos + j]);
        kv_[slot(seq.start_pos + j)] = seq.token_ids[j];
      }
      if (seq.needs_logits) res.sampled.push_back({seq.request_id, next_token(r->all_token_ids)});
    }
    std::vector<std::vector<int32_t>> outs;
    for (const auto& sm : res.sampled)
      outs.push_back(s_.get_request(sm.request_id)->output_token_ids);
    auto events = s_.update(res);
    for (const auto& ev : events) {
      if (ev.finished) reasons[ev.request_id] = ev.finish_reason;
    }
    // Record finished requests' outputs from the events (they are forgotten).
    for (size_t k = 0; k < res.sampled.size(); ++k) {
      uint64_t id = res.sampled[k].request_id;
      if (!s_.get_request(id)) {
        outs[k].push_back(res.sampled[k].token);
        outputs[id] = outs[k];
      }
    }
    return events;
  }

  void run_to_completion(int max_steps = 10000) {
    for (int i = 0; i < max_steps && s_.has_unfinished(); ++i) step();
    EXPECT_FALSE(s_.has_unfinished());
  }

 private:
  Scheduler& s_;
  std::vector<int32_t> kv_;  // [num_blocks * block_size] token id per KV slot
};

TEST(Scheduler, ConfigValidation) {
  SchedulerConfig c = small_config();
  c.num_blocks = 0;
  EXPECT_FALSE(Scheduler::Create(c).ok());
  c = small_config();
  c.max_num_batched_tokens = 0;
  EXPECT_FALSE(Scheduler::Create(c).ok());
}

TEST(Scheduler, FcfsAdmissionAndDecodeOneTokenEach) {
  Scheduler s = make(small_config());
  for (uint64_t id : {7, 3, 9}) ASSERT_TRUE(s.add_request(req(id, 20, 5)).ok());
  FakeModel m(s);
  m.step();
  ASSERT_EQ(m.last.seqs.size(), 3u);
  EXPECT_EQ(m.last.seqs[0].request_id, 7u);
  EXPECT_EQ(m.last.seqs[1].request_id, 3u);
  EXPECT_EQ(m.last.seqs[2].request_id, 9u);
  for (const auto& q : m.last.seqs) {
    EXPECT_EQ(q.start_pos, 0);
    EXPECT_EQ(q.num_tokens(), 20);
    EXPECT_TRUE(q.needs_logits);
  }
  EXPECT_EQ(m.last.total_tokens, 60);
  m.step();
  ASSERT_EQ(m.last.seqs.size(), 3u);
  for (const auto& q : m.last.seqs) {
    EXPECT_EQ(q.start_pos, 20);
    EXPECT_EQ(q.num_tokens(), 1);  // decode: the token sampled last step
    EXPECT_EQ(q.token_ids[0], s.get_request(q.request_id)->output_token_ids[0]);
  }
  EXPECT_EQ(s.num_running(), 3);
  EXPECT_EQ(s.num_waiting(), 0);
}

TEST(Scheduler, TokenBudgetChunksPromptsInOrder) {
  SchedulerConfig c = small_config();
  c.max_num_batched_tokens = 150;
  Scheduler s = make(c);
  // Distinct prompts: identical ones would hit the prefix cache.
  for (uint64_t id = 0; id < 3; ++id) {
    ASSERT_TRUE(s.add_request(req(id, 100, 4, static_cast<int32_t>(id) * 1000)).ok());
  }
  FakeModel m(s);
  m.step();
  ASSERT_EQ(m.last.seqs.size(), 2u);
  EXPECT_EQ(m.last.seqs[0].num_tokens(), 100);
  EXPECT_TRUE(m.last.seqs[0].needs_logits);
  EXPECT_EQ(m.last.seqs[1].request_id, 1u);
  EXPECT_EQ(m.last.seqs[1].num_tokens(), 50);  // chunked to the remaining budget
  EXPECT_FALSE(m.last.seqs[1].needs_logits);
  EXPECT_EQ(m.last.total_tokens, 150);
  EXPECT_EQ(s.num_waiting(), 1);
  m.step();
  // Running first: 0 decodes, 1 finishes its prompt, 2 gets the remaining 99.
  ASSERT_EQ(m.last.seqs.size(), 3u);
  EXPECT_EQ(m.last.seqs[0].num_tokens(), 1);
  EXPECT_EQ(m.last.seqs[1].start_pos, 50);
  EXPECT_EQ(m.last.seqs[1].num_tokens(), 50);
  EXPECT_TRUE(m.last.seqs[1].needs_logits);
  EXPECT_EQ(m.last.seqs[2].num_tokens(), 99);
  EXPECT_LE(m.last.total_tokens, 150);
  m.run_to_completion();
  for (uint64_t id = 0; id < 3; ++id) EXPECT_EQ(m.outputs[id].size(), 4u);
}

TEST(Scheduler, ChunkedPrefillMixesWithDecodes) {
  SchedulerConfig c = small_config();
  c.max_num_batched_tokens = 64;
  Scheduler s = make(c);
  ASSERT_TRUE(s.add_request(req(1, 10, 50)).ok());
  FakeModel m(s);
  m.step();
  ASSERT_TRUE(s.add_request(req(2, 300, 3)).ok());
  int32_t prompt_done = 0;
  for (int step = 0; prompt_done < 300; ++step) {
    m.step();
    ASSERT_EQ(m.last.seqs.size(), 2u);
    EXPECT_EQ(m.last.seqs[0].request_id, 1u);
    EXPECT_EQ(m.last.seqs[0].num_tokens(), 1);  // the decode keeps going
    EXPECT_EQ(m.last.seqs[1].start_pos, prompt_done);
    EXPECT_EQ(m.last.seqs[1].num_tokens(), std::min(63, 300 - prompt_done));
    prompt_done += m.last.seqs[1].num_tokens();
    EXPECT_EQ(m.last.seqs[1].needs_logits, prompt_done == 300);
    EXPECT_LE(m.last.total_tokens, 64);
  }
  m.run_to_completion();
  EXPECT_EQ(m.outputs[1].size(), 50u);
  EXPECT_EQ(m.outputs[2].size(), 3u);
}

TEST(Scheduler, ChunkedPrefillOffWaitsForWholePrompt) {
  SchedulerConfig c = small_config();
  c.max_num_batched_tokens = 100;
  c.enable_chunked_prefill = false;
  Scheduler s = make(c);
  AddResult too_big = s.add_request(req(1, 101, 1));
  EXPECT_EQ(too_big.error, AddError::kTooLong);
  EXPECT_NE(too_big.message.find("101"), std::string::npos);
  EXPECT_NE(too_big.message.find("100"), std::string::npos);
  ASSERT_TRUE(s.add_request(req(2, 60, 5)).ok());
  ASSERT_TRUE(s.add_request(req(3, 60, 5, 1000)).ok());
  FakeModel m(s);
  m.step();
  ASSERT_EQ(m.last.seqs.size(), 1u);  // 3 does not fit the 40 left, and is not chunked
  m.step();
  ASSERT_EQ(m.last.seqs.size(), 2u);  // 1 decode + 60 prompt tokens
  EXPECT_EQ(m.last.seqs[1].num_tokens(), 60);
  m.run_to_completion();
}

TEST(Scheduler, MaxBatchSizeCapsRunningRequests) {
  SchedulerConfig c = small_config();
  c.max_batch_size = 2;
  Scheduler s = make(c);
  for (uint64_t id = 0; id < 5; ++id) ASSERT_TRUE(s.add_request(req(id, 8, 3)).ok());
  FakeModel m(s);
  m.step();
  EXPECT_EQ(m.last.seqs.size(), 2u);
  EXPECT_EQ(s.num_running(), 2);
  EXPECT_EQ(s.num_waiting(), 3);
  for (int i = 0; i < 100 && s.has_unfinished(); ++i) {
    m.step();
    EXPECT_LE(s.num_running(), 2);
    EXPECT_LE(m.last.seqs.size(), 2u);
  }
  EXPECT_EQ(m.outputs.size(), 5u);
}

TEST(Scheduler, PreemptionByRecomputeGivesSameTokens) {
  // Reference: a pool big enough for everyone.
  auto run = [](int32_t num_blocks, uint64_t* preemptions) {
    SchedulerConfig c = small_config();
    c.block_size = 4;
    c.num_blocks = num_blocks;
    Scheduler s = make(c);
    for (uint64_t id = 0; id < 3; ++id) {
      EXPECT_TRUE(s.add_request(req(id, 12, 14, static_cast<int32_t>(id) * 100)).ok());
    }
    FakeModel m(s);
    m.run_to_completion();
    *preemptions = s.stats().num_preemptions;
    EXPECT_EQ(s.kv().num_free_blocks(), num_blocks);  // everything given back
    return m.outputs;
  };
  uint64_t p_big = 0, p_small = 0;
  auto big = run(100, &p_big);
  // Each request peaks at 12 + 14 - 1 = 25 tokens = 7 blocks; 10 blocks
  // cannot hold three of them, so the newest must be preempted.
  auto small = run(10, &p_small);
  EXPECT_EQ(p_big, 0u);
  EXPECT_GT(p_small, 0u);
  ASSERT_EQ(big.size(), 3u);
  EXPECT_EQ(small, big);
  for (auto& [id, out] : small) EXPECT_EQ(out.size(), 14u);
}

TEST(Scheduler, PreemptsNewestRunningAndRequeuesItFirst) {
  SchedulerConfig c = small_config();
  c.block_size = 4;
  c.num_blocks = 6;
  Scheduler s = make(c);
  ASSERT_TRUE(s.add_request(req(1, 8, 10, 0)).ok());    // 2 blocks
  ASSERT_TRUE(s.add_request(req(2, 8, 10, 100)).ok());  // 2 blocks
  ASSERT_TRUE(s.add_request(req(3, 8, 10, 200)).ok());  // 2 blocks: pool full
  FakeModel m(s);
  m.step();
  ASSERT_EQ(m.last.seqs.size(), 3u);
  EXPECT_EQ(s.kv().num_free_blocks(), 0);
  // A newer request waits (no block free); the preempted one must go before it.
  ASSERT_TRUE(s.add_request(req(4, 4, 2, 300)).ok());
  // Decode: request 1 needs a 3rd block at position 8 -> request 3 (newest)
  // goes; its 2 blocks cover request 1 and then request 2.
  m.step();
  EXPECT_EQ(m.last.preempted_ids, std::vector<uint64_t>({3}));
  ASSERT_EQ(m.last.seqs.size(), 2u);
  EXPECT_EQ(m.last.seqs[0].request_id, 1u);
  EXPECT_EQ(m.last.seqs[1].request_id, 2u);
  const Request* r3 = s.get_request(3);
  ASSERT_NE(r3, nullptr);
  EXPECT_EQ(r3->status, RequestStatus::kPreempted);
  EXPECT_EQ(r3->num_computed_tokens, 0);
  EXPECT_EQ(r3->num_preemptions, 1);
  EXPECT_EQ(r3->num_output_tokens(), 1);  // keeps its output, recomputes its KV
  EXPECT_EQ(s.num_waiting(), 2);
  // Next decode: 1 and 2 fit in their 3rd blocks (position 9); no block is
  // free, so 3 waits at the queue head and 4 may not overtake it.
  m.step();
  EXPECT_TRUE(m.last.preempted_ids.empty());
  EXPECT_EQ(m.last.seqs.size(), 2u);
  EXPECT_EQ(s.get_request(3)->status, RequestStatus::kPreempted);
  EXPECT_EQ(s.get_request(4)->status, RequestStatus::kWaiting);
  bool seen3 = false;
  for (int i = 0; i < 100 && s.has_unfinished(); ++i) {
    m.step();
    for (const auto& q : m.last.seqs) {
      seen3 |= q.request_id == 3;
      if (q.request_id == 4) {
        EXPECT_TRUE(seen3) << "request 4 overtook the preempted request 3";
      }
    }
  }
  m.run_to_completion();
  ASSERT_EQ(m.outputs.size(), 4u);
  for (uint64_t id : {1, 2, 3}) EXPECT_EQ(m.outputs[id].size(), 10u);
  EXPECT_EQ(m.outputs[4].size(), 2u);
  EXPECT_TRUE(seen3);
}

TEST(Scheduler, AbortFreesBlocks) {
  Scheduler s = make(small_config());
  ASSERT_TRUE(s.add_request(req(1, 40, 10)).ok());
  ASSERT_TRUE(s.add_request(req(2, 40, 10)).ok());
  FakeModel m(s);
  m.step();
  const int32_t total = s.kv().num_blocks();
  EXPECT_EQ(s.kv().num_free_blocks(), total - 6);
  // Abort between schedule() and update(): its token is dropped.
  ScheduleOutput out = s.schedule();
  ASSERT_EQ(out.seqs.size(), 2u);
  EXPECT_TRUE(s.abort_request(1));
  EXPECT_FALSE(s.abort_request(1));
  EXPECT_EQ(s.get_request(1), nullptr);
  EXPECT_EQ(s.kv().num_free_blocks(), total - 3);
  auto events = s.update(StepResult{{{1, 42}, {2, 43}}});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].request_id, 2u);
  ASSERT_TRUE(s.finish_request(2, FinishReason::kStop).ok());
  EXPECT_FALSE(s.finish_request(2, FinishReason::kStop).ok());
  EXPECT_EQ(s.kv().num_free_blocks(), total);
  EXPECT_FALSE(s.has_unfinished());
  // Waiting requests can be aborted too.
  ASSERT_TRUE(s.add_request(req(3, 40, 10)).ok());
  EXPECT_TRUE(s.abort_request(3));
  EXPECT_EQ(s.num_waiting(), 0);
}

TEST(Scheduler, RejectsRequestsThatCanNeverFit) {
  SchedulerConfig c = small_config();
  c.max_seq_len = 100;
  c.num_blocks = 4;  // 64 tokens
  c.max_waiting = 2;
  Scheduler s = make(c);
  AddResult a = s.add_request(req(1, 80, 30));
  EXPECT_EQ(a.error, AddError::kTooLong);
  EXPECT_NE(a.message.find("110"), std::string::npos) << a.message;
  EXPECT_NE(a.message.find("100"), std::string::npos) << a.message;
  AddResult b = s.add_request(req(2, 60, 20));  // 79 KV tokens = 5 blocks > 4
  EXPECT_EQ(b.error, AddError::kTooLong);
  EXPECT_NE(b.message.find("5 KV blocks"), std::string::npos) << b.message;
  EXPECT_NE(b.message.find("4 blocks"), std::string::npos) << b.message;
  EXPECT_TRUE(s.add_request(req(3, 60, 5)).ok());  // 64 KV tokens: exactly 4 blocks
  EXPECT_EQ(s.add_request(Request::make(4, {}, 5)).error, AddError::kInvalid);
  EXPECT_EQ(s.add_request(req(3, 5, 5)).error, AddError::kInvalid);  // id in use
  EXPECT_EQ(s.add_request(req(5, 5, 0)).error, AddError::kInvalid);
  EXPECT_TRUE(s.add_request(req(6, 5, 5)).ok());
  EXPECT_EQ(s.add_request(req(7, 5, 5)).error, AddError::kQueueFull);
  // max_tokens < 0: fill up to max_seq_len.
  Scheduler s2 = make(small_config());
  ASSERT_TRUE(s2.add_request(req(1, 24, -1)).ok());
  EXPECT_EQ(s2.get_request(1)->max_tokens, 1024 - 24);
}

TEST(Scheduler, PrefixCachingSkipsSharedPrefix) {
  Scheduler s = make(small_config());
  std::vector<int32_t> prefix = iota_tokens(200, 1);
  auto with_suffix = [&](int32_t tag) {
    auto p = prefix;
    for (int i = 0; i < 20; ++i) p.push_back(10000 + tag * 100 + i);
    return p;
  };
  ASSERT_TRUE(s.add_request(Request::make(1, with_suffix(1), 3)).ok());
  FakeModel m(s);
  m.step();
  EXPECT_EQ(m.last.total_tokens, 220);
  EXPECT_EQ(s.get_request(1)->num_cached_tokens, 0);
  ASSERT_TRUE(s.add_request(Request::make(2, with_suffix(2), 3)).ok());
  m.step();
  ASSERT_EQ(m.last.seqs.size(), 2u);
  const ScheduledSeq& q = m.last.seqs[1];
  EXPECT_EQ(q.request_id, 2u);
  EXPECT_EQ(q.start_pos, 192);  // 12 full blocks of the 200-token prefix
  EXPECT_EQ(q.num_tokens(), 220 - 192);
  EXPECT_EQ(s.get_request(2)->num_cached_tokens, 192);
  EXPECT_EQ(m.last.seqs[0].block_table[0], q.block_table[0]);  // shared block
  SchedulerStats st = s.stats();
  EXPECT_EQ(st.kv.prefix_query_tokens, 440u);
  EXPECT_EQ(st.kv.prefix_hit_tokens, 192u);
  m.run_to_completion();  // the fake model also checks the shared KV content
}

TEST(Scheduler, PrefixCachingOffRecomputesEverything) {
  SchedulerConfig c = small_config();
  c.enable_prefix_caching = false;
  Scheduler s = make(c);
  ASSERT_TRUE(s.add_request(req(1, 100, 2)).ok());
  FakeModel m(s);
  m.step();
  ASSERT_TRUE(s.add_request(req(2, 100, 2)).ok());
  m.step();
  EXPECT_EQ(m.last.seqs[1].start_pos, 0);
  EXPECT_EQ(m.last.seqs[1].num_tokens(), 100);
}

TEST(Scheduler, StopTokenMinTokensAndLengthLimits) {
  SchedulerConfig c = small_config();
  c.max_seq_len = 30;
  Scheduler s = make(c);
  // The fake model's first token for this prompt, then use it as a stop token.
  Request probe = req(1, 10, 5);
  const int32_t first = FakeModel::next_token(probe.all_token_ids);
  probe.stop_token_ids = {first};
  ASSERT_TRUE(s.add_request(probe).ok());
  Request later_stop = req(2, 10, 5);
  later_stop.stop_token_ids = {first};
  later_stop.min_tokens = 2;  // the same token at step 1 must not stop it
  ASSERT_TRUE(s.add_request(later_stop).ok());
  ASSERT_TRUE(s.add_request(req(3, 25, -1, 50)).ok());  // max_tokens -> 5 by max_seq_len
  FakeModel m(s);
  auto ev = m.step();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(ev[0].finished);
  EXPECT_EQ(ev[0].finish_reason, FinishReason::kStop);
  EXPECT_EQ(ev[0].stop_token, first);
  EXPECT_EQ(ev[0].new_token, first);
  EXPECT_FALSE(ev[1].finished);
  EXPECT_EQ(ev[1].new_token, first);
  m.run_to_completion();
  EXPECT_EQ(m.outputs[2].size(), 5u);  // max_tokens (its later tokens are not the stop id)
  EXPECT_EQ(m.reasons[2], FinishReason::kLength);
  EXPECT_EQ(m.outputs[3].size(), 5u);  // 25 + 5 = max_seq_len
  EXPECT_EQ(m.reasons[3], FinishReason::kLength);
  EXPECT_EQ(finish_reason_name(FinishReason::kLength), "length");
}

TEST(Scheduler, StatsCountWaitingRunningAndUsage) {
  SchedulerConfig c = small_config();
  c.max_batch_size = 1;
  c.num_blocks = 10;
  Scheduler s = make(c);
  ASSERT_TRUE(s.add_request(req(1, 32, 4)).ok());
  ASSERT_TRUE(s.add_request(req(2, 32, 4)).ok());
  FakeModel m(s);
  m.step();
  SchedulerStats st = s.stats();
  EXPECT_EQ(st.num_running, 1);
  EXPECT_EQ(st.num_waiting, 1);
  EXPECT_EQ(st.kv.num_used_blocks, 2);
  EXPECT_DOUBLE_EQ(st.kv.usage, 0.2);
}

// Random arrivals, aborts and a tight pool: the fake model checks every
// block table against its KV contents; at the end every block is free and
// every request that was not aborted got all its tokens.
TEST(Scheduler, RandomisedStressKeepsBookkeepingConsistent) {
  uint64_t preemptions = 0, hit_tokens = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SchedulerConfig c = small_config();
    c.block_size = 4;
    c.num_blocks = 40;
    c.max_num_batched_tokens = 48;
    c.max_batch_size = 6;
    c.enable_chunked_prefill = seed % 2 == 1;
    Scheduler s = make(c);
    FakeModel m(s);
    uint64_t x = seed * 0x9e3779b97f4a7c15ull;
    auto rnd = [&](uint64_t n) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x % n;
    };
    std::map<uint64_t, int32_t> want;  // id -> max_tokens, for requests not aborted
    uint64_t next_id = 0;
    for (int step = 0; step < 400; ++step) {
      if (next_id < 60 && rnd(3) == 0) {
        // Some prompts share a prefix (prefix-cache hits), some do not.
        int32_t len = 1 + static_cast<int32_t>(rnd(40));
        std::vector<int32_t> p = iota_tokens(len, rnd(2) ? 0 : static_cast<int32_t>(next_id) * 100);
        int32_t max_tokens = 1 + static_cast<int32_t>(rnd(30));
        if (s.add_request(Request::make(next_id, p, max_tokens)).ok()) want[next_id] = max_tokens;
        ++next_id;
      }
      if (!want.empty() && rnd(25) == 0) {
        auto it = want.begin();
        std::advance(it, rnd(want.size()));
        if (s.abort_request(it->first)) want.erase(it);
      }
      m.step();
      EXPECT_LE(m.last.total_tokens, c.max_num_batched_tokens);
      EXPECT_LE(s.num_running(), c.max_batch_size);
    }
    m.run_to_completion();
    for (auto& [id, max_tokens] : want) {
      ASSERT_TRUE(m.outputs.count(id)) << "seed " << seed << " request " << id;
      EXPECT_EQ(static_cast<int32_t>(m.outputs[id].size()), max_tokens);
    }
    EXPECT_EQ(s.kv().num_free_blocks(), c.num_blocks);
    preemptions += s.stats().num_preemptions;
    hit_tokens += s.stats().kv.prefix_hit_tokens;
  }
  // The scenario really exercised preemption and prefix hits.
  EXPECT_GT(preemptions, 0u);
  EXPECT_GT(hit_tokens, 0u);
}

}  // namespace
}  // namespace qs::engine
