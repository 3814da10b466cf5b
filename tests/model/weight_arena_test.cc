// WeightArena: every matrix view is moved into the 2 MB-page region with its
// bytes, its neighbours (views inside a joined matrix, a tied head) and its
// line alignment as promised; owned buffers are freed; and a whole model gives
// bitwise the same logits before the switch, after it (BF16 q|k|v then
// joined), and without it.
#include "model/weight_arena.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "model/qwen2_model.h"
#include "synth.h"  // tools/synth

namespace qs {
namespace {

namespace fs = std::filesystem;

kernels::WeightMatrix view(const uint8_t* p, size_t rows, size_t cols, size_t elem_bytes) {
  kernels::WeightMatrix m;
  m.data = p;
  m.rows = static_cast<int64_t>(rows);
  m.cols = static_cast<int64_t>(cols);
  m.bytes = rows * cols * elem_bytes;
  return m;
}

std::vector<uint8_t> bytes_of(const kernels::WeightMatrix& m) {
  const auto* p = static_cast<const uint8_t*>(m.data);
  return std::vector<uint8_t>(p, p + m.bytes);
}

TEST(WeightArena, MovesEveryViewWithItsBytesNeighboursAndAlignment) {
  std::mt19937 rng(7);
  // A "checkpoint": BF16 tensors at odd offsets (as in safetensors, 56 bytes
  // into a line), q|k|v adjacent in one joined view, gate/up touching.
  std::vector<uint8_t> file(1 << 20);
  for (auto& b : file) b = static_cast<uint8_t>(rng());
  const uint8_t* base = file.data() + 56;
  const size_t H = 64, kvd = 16, I = 96;
  Qwen2Weights w;
  w.embed = view(base, 300, H, 2);  // tied: the head is the same view
  w.lm_head = w.embed;
  const uint8_t* p = base + w.embed.bytes + 6;  // not line-aligned either
  w.layers.resize(2);
  for (auto& l : w.layers) {
    l.qkv_proj = view(p, H + 2 * kvd, H, 2);
    l.q_proj = view(p, H, H, 2);
    l.k_proj = view(p + H * H * 2, kvd, H, 2);
    l.v_proj = view(p + (H + kvd) * H * 2, kvd, H, 2);
    p += l.qkv_proj.bytes + 10;
    l.o_proj = view(p, H, H, 2);
    p += l.o_proj.bytes;  // touching the next one
    l.gate_proj = view(p, I, H, 2);
    l.up_proj = view(p + I * H * 2, I, H, 2);
    l.gate_up_proj = view(p, 2 * I, H, 2);
    p += l.gate_up_proj.bytes + 2;
  }
  // One owned (heap) matrix as quantized formats have: down_proj.
  for (auto& l : w.layers) {
    AlignedPtr<uint8_t> buf = aligned_alloc_array<uint8_t>(H * I);
    for (size_t i = 0; i < H * I; ++i) buf[i] = static_cast<uint8_t>(rng());
    l.down_proj = view(buf.get(), H, I, 1);
    l.down_proj.format = kernels::WeightFormat::kQ8_0;
    w.owned_bytes.push_back(std::move(buf));
  }
  ASSERT_LT(static_cast<size_t>(p - file.data()), file.size());

  std::vector<kernels::WeightMatrix> before;
  std::vector<std::vector<uint8_t>> contents;
  for (auto* m : all_weight_matrices(&w)) {
    before.push_back(*m);
    contents.push_back(bytes_of(*m));
  }
  auto arena = WeightArena::Start(w);
  ASSERT_NE(arena, nullptr);
  arena->wait();
  EXPECT_TRUE(arena->ready());
  arena->adopt(&w);

  auto after = all_weight_matrices(&w);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_NE(after[i]->data, before[i].data);  // moved, file or heap
    EXPECT_EQ(after[i]->rows, before[i].rows);
    EXPECT_EQ(after[i]->bytes, before[i].bytes);
    EXPECT_EQ(after[i]->format, before[i].format);
    EXPECT_EQ(bytes_of(*after[i]), contents[i]);
  }
  EXPECT_EQ(w.lm_head.data, w.embed.data);  // still tied
  for (const auto& l : w.layers) {
    const auto* qkv = static_cast<const uint8_t*>(l.qkv_proj.data);
    EXPECT_EQ(l.q_proj.data, qkv);
    EXPECT_EQ(static_cast<const uint8_t*>(l.k_proj.data), qkv + H * H * 2);
    EXPECT_EQ(static_cast<const uint8_t*>(l.v_proj.data), qkv + (H + kvd) * H * 2);
    EXPECT_EQ(l.gate_proj.data, l.gate_up_proj.data);
    // Every separate range starts on a cache line (the checkpoint's did not).
    for (const void* d : {l.qkv_proj.data, l.o_proj.data, l.down_proj.data})
      EXPECT_EQ(reinterpret_cast<uintptr_t>(d) % 64, 0u);
    // Forward order: o_proj (a whole number of lines) right before gate|up.
    EXPECT_EQ(static_cast<const uint8_t*>(l.o_proj.data) + l.o_proj.bytes,
              static_cast<const uint8_t*>(l.gate_up_proj.data));
  }
  EXPECT_TRUE(w.owned_bytes.empty());
  EXPECT_GE(arena->bytes(), contents.size());
}

TEST(WeightArena, NothingToMoveGivesNoArena) {
  Qwen2Weights w;
  EXPECT_EQ(WeightArena::Start(w), nullptr);
}

TEST(WeightArena, DestroyingWhileCopyingStopsCleanly) {
  std::vector<uint8_t> big(size_t{64} << 20, 1);
  Qwen2Weights w;
  w.embed = view(big.data(), big.size() / 2, 1, 2);
  auto arena = WeightArena::Start(w);
  ASSERT_NE(arena, nullptr);
  arena.reset();  // joins the copy thread (cancelled between chunks)
  EXPECT_EQ(w.embed.data, big.data());
}

class ArenaModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("qs-arena-" + std::to_string(::getpid()))).string();
    Status s =
        synth::synthesize_model(std::string(QS_SOURCE_DIR) + "/tools/synth/configs/tiny.json", 3,
                                dir_, DType::BF16, QS_TOKENIZER_DATA);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::vector<float> logits(Qwen2Model& m, const std::vector<int32_t>& toks) {
    auto kv = KVCache::Create(m.kv_shape(4, 16, DType::F32));
    EXPECT_TRUE(kv.ok());
    std::vector<int32_t> table = {0, 1, 2, 3};
    Batch b;
    b.add_sequence(toks.data(), static_cast<int32_t>(toks.size()), 0, table, true);
    std::vector<float> out(m.config().vocab_size);
    Status s = m.forward(b, kv.value(), out.data());
    EXPECT_TRUE(s.ok()) << s.message();
    return out;
  }

  static std::unique_ptr<Qwen2Model> load(bool huge, kernels::WeightFormat q) {
    ModelOptions o;
    o.threads = 2;
    o.huge_page_weights = huge;
    o.quantize = q;
    auto m = Qwen2Model::Load(dir_, o);
    EXPECT_TRUE(m.ok()) << m.status().message();
    return std::move(m).value();
  }

  static std::string dir_;
};
std::string ArenaModel::dir_;

TEST_F(ArenaModel, SameLogitsBeforeAfterAndWithoutTheSwitch) {
  const std::vector<int32_t> toks = {5, 17, 300, 2, 9, 44, 1000};
  for (auto q :
       {kernels::WeightFormat::kBF16, kernels::WeightFormat::kQ8_0, kernels::WeightFormat::kQ4}) {
    SCOPED_TRACE(static_cast<int>(q));
    auto plain = load(false, q);
    EXPECT_EQ(plain->weight_memory(), "4 KB pages (mmap / heap)");
    const auto want = logits(*plain, toks);

    auto m = load(true, q);
    const auto first = logits(*m, toks);  // before or after the switch: either way equal
    m->settle_weight_memory();
    if (huge_pages_available()) {
      EXPECT_EQ(m->weight_memory(), "2 MB pages");
      EXPECT_EQ(reinterpret_cast<uintptr_t>(m->weights().layers[0].o_proj.data) % 64, 0u);
      // BF16 q|k|v lie back to back in the arena: joined now (packed ones at load).
      for (const auto& l : m->weights().layers) EXPECT_NE(l.qkv_proj.data, nullptr);
    }
    const auto second = logits(*m, toks);
    EXPECT_EQ(0, std::memcmp(first.data(), want.data(), want.size() * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(second.data(), want.data(), want.size() * sizeof(float)));
  }
}

}  // namespace
}  // namespace qs
