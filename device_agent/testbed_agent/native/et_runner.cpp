// et_runner: run an ExecuTorch .pte without Python or torch, for the testbed agent.
//
// Built on the board by testbed_agent/native/build.py with plain g++ against the executorch
// wheel's own headers (include/) and shared libraries (lib/libexecutorch*.so). The agent runs
// it as a subprocess; it prints ONE JSON object on stdout (everything else goes to stderr).
//
//   et_runner --model m.pte {--input x.bin [--input-dtype float32] [--input-shape 1,3,224,224]}...
//             [--warmup 10] [--warmup-min-ms 0] [--iterations 50] [--min-time-ms 0]
//             [--max-time-ms 0] [--threads N]
//             [--output out.bin] [{--eval evals.bin}... --eval-count K --eval-output eval.bin]
//             [--etdump dump.etdp] [--load-mode file|mmap]
//
// Inputs: one --input per input of the method, in the method's input order; each --input starts
// a new input, and the --input-dtype / --input-shape after it describe that input. An omitted
// dtype or shape (or --input-shape "") means the method's own tensor meta (so a rank-0 input
// needs no shape); a dtype that differs from the method's is an error. Dtypes: float32, float16,
// int32, int64, uint8, int8, bool. Evals: one --eval per input, same order; each file holds K
// samples of its input back to back (one sample = that input's bytes as given above).
//
// Run control: warm up for --warmup runs and --warmup-min-ms; then time runs until --iterations
// runs and --min-time-ms are done, or --max-time-ms (0 = none) has passed, whichever comes first.
// Timing: std::chrono::steady_clock, nanoseconds, one sample per Module::forward() call (set the
// input, execute, return the output EValues; outputs are not copied inside the timed region).
// Load = Module construction + load_method("forward"). Outputs are written as raw float32
// (every output of the timing input, concatenated; shapes in the JSON), eval outputs as output 0
// of each eval sample, float32, [K, numel]. Outputs of another type (int64 ids, bool masks,
// float16, scalar EValues) are CONVERTED to float32 when written; the JSON keeps their own dtype.

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/backend/interface.h>
#include <executorch/devtools/etdump/etdump_flatcc.h>

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

// libexecutorch_threadpool.so ships without its header: declare the two calls we use.
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  bool _unsafe_reset_threadpool(uint32_t num_threads);
  size_t get_thread_count() const;
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

using executorch::aten::ScalarType;
using executorch::extension::TensorPtr;
using executorch::extension::from_blob;
using executorch::extension::module::Module;
using executorch::runtime::EValue;
using executorch::runtime::Error;
using executorch::runtime::Tag;
namespace threadpool = executorch::extension::threadpool;

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& msg) {
  // One line on stderr and a JSON error on stdout: the caller reads either.
  std::fprintf(stderr, "et_runner: %s\n", msg.c_str());
  std::string esc;
  for (char c : msg) {
    if (c == '"' || c == '\\') esc += '\\';
    esc += (c == '\n' ? ' ' : c);
  }
  std::printf("{\"error\": \"%s\"}\n", esc.c_str());
  std::fflush(stdout);
  std::exit(3);
}

int64_t ns_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

long long rss_bytes() {
  long long pages_total = 0, pages_rss = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  int n = std::fscanf(f, "%lld %lld", &pages_total, &pages_rss);
  std::fclose(f);
  return n == 2 ? pages_rss * sysconf(_SC_PAGESIZE) : -1;
}

long long peak_rss_bytes() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<long long>(usage.ru_maxrss) * 1024;  // KiB on Linux
}

std::vector<char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die("cannot read " + path);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::vector<float>& data) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) die("cannot write " + path);
  if (!data.empty() && std::fwrite(data.data(), sizeof(float), data.size(), f) != data.size()) {
    std::fclose(f);
    die("short write to " + path);
  }
  std::fclose(f);
}

std::vector<int32_t> parse_shape(const std::string& text) {
  std::vector<int32_t> shape;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) shape.push_back(static_cast<int32_t>(std::stoll(item)));
  }
  return shape;
}

size_t element_size(ScalarType t) {
  switch (t) {
    case ScalarType::Float: return 4;
    case ScalarType::Int: return 4;
    case ScalarType::Long: return 8;
    case ScalarType::Double: return 8;
    case ScalarType::Byte: case ScalarType::Char: case ScalarType::Bool: return 1;
    case ScalarType::Half: case ScalarType::Short: case ScalarType::BFloat16: return 2;
    default: return 0;
  }
}

const char* dtype_name(ScalarType t) {
  switch (t) {
    case ScalarType::Float: return "float32";
    case ScalarType::Int: return "int32";
    case ScalarType::Long: return "int64";
    case ScalarType::Double: return "float64";
    case ScalarType::Byte: return "uint8";
    case ScalarType::Char: return "int8";
    case ScalarType::Bool: return "bool";
    case ScalarType::Half: return "float16";
    case ScalarType::Short: return "int16";
    case ScalarType::BFloat16: return "bfloat16";
    default: return "other";
  }
}

ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return ScalarType::Float;
  if (name == "float16") return ScalarType::Half;
  if (name == "int32") return ScalarType::Int;
  if (name == "int64") return ScalarType::Long;
  if (name == "uint8") return ScalarType::Byte;
  if (name == "int8") return ScalarType::Char;
  if (name == "bool") return ScalarType::Bool;
  die("unsupported --input-dtype " + name + " (float32, float16, int32, int64, uint8, int8, bool)");
}

template <typename T>
void append_converted(const executorch::aten::Tensor& t, std::vector<float>& out) {
  const T* p = t.const_data_ptr<T>();
  for (size_t i = 0, n = t.numel(); i < n; ++i) out.push_back(static_cast<float>(p[i]));
}

// Append tensor ``t`` converted to float32 (the output files are float32 whatever the model
// returns: int64 ids above 2^24 lose precision, bool becomes 0/1; the JSON keeps the real dtype).
void append_as_float(const executorch::aten::Tensor& t, std::vector<float>& out) {
  switch (t.scalar_type()) {
    case ScalarType::Float: {
      const float* p = t.const_data_ptr<float>();
      out.insert(out.end(), p, p + t.numel());
      break;
    }
    case ScalarType::Half: append_converted<executorch::aten::Half>(t, out); break;
    case ScalarType::Double: append_converted<double>(t, out); break;
    case ScalarType::Long: append_converted<int64_t>(t, out); break;
    case ScalarType::Int: append_converted<int32_t>(t, out); break;
    case ScalarType::Short: append_converted<int16_t>(t, out); break;
    case ScalarType::Byte: append_converted<uint8_t>(t, out); break;
    case ScalarType::Char: append_converted<int8_t>(t, out); break;
    case ScalarType::Bool: append_converted<bool>(t, out); break;
    default:
      die(std::string("cannot convert an output of type ") + dtype_name(t.scalar_type()) +
          " to float32");
  }
}

// Append output ``v`` as float32 (a scalar EValue as one number); its JSON shape and dtype
// into ``meta``. Dies on outputs that are neither tensors nor scalars (lists, strings, None).
void append_output(const EValue& v, size_t index, std::vector<float>& out, std::string* meta) {
  std::string shape = "[]", dtype;
  if (v.isTensor()) {
    const auto& t = v.toTensor();
    append_as_float(t, out);
    shape = "[";
    for (ssize_t d = 0; d < t.dim(); ++d) shape += (d ? ", " : "") + std::to_string(t.size(d));
    shape += "]";
    dtype = dtype_name(t.scalar_type());
  } else if (v.isInt()) {
    out.push_back(static_cast<float>(v.toInt()));
    dtype = "int64";
  } else if (v.isDouble()) {
    out.push_back(static_cast<float>(v.toDouble()));
    dtype = "float64";
  } else if (v.isBool()) {
    out.push_back(v.toBool() ? 1.0f : 0.0f);
    dtype = "bool";
  } else {
    die("output " + std::to_string(index) + " is neither a tensor nor a scalar");
  }
  if (meta != nullptr) {
    *meta += std::string(index ? ", " : "") + "{\"shape\": " + shape + ", \"dtype\": \"" +
             dtype + "\"}";
  }
}

// One --input as given on the command line (empty dtype / shape: the method's own meta).
struct InputArg {
  std::string path, dtype, shape;
};

// One method input, ready to run: its shape, dtype, bytes of one sample, data and tensor.
struct Input {
  std::vector<int32_t> shape;
  ScalarType dtype = ScalarType::Float;
  size_t sample_bytes = 0;
  std::vector<char> data;
  TensorPtr tensor;
};

struct Args {
  std::string model, output, eval_output, etdump, load_mode = "file";
  std::vector<InputArg> inputs;
  std::vector<std::string> evals;
  long warmup = 10, iterations = 50, threads = 0, eval_count = 0;
  double min_time_ms = 0, max_time_ms = 0, warmup_min_ms = 0;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string key = argv[i];
    if (i + 1 >= argc) die("option " + key + " needs a value");
    std::string val = argv[++i];
    if ((key == "--input-dtype" || key == "--input-shape") && a.inputs.empty()) {
      die(key + " must follow the --input it describes");
    }
    if (key == "--model") a.model = val;
    else if (key == "--input") a.inputs.push_back(InputArg{val, "", ""});
    else if (key == "--input-dtype") a.inputs.back().dtype = val;
    else if (key == "--input-shape") a.inputs.back().shape = val;
    else if (key == "--output") a.output = val;
    else if (key == "--eval") a.evals.push_back(val);
    else if (key == "--eval-count") a.eval_count = std::stol(val);
    else if (key == "--eval-output") a.eval_output = val;
    else if (key == "--etdump") a.etdump = val;
    else if (key == "--load-mode") a.load_mode = val;
    else if (key == "--warmup") a.warmup = std::stol(val);
    else if (key == "--iterations") a.iterations = std::stol(val);
    else if (key == "--min-time-ms") a.min_time_ms = std::stod(val);
    else if (key == "--max-time-ms") a.max_time_ms = std::stod(val);
    else if (key == "--warmup-min-ms") a.warmup_min_ms = std::stod(val);
    else if (key == "--threads") a.threads = std::stol(val);
    else die("unknown option " + key);
  }
  if (a.model.empty()) die("--model is required");
  if (a.iterations < 1 || a.warmup < 0) die("--iterations must be >= 1 and --warmup >= 0");
  return a;
}

std::string shape_json(const std::vector<int32_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Read and check every --input against the method's inputs: count, tag, dtype, bytes.
std::vector<Input> prepare_inputs(const executorch::runtime::MethodMeta& meta, const Args& args) {
  const size_t expected = meta.num_inputs();
  if (args.inputs.size() != expected) {
    die("the model takes " + std::to_string(expected) + " inputs, " +
        std::to_string(args.inputs.size()) + " given");
  }
  std::vector<Input> inputs(expected);
  for (size_t i = 0; i < expected; ++i) {
    const InputArg& given = args.inputs[i];
    Input& in = inputs[i];
    const std::string which = "input " + std::to_string(i);
    auto tag = meta.input_tag(i);
    if (!tag.ok() || *tag != Tag::Tensor) die(which + " of the model is not a tensor");
    auto info = meta.input_tensor_meta(i);
    if (!info.ok()) die("cannot read the tensor meta of " + which);
    in.dtype = given.dtype.empty() ? info->scalar_type() : parse_dtype(given.dtype);
    if (in.dtype != info->scalar_type()) {
      die(which + " is " + dtype_name(info->scalar_type()) + " in the model, " + given.dtype +
          " given");
    }
    if (given.shape.empty()) {
      for (auto s : info->sizes()) in.shape.push_back(s);
    } else {
      in.shape = parse_shape(given.shape);
    }
    size_t numel = 1;
    for (auto s : in.shape) numel *= static_cast<size_t>(s);
    in.sample_bytes = numel * element_size(in.dtype);
    in.data = read_file(given.path);
    if (in.data.size() != in.sample_bytes) {
      die("the file of " + which + " has " + std::to_string(in.data.size()) +
          " bytes; shape and dtype need " + std::to_string(in.sample_bytes));
    }
    in.tensor = from_blob(in.data.data(), in.shape, in.dtype);
  }
  return inputs;
}

// Evaluation samples, batch 1 each: output 0 of each, flattened, written as float32 [K, numel].
long run_evals(Module& module, const std::vector<Input>& inputs, const Args& args) {
  if (args.evals.size() != inputs.size()) {
    die("the model takes " + std::to_string(inputs.size()) + " inputs, " +
        std::to_string(args.evals.size()) + " eval files given");
  }
  std::vector<std::vector<char>> files;
  for (size_t i = 0; i < inputs.size(); ++i) {
    files.push_back(read_file(args.evals[i]));
    const size_t want = inputs[i].sample_bytes * static_cast<size_t>(args.eval_count);
    if (files[i].size() != want) {
      die("the eval file of input " + std::to_string(i) + " has " +
          std::to_string(files[i].size()) + " bytes; expected " + std::to_string(args.eval_count) +
          " samples of " + std::to_string(inputs[i].sample_bytes));
    }
  }
  std::vector<float> eval_out;
  long done = 0;
  for (long k = 0; k < args.eval_count; ++k) {
    std::vector<TensorPtr> tensors;
    std::vector<EValue> values;
    for (size_t i = 0; i < inputs.size(); ++i) {
      tensors.push_back(from_blob(files[i].data() + k * inputs[i].sample_bytes, inputs[i].shape,
                                  inputs[i].dtype));
      values.emplace_back(*tensors.back());
    }
    auto r = module.forward(values);
    if (!r.ok() || r->empty()) die("an evaluation inference failed");
    append_output((*r)[0], 0, eval_out, nullptr);
    ++done;
  }
  if (!args.eval_output.empty()) write_file(args.eval_output, eval_out);
  return done;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse_args(argc, argv);
  const long long baseline_rss = rss_bytes();

  auto* pool = threadpool::get_threadpool();
  if (args.threads > 0) {
    if (pool == nullptr) die("this executorch build has no threadpool; omit --threads");
    pool->_unsafe_reset_threadpool(static_cast<uint32_t>(args.threads));
  }

  Module::LoadMode mode = Module::LoadMode::File;
  if (args.load_mode == "mmap") mode = Module::LoadMode::Mmap;
  else if (args.load_mode != "file") die("--load-mode must be file or mmap");

  std::unique_ptr<executorch::runtime::EventTracer> tracer;
  if (!args.etdump.empty()) tracer = std::make_unique<executorch::etdump::ETDumpGen>();

  // Load: program + the forward method (kernels, delegate init, memory planning).
  auto load_start = Clock::now();
  Module module(args.model, mode, std::move(tracer));
  Error err = module.load_method("forward");
  const int64_t load_ns = ns_since(load_start);
  if (err != Error::Ok) {
    die("loading the forward method of " + args.model + " failed (executorch error " +
        std::to_string(static_cast<int>(err)) + "); see stderr");
  }
  const long long load_peak_rss = peak_rss_bytes();

  auto meta = module.method_meta("forward");
  if (!meta.ok()) die("cannot read the forward method's metadata");
  // The input tensors and the EValue vector are built once, here: every run below passes the
  // same vector (by reference), so the timed loop does no per-input work of its own.
  const std::vector<Input> inputs = prepare_inputs(*meta, args);
  std::vector<EValue> x;
  for (const Input& in : inputs) x.emplace_back(*in.tensor);

  // First inference, then warm-up, then the timed loop.
  auto first_start = Clock::now();
  auto first = module.forward(x);
  const int64_t first_ns = ns_since(first_start);
  if (!first.ok()) {
    die("the first inference failed (executorch error " +
        std::to_string(static_cast<int>(first.error())) + "); see stderr");
  }
  std::vector<float> outputs;
  std::string output_meta = "[";
  for (size_t i = 0; i < first->size(); ++i) append_output((*first)[i], i, outputs, &output_meta);
  output_meta += "]";
  if (!args.output.empty()) write_file(args.output, outputs);

  const int64_t warmup_min_ns = static_cast<int64_t>(args.warmup_min_ms * 1e6);
  long warmup_runs = 0;
  auto warmup_start = Clock::now();
  while (warmup_runs < args.warmup || ns_since(warmup_start) < warmup_min_ns) {
    if (!module.forward(x).ok()) die("a warm-up inference failed");
    ++warmup_runs;
  }
  const int64_t warmup_ns = ns_since(warmup_start);
  std::vector<int64_t> samples;
  samples.reserve(static_cast<size_t>(args.iterations));
  const int64_t min_ns = static_cast<int64_t>(args.min_time_ms * 1e6);
  const int64_t max_ns = static_cast<int64_t>(args.max_time_ms * 1e6);
  const char* stop_reason = "minimums_met";
  auto loop_start = Clock::now();
  while (true) {
    const int64_t elapsed = ns_since(loop_start);
    if (!samples.empty() && max_ns > 0 && elapsed >= max_ns) {
      stop_reason = "max_s_reached";
      break;
    }
    if (static_cast<long>(samples.size()) >= args.iterations && elapsed >= min_ns) break;
    auto start = Clock::now();
    auto result = module.forward(x);
    const int64_t ns = ns_since(start);
    if (!result.ok()) die("a timed inference failed");
    samples.push_back(ns);
  }
  const int64_t loop_ns = ns_since(loop_start);

  long eval_done = 0;
  if (!args.evals.empty() && args.eval_count > 0) eval_done = run_evals(module, inputs, args);

  // ETDump (profiling pass only): every event the runtime recorded since load.
  long long etdump_bytes = 0;
  if (!args.etdump.empty()) {
    auto* gen = static_cast<executorch::etdump::ETDumpGen*>(module.event_tracer());
    executorch::etdump::ETDumpResult dump = gen->get_etdump_data();
    if (dump.buf == nullptr || dump.size == 0) die("the ETDump is empty");
    FILE* f = std::fopen(args.etdump.c_str(), "wb");
    if (f == nullptr) die("cannot write " + args.etdump);
    std::fwrite(dump.buf, 1, dump.size, f);
    std::fclose(f);
    etdump_bytes = static_cast<long long>(dump.size);
    std::free(dump.buf);
  }

  std::string backends = "[";
  for (size_t i = 0; i < executorch::runtime::get_num_registered_backends(); ++i) {
    auto name = executorch::runtime::get_backend_name(i);
    if (name.ok()) backends += std::string(backends.size() > 1 ? ", " : "") + "\"" + *name + "\"";
  }
  backends += "]";

  std::string json = "{\"runner\": \"et_runner\", \"method\": \"forward\"";
  json += ", \"load_mode\": \"" + args.load_mode + "\"";
  json += ", \"threadpool_threads\": " +
          (pool ? std::to_string(pool->get_thread_count()) : std::string("null"));
  json += ", \"backends\": " + backends;
  // inputs: one entry per method input; input_shape / input_dtype (input 0) kept for old readers.
  json += ", \"inputs\": [";
  for (size_t i = 0; i < inputs.size(); ++i) {
    json += std::string(i ? ", " : "") + "{\"shape\": " + shape_json(inputs[i].shape) +
            ", \"dtype\": \"" + dtype_name(inputs[i].dtype) + "\"}";
  }
  json += "]";
  json += ", \"input_shape\": " + (inputs.empty() ? "[]" : shape_json(inputs[0].shape));
  json += ", \"input_dtype\": " +
          (inputs.empty() ? std::string("null")
                          : "\"" + std::string(dtype_name(inputs[0].dtype)) + "\"");
  json += ", \"load_ns\": " + std::to_string(load_ns);
  json += ", \"first_ns\": " + std::to_string(first_ns);
  json += ", \"warmup\": " + std::to_string(args.warmup);
  json += ", \"warmup_runs\": " + std::to_string(warmup_runs);
  json += ", \"warmup_ns\": " + std::to_string(warmup_ns);
  json += std::string(", \"stop_reason\": \"") + stop_reason + "\"";
  json += ", \"loop_ns\": " + std::to_string(loop_ns);
  json += ", \"samples_ns\": [";
  for (size_t i = 0; i < samples.size(); ++i) json += (i ? ", " : "") + std::to_string(samples[i]);
  json += "], \"outputs\": " + output_meta;
  json += ", \"eval_count\": " + std::to_string(eval_done);
  json += ", \"etdump_bytes\": " + std::to_string(etdump_bytes);
  json += ", \"baseline_rss_bytes\": " + std::to_string(baseline_rss);
  json += ", \"load_peak_rss_bytes\": " + std::to_string(load_peak_rss);
  json += ", \"peak_rss_bytes\": " + std::to_string(peak_rss_bytes());
  json += "}\n";
  std::fwrite(json.data(), 1, json.size(), stdout);
  std::fflush(stdout);
  return 0;
}
