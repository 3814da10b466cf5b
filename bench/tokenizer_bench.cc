// Tokenizer benchmark: load time and single-thread encode/decode throughput on
// a mixed corpus (English prose, Chinese prose, code, numbers).
//
//   tokenizer_bench [-m MODEL_DIR] [--mb-per-part N] [--file PATH]
//
// English comes from /usr/share/common-licenses, code from the Python standard
// library sources (both present on Debian), Chinese prose and numbers are
// generated (seeded). --file adds a corpus file of your own as a fifth part.
// Prints wall time and this thread's CPU time (the numbers to trust on a busy
// machine).
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace {

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
double wall_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Concatenates readable files from `dir` (sorted) until `bytes` are collected.
std::string gather(const std::string& dir, const std::string& ext, size_t bytes) {
  std::vector<std::string> paths;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && (ext.empty() || e.path().extension() == ext))
      paths.push_back(e.path().string());
  }
  std::sort(paths.begin(), paths.end());
  std::string out;
  for (const auto& p : paths) {
    if (out.size() >= bytes) break;
    out += read_file(p);
  }
  if (out.size() > bytes) out.resize(bytes);
  return out;
}

std::string chinese_prose(size_t bytes, std::mt19937& rng) {
  static const char* kWords[] = {
      "我们", "今天", "中国", "发展", "经济",     "社会", "人民", "政府", "工作", "问题",
      "技术", "公司", "市场", "国家", "文化",     "历史", "教育", "学生", "老师", "学校",
      "城市", "生活", "时间", "世界", "科学",     "研究", "环境", "保护", "重要", "已经",
      "可以", "因为", "所以", "但是", "如果",     "这个", "那个", "什么", "没有", "非常",
      "一个", "他们", "自己", "知道", "认为",     "进行", "需要", "通过", "其中", "以及",
      "模型", "数据", "计算", "语言", "人工智能", "的",   "了",   "是",   "在",   "和",
      "有",   "也",   "都",   "就",   "很",       "把",   "被",   "对",   "从"};
  static const char* kPunct[] = {"，", "。", "、", "；", "！", "？", "：“", "”"};
  std::string s;
  while (s.size() < bytes) {
    int n = 3 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) s += kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
    s += kPunct[rng() % (sizeof(kPunct) / sizeof(kPunct[0]))];
    if (rng() % 12 == 0) s += "\n\n";
  }
  return s;
}

std::string numbers(size_t bytes, std::mt19937& rng) {
  std::string s;
  char buf[64];
  while (s.size() < bytes) {
    switch (rng() % 5) {
      case 0:
        std::snprintf(buf, sizeof(buf), "%u", static_cast<unsigned>(rng() % 100000000));
        break;
      case 1:
        std::snprintf(buf, sizeof(buf), "%.4f", (rng() % 1000000) / 997.0);
        break;
      case 2:
        std::snprintf(buf, sizeof(buf), "%04u-%02u-%02u", 1900 + static_cast<unsigned>(rng() % 200),
                      1 + static_cast<unsigned>(rng() % 12), 1 + static_cast<unsigned>(rng() % 28));
        break;
      case 3:
        std::snprintf(buf, sizeof(buf), "+1 (%03u) %03u-%04u", static_cast<unsigned>(rng() % 1000),
                      static_cast<unsigned>(rng() % 1000), static_cast<unsigned>(rng() % 10000));
        break;
      default:
        std::snprintf(buf, sizeof(buf), "$%u,%03u.%02u", static_cast<unsigned>(rng() % 1000),
                      static_cast<unsigned>(rng() % 1000), static_cast<unsigned>(rng() % 100));
        break;
    }
    s += buf;
    s += (rng() % 8 == 0) ? "\n" : (rng() % 2 ? ", " : " ");
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = QS_TOKENIZER_DATA;
  double mb_per_part = 1.0;
  std::string extra_file;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "-m") && i + 1 < argc)
      dir = argv[++i];
    else if (!std::strcmp(argv[i], "--mb-per-part") && i + 1 < argc)
      mb_per_part = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--file") && i + 1 < argc)
      extra_file = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [-m MODEL_DIR] [--mb-per-part N] [--file PATH]\n", argv[0]);
      return 2;
    }
  }
  // Load: best of 5 (the first also pays for the page cache).
  double best_wall = 1e9, best_cpu = 1e9;
  std::unique_ptr<qs::tokenizer::Tokenizer> tok;
  for (int rep = 0; rep < 5; ++rep) {
    double w0 = wall_s(), c0 = thread_cpu_s();
    auto r = qs::tokenizer::Tokenizer::Load(dir);
    double w = wall_s() - w0, c = thread_cpu_s() - c0;
    if (!r.ok()) {
      std::fprintf(stderr, "load failed: %s\n", r.status().message().c_str());
      return 1;
    }
    tok = std::move(r).value();
    best_wall = std::min(best_wall, w);
    best_cpu = std::min(best_cpu, c);
  }
  std::printf("load: %.1f ms wall, %.1f ms cpu (best of 5), vocab %d\n", best_wall * 1e3,
              best_cpu * 1e3, tok->vocab_size());

  const size_t part = static_cast<size_t>(mb_per_part * 1e6);
  std::mt19937 rng(2024);
  std::vector<std::pair<std::string, std::string>> parts = {
      {"english", gather("/usr/share/common-licenses", "", part)},
      {"chinese", chinese_prose(part, rng)},
      {"code", gather("/usr/lib/python3.11", ".py", part)},
      {"numbers", numbers(part, rng)},
  };
  if (!extra_file.empty()) parts.emplace_back(extra_file, read_file(extra_file));

  size_t total_bytes = 0, total_tokens = 0;
  double total_wall = 0, total_cpu = 0, dec_cpu = 0;
  for (auto& [name, text] : parts) {
    if (text.empty()) {
      std::printf("%-10s (no data found, skipped)\n", name.c_str());
      continue;
    }
    // Documents of ~4 KB, as requests would arrive (split at a newline).
    std::vector<std::string_view> docs;
    std::string_view all(text);
    while (!all.empty()) {
      size_t cut = all.size() <= 4096 ? std::string_view::npos : all.find('\n', 4096);
      cut = cut == std::string_view::npos ? all.size() : cut + 1;
      docs.push_back(all.substr(0, cut));
      all.remove_prefix(cut);
    }
    size_t tokens = 0;
    std::vector<std::vector<int32_t>> encoded;
    double w0 = wall_s(), c0 = thread_cpu_s();
    for (auto d : docs) {
      encoded.push_back(tok->encode(d));
      tokens += encoded.back().size();
    }
    double w = wall_s() - w0, c = thread_cpu_s() - c0;
    double d0 = thread_cpu_s();
    size_t decoded = 0;
    for (auto& ids : encoded) decoded += tok->decode(ids).size();
    double dc = thread_cpu_s() - d0;
    double mb = static_cast<double>(text.size()) / 1e6;
    std::printf(
        "%-10s %6.2f MB  %8zu tokens  %5.2f bytes/token  encode %6.1f MB/s cpu (%6.1f wall)"
        "  decode %7.1f MB/s cpu\n",
        name.c_str(), mb, tokens, static_cast<double>(text.size()) / static_cast<double>(tokens),
        mb / c, mb / w, static_cast<double>(decoded) / 1e6 / dc);
    total_bytes += text.size();
    total_tokens += tokens;
    total_wall += w;
    total_cpu += c;
    dec_cpu += dc;
  }
  double mb = static_cast<double>(total_bytes) / 1e6;
  std::printf("mixed      %6.2f MB  %8zu tokens  encode %.1f MB/s cpu (%.1f wall), one thread\n",
              mb, total_tokens, mb / total_cpu, mb / total_wall);
  return 0;
}
