// bare_et: the baseline for the native runner - a bare Module::forward() loop, nothing else.
//
// Built by bench/run.py with testbed_agent.native.build (same flags and libraries as et_runner).
//
//   bare_et --model m.pte {--input x.bin --input-dtype float32 --input-shape 1,3,224,224}...
//           [--threads N] [--warmup W] [--n N]
//
// Inputs as et_runner takes them: one --input per input of the method, in its order, each followed
// by its dtype (float32, float16, int32, int64, uint8, int8, bool; default float32) and shape. The
// tensors are made once. One input: module.forward(tensor), as before; several: the EValue vector
// is built once and every call passes it (as et_runner does; no per-call vector, the strictest loop).
// After W warm-up calls: N calls each timed with steady_clock (per_call_ns), then N calls timed as
// one block (block_ns: no per-call clock at all). Prints one JSON object.

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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
using executorch::aten::ScalarType;
using executorch::extension::from_blob;
using executorch::extension::TensorPtr;
using executorch::extension::module::Module;
using executorch::runtime::EValue;

struct Input {
  std::string path, dtype = "float32", shape;
};

static ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return ScalarType::Float;
  if (name == "float16") return ScalarType::Half;
  if (name == "int32") return ScalarType::Int;
  if (name == "int64") return ScalarType::Long;
  if (name == "uint8") return ScalarType::Byte;
  if (name == "int8") return ScalarType::Char;
  if (name == "bool") return ScalarType::Bool;
  std::printf("{\"error\": \"unsupported --input-dtype %s\"}\n", name.c_str());
  std::exit(2);
}

static int64_t ns(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
}

int main(int argc, char** argv) {
  std::string model;
  std::vector<Input> given;
  long threads = 0, warmup = 10, n = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model = v;
    else if (k == "--input") given.push_back(Input{v, "float32", ""});
    else if (k == "--input-dtype" && !given.empty()) given.back().dtype = v;
    else if (k == "--input-shape" && !given.empty()) given.back().shape = v;
    else if (k == "--threads") threads = std::stol(v);
    else if (k == "--warmup") warmup = std::stol(v);
    else if (k == "--n") n = std::stol(v);
  }
  if (threads > 0) executorch::extension::threadpool::get_threadpool()->_unsafe_reset_threadpool(threads);
  if (given.empty()) {
    std::printf("{\"error\": \"no --input\"}\n");
    return 2;
  }
  std::vector<std::vector<char>> data;
  std::vector<TensorPtr> tensors;
  std::vector<EValue> values;
  data.reserve(given.size());
  for (const Input& g : given) {
    std::vector<int32_t> shape;
    std::stringstream ss(g.shape);
    for (std::string item; std::getline(ss, item, ',');) shape.push_back(std::stoi(item));
    std::ifstream in(g.path, std::ios::binary);
    data.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    tensors.push_back(from_blob(data.back().data(), shape, parse_dtype(g.dtype)));
    values.emplace_back(*tensors.back());
  }
  Module module(model);
  if (module.load_method("forward") != executorch::runtime::Error::Ok) {
    std::printf("{\"error\": \"cannot load forward\"}\n");
    return 3;
  }
  const auto& x = tensors[0];
  const bool one = tensors.size() == 1;
  auto call = [&]() { return one ? module.forward(x) : module.forward(values); };
  for (long i = 0; i < warmup; ++i) (void)call();
  std::vector<int64_t> per_call;
  per_call.reserve(n);
  for (long i = 0; i < n; ++i) {
    auto a = Clock::now();
    auto r = call();
    per_call.push_back(ns(a, Clock::now()));
    if (!r.ok()) return 4;
  }
  auto a = Clock::now();
  for (long i = 0; i < n; ++i) (void)call();
  const int64_t block = ns(a, Clock::now());
  std::string json = "{\"per_call_ns\": [";
  for (size_t i = 0; i < per_call.size(); ++i) json += (i ? ", " : "") + std::to_string(per_call[i]);
  json += "], \"block_ns\": " + std::to_string(block) + ", \"n\": " + std::to_string(n) + "}\n";
  std::fwrite(json.data(), 1, json.size(), stdout);
  return 0;
}
