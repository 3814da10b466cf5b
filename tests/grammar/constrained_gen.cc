// End-to-end structured output: a random-weight tiny Qwen2 (real 151,936-token
// vocabulary) generates under every corpus schema, for each seed x temperature,
// with the grammar mask applied before sampling. Writes one JSON line per
// generation; check_outputs.py validates them with jsonschema.
//
//   constrained_gen SCHEMA_DIR WORK_DIR OUT.jsonl [seeds] [max_tokens]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "grammar/structured_output.h"
#include "model/qwen2_model.h"
#include "sampling/sampler.h"
#include "synth.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kBlock = 16;

int fail(const std::string& msg) {
  std::fprintf(stderr, "constrained_gen: %s\n", msg.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4)
    return fail("usage: constrained_gen SCHEMA_DIR WORK_DIR OUT.jsonl [seeds] [max_tokens]");
  const fs::path schema_dir = argv[1], work = argv[2];
  const std::string out_path = argv[3];
  const int seeds = argc > 4 ? std::atoi(argv[4]) : 3;
  const int max_tokens = argc > 5 ? std::atoi(argv[5]) : 400;
  const float temps[] = {1.0f, 0.7f, 1.5f};

  fs::create_directories(work);
  const fs::path model_dir = work / "tiny";
  if (!fs::exists(model_dir / "model.safetensors")) {
    qs::Status s =
        qs::synth::synthesize_model(std::string(QS_SOURCE_DIR) + "/tools/synth/configs/tiny.json",
                                    7, model_dir.string(), qs::DType::BF16, QS_TOKENIZER_DATA, 1);
    if (!s.ok()) return fail(s.message());
  }
  qs::ModelOptions mo;
  mo.threads = 1;
  auto model = qs::Qwen2Model::Load(model_dir.string(), mo);
  if (!model.ok()) return fail(model.status().message());
  auto tok = qs::tokenizer::Tokenizer::Load(QS_TOKENIZER_DATA);
  if (!tok.ok()) return fail(tok.status().message());
  const int32_t vocab_size = static_cast<int32_t>((*model)->config().vocab_size);
  auto vocab = qs::grammar::Vocabulary::FromTokenizer(**tok, vocab_size);
  if (!vocab.ok()) return fail(vocab.status().message());

  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(schema_dir))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());

  const size_t max_len = 64 + static_cast<size_t>(max_tokens);
  auto kv = qs::KVCache::Create(
      (*model)->kv_shape((max_len + kBlock - 1) / kBlock, kBlock, qs::DType::BF16));
  if (!kv.ok()) return fail(kv.status().message());
  std::vector<int32_t> table;
  for (size_t i = 0; i < kv->shape().num_blocks; ++i) table.push_back(static_cast<int32_t>(i));
  std::vector<float> logits(vocab_size);
  std::vector<uint8_t> mask(vocab_size);
  qs::Batch batch;
  qs::sampling::Sampler sampler;
  std::ofstream out(out_path);
  const std::vector<int32_t> prompt = (*tok)->encode("Answer in JSON.");
  double mask_us = 0;
  long masks = 0, total_tokens = 0, generations = 0;
  auto t_start = std::chrono::steady_clock::now();

  for (const fs::path& f : files) {
    std::ifstream in(f);
    json schema = json::parse(in, nullptr, false);
    if (schema.is_discarded()) return fail(f.string() + ": not JSON");
    auto g = qs::grammar::compile_json_schema(schema, vocab.value());
    if (!g.ok()) return fail(f.filename().string() + ": " + g.status().message());
    for (int seed = 0; seed < seeds; ++seed) {
      const float temp = temps[seed % 3];
      qs::grammar::Matcher m(g.value());
      qs::sampling::SamplingParams sp;
      sp.temperature = temp;
      qs::sampling::Rng rng(1000 + seed);
      qs::sampling::TokenHistory history(prompt);
      std::vector<int32_t> ids = prompt, out_ids;
      size_t pos = 0;
      std::string error;
      while (!m.is_terminated() && static_cast<int>(out_ids.size()) < max_tokens) {
        batch.clear();
        batch.add_sequence(ids.data(), static_cast<int32_t>(ids.size()), static_cast<int32_t>(pos),
                           table, true);
        qs::Status s = (*model)->forward(batch, kv.value(), logits.data());
        if (!s.ok()) return fail(s.message());
        pos += ids.size();
        auto t0 = std::chrono::steady_clock::now();
        m.fill_mask(mask.data(), max_tokens - static_cast<int32_t>(out_ids.size()));
        mask_us += std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                       .count();
        ++masks;
        auto r = sampler.sample(logits.data(), vocab_size, sp, history, rng, mask.data());
        if (!r.ok()) {
          error = r.status().message();
          break;
        }
        if (!m.accept(r->token)) {
          error = "sampled token " + std::to_string(r->token) + " was refused by the matcher";
          break;
        }
        history.add_output(r->token);
        out_ids.push_back(r->token);
        ids = {r->token};
      }
      std::vector<int32_t> text_ids;
      for (int32_t t : out_ids)
        if (!vocab.value()->is_eos(t)) text_ids.push_back(t);
      json line = {{"schema", f.filename().string()},
                   {"seed", seed},
                   {"temperature", temp},
                   {"output", (*tok)->decode_bytes(text_ids)},
                   {"terminated", m.is_terminated()},
                   {"tokens", out_ids.size()},
                   {"error", error}};
      out << line.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
      total_tokens += static_cast<long>(out_ids.size());
      ++generations;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  std::printf(
      "constrained_gen: %zu schemas, %ld generations, %ld tokens, %.1f s, mean mask %.1f us\n",
      files.size(), generations, total_tokens, secs, masks ? mask_us / masks : 0.0);
  return 0;
}
