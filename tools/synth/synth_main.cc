// qs-synth: writes a deterministic synthetic Qwen2 checkpoint directory.
//   qs-synth --config tools/synth/configs/tiny.json --seed 1234 --dtype bf16 -o /tmp/tiny
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>

#include "synth.h"

int main(int argc, char** argv) {
  CLI::App app{"Deterministic synthetic Qwen2 weights (safetensors + configs + tokenizer)"};
  std::string config, out, dtype_str = "bf16", tokenizer = QS_TOKENIZER_DATA;
  uint64_t seed = 1234;
  int threads = 0;
  app.add_option("--config", config, "HF config.json of the model shape")->required();
  app.add_option("--seed", seed, "generator seed");
  app.add_option("--dtype", dtype_str, "bf16 or f32")->check(CLI::IsMember({"bf16", "f32"}));
  app.add_option("--tokenizer", tokenizer,
                 "folder with vocab.json, merges.txt, tokenizer_config.json ('' to skip)");
  app.add_option("--threads", threads, "worker threads (0: all)");
  app.add_option("-o,--out", out, "output directory")->required();
  CLI11_PARSE(app, argc, argv);

  const auto t0 = std::chrono::steady_clock::now();
  const qs::Status st = qs::synth::synthesize_model(
      config, seed, out, dtype_str == "f32" ? qs::DType::F32 : qs::DType::BF16, tokenizer, threads);
  if (!st.ok()) {
    std::fprintf(stderr, "qs-synth: %s\n", st.message().c_str());
    return 1;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("qs-synth: wrote %s in %.2f s\n", out.c_str(), s);
  return 0;
}
