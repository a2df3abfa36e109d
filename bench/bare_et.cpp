// bare_et: the baseline for the native runner - a bare Module::forward() loop, nothing else.
//
// Built by bench/run.py with testbed_agent.native.build (same flags and libraries as et_runner).
//
//   bare_et --model m.pte --input x.bin --shape 1,3,224,224 [--threads N] [--warmup W] [--n N]
//
// After W warm-up calls: N calls each timed with steady_clock (per_call_ns), then N calls timed as
// one block (block_ns: no per-call clock at all). Prints one JSON object.

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

using Clock = std::chrono::steady_clock;
using executorch::extension::from_blob;
using executorch::extension::module::Module;

static int64_t ns(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
}

int main(int argc, char** argv) {
  std::string model, input, shape_text;
  long threads = 0, warmup = 10, n = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model = v;
    else if (k == "--input") input = v;
    else if (k == "--shape") shape_text = v;
    else if (k == "--threads") threads = std::stol(v);
    else if (k == "--warmup") warmup = std::stol(v);
    else if (k == "--n") n = std::stol(v);
  }
  if (threads > 0) executorch::extension::threadpool::get_threadpool()->_unsafe_reset_threadpool(threads);
  std::vector<int32_t> shape;
  std::stringstream ss(shape_text);
  for (std::string item; std::getline(ss, item, ',');) shape.push_back(std::stoi(item));
  std::ifstream in(input, std::ios::binary);
  std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto x = from_blob(data.data(), shape);
  Module module(model);
  if (module.load_method("forward") != executorch::runtime::Error::Ok) {
    std::printf("{\"error\": \"cannot load forward\"}\n");
    return 3;
  }
  for (long i = 0; i < warmup; ++i) (void)module.forward(x);
  std::vector<int64_t> per_call;
  per_call.reserve(n);
  for (long i = 0; i < n; ++i) {
    auto a = Clock::now();
    auto r = module.forward(x);
    per_call.push_back(ns(a, Clock::now()));
    if (!r.ok()) return 4;
  }
  auto a = Clock::now();
  for (long i = 0; i < n; ++i) (void)module.forward(x);
  const int64_t block = ns(a, Clock::now());
  std::string json = "{\"per_call_ns\": [";
  for (size_t i = 0; i < per_call.size(); ++i) json += (i ? ", " : "") + std::to_string(per_call[i]);
  json += "], \"block_ns\": " + std::to_string(block) + ", \"n\": " + std::to_string(n) + "}\n";
  std::fwrite(json.data(), 1, json.size(), stdout);
  return 0;
}
