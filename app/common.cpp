#include "common.h"

#include <unistd.h>

#include <algorithm>
#include <tuple>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "default_model.h"
#include "options.h"
#include "vitlens/datasets.h"
#include "vitlens/errors.h"
#include "vitlens/hub_cache.h"

namespace vitlens::app {

namespace fs = std::filesystem;

void ModelOptions::add_to(po::options_description& d) {
    OptionTable(d)
        .text("model,m", &model, "DIR|ID",
              "checkpoint directory (config.json + model.safetensors [+ preprocessor_config.json]), or a\n"
              "Hugging Face id ORG/NAME[@REVISION] found in the local hub cache ($HF_HUB_CACHE, else\n"
              "$HF_HOME/hub, else ~/.cache/huggingface/hub); default: the bundled Fashion-MNIST ViT, or\n"
              "$VITLENS_MODEL")
        .integer("threads,t", &threads, 0, 0, 256, "N", "oneDNN threads (0 = one per physical core)")
        .choice("precision", &precision, "f32", {"f32", "bf16"}, "P", "f32, or bf16 on CPUs with AVX512-BF16/AMX")
        .text("input-size", &input_size, "H[xW]",
              "run at H x W pixels instead of the model's size (multiples of the patch size): the patch\n"
              "grid follows, position embeddings are resampled (bicubic, as HF / timm do), and the\n"
              "resize and crop scale to it");
}

namespace {

// "224" or "448x320" (height x width) -> pixels; UsageError otherwise.
std::pair<int, int> parse_input_size(const std::string& text) {
    int h = 0, w = 0;
    char x = 0, extra = 0;
    const int n = std::sscanf(text.c_str(), "%d%c%d%c", &h, &x, &w, &extra);
    const bool ok = (n == 1 && h > 0) || (n == 3 && (x == 'x' || x == 'X') && h > 0 && w > 0);
    if (!ok || text.find_first_not_of("0123456789xX") != std::string::npos)
        throw UsageError("--input-size: expected H or HxW in pixels (e.g. 224 or 448x320), got '" + text + "'");
    return {h, n == 1 ? h : w};
}

}  // namespace

std::string ModelOptions::resolve(std::string* where) const {
    if (!model.empty()) {
        if (where) *where = "--model";
        return resolve_model_path(model);
    }
    std::string w;
    std::string dir = default_model(&w);
    dir = resolve_model_path(dir);  // $VITLENS_MODEL may be a hub id too
    if (dir.empty())
        throw ModelError(std::string("no --model given and the bundled model '") + kBundledModel +
                         "' was not found next to the executable; pass --model DIR or set VITLENS_MODEL");
    if (where) *where = w;
    return dir;
}

ClassifierOptions ModelOptions::classifier_options() const {
    ClassifierOptions o;
    o.threads = threads;
    if (!input_size.empty()) std::tie(o.input_h, o.input_w) = parse_input_size(input_size);
    o.precision = Precision::F32;
    if (precision == "bf16") {
        if (cpu_has_bf16()) o.precision = Precision::BF16;
        else std::cerr << "vitlens: --precision bf16: this CPU has no AVX512-BF16 or AMX; running in f32\n";
    }
    return o;
}

std::vector<std::string> collect_images(const std::vector<std::string>& inputs, std::vector<std::string>& errors) {
    std::vector<std::string> out;
    for (const std::string& in : inputs) {
        std::error_code ec;
        fs::file_status st = fs::status(in, ec);
        if (ec || !fs::exists(st)) {
            errors.push_back(in + ": no such file or directory");
            continue;
        }
        if (fs::is_directory(st)) {
            std::vector<std::string> found;
            fs::recursive_directory_iterator it(in, fs::directory_options::skip_permission_denied, ec), end;
            if (ec) {
                errors.push_back(in + ": cannot list directory (" + ec.message() + ")");
                continue;
            }
            for (; it != end; it.increment(ec)) {
                if (ec) {
                    errors.push_back(in + ": error while listing (" + ec.message() + ")");
                    break;
                }
                std::error_code e2;
                if (!has_image_extension(it->path().string()) || it->is_directory(e2)) continue;
                if (it->is_regular_file(e2)) found.push_back(it->path().string());
                else errors.push_back(it->path().string() + ": cannot open (broken link or not a regular file)");
            }
            std::sort(found.begin(), found.end());
            if (found.empty()) errors.push_back(in + ": directory holds no image files");
            out.insert(out.end(), found.begin(), found.end());
        } else {
            out.push_back(in);
        }
    }
    std::set<std::string> seen;  // a file named twice (or inside a listed folder too) is one image
    std::erase_if(out, [&](const std::string& f) { return !seen.insert(f).second; });
    return out;
}

bool parse_args(int argc, char** argv, const std::string& usage, const po::options_description& visible,
                const po::positional_options_description* positional, po::variables_map& vm,
                const po::options_description* hidden) {
    po::options_description all;
    all.add(visible);
    if (hidden) all.add(*hidden);
    po::command_line_parser p(argc, argv);
    p.options(all);
    if (positional) p.positional(*positional);
    try {
        po::store(p.run(), vm);
    } catch (const po::error& e) {
        throw UsageError(e.what());
    }
    if (vm.count("help")) {
        std::cout << usage << "\n\n" << visible << "\n";
        return false;
    }
    try {
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(e.what());
    }
    return true;
}

bool parse_args_with_inputs(int argc, char** argv, const std::string& usage, const po::options_description& visible,
                            std::vector<std::string>& inputs, po::variables_map& vm) {
    po::options_description hidden;
    hidden.add_options()("input", po::value(&inputs)->multitoken());
    po::positional_options_description pos;
    pos.add("input", -1);
    if (!parse_args(argc, argv, usage, visible, &pos, vm, &hidden)) return false;
    if (inputs.empty()) throw UsageError("no INPUT given (image files or directories)");
    return true;
}

bool stderr_is_tty() { return ::isatty(2) == 1; }

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void flush_stdout() {
    errno = 0;
    std::cout.flush();
    if (std::cout.good() && std::fflush(stdout) == 0) return;
    throw OutputError(std::string("standard output: cannot write (") + std::strerror(errno ? errno : EIO) + ")");
}

Progress::Progress(std::string what, size_t total)
    : what_(std::move(what)), total_(total), tty_(stderr_is_tty()), start_(now_seconds()) {}

void Progress::update(size_t done) {
    double t = now_seconds();
    if (done == told_ || (t - last_ < (tty_ ? 0.2 : 5.0) && done < total_)) return;  // each count told once
    last_ = t;
    told_ = done;
    double el = t - start_, rate = el > 0 ? done / el : 0;
    double eta = rate > 0 ? (total_ - done) / rate : 0;
    char buf[256];
    if (tty_) {
        int width = 30, fill = total_ ? int(width * double(done) / total_) : width;
        std::string bar(fill, '#');
        bar.resize(width, '.');
        std::snprintf(buf, sizeof buf, "\r%s [%s] %zu/%zu  %.1f img/s  ETA %.0fs   ", what_.c_str(), bar.c_str(), done,
                      total_, rate, eta);
    } else {
        std::snprintf(buf, sizeof buf, "%s: %zu/%zu (%.1f img/s, ETA %.0fs)\n", what_.c_str(), done, total_, rate, eta);
    }
    std::cerr << buf << std::flush;
}

void Progress::finish() {
    if (tty_) std::cerr << "\n";
}

std::string json_escape(const std::string& s) {
    // JSON must be valid UTF-8: bytes that do not form UTF-8 (file names in
    // other encodings) become U+FFFD.
    std::string o;
    o.reserve(s.size() + 2);
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
            bool ok = len >= 2 && i + len <= n && !(len == 2 && c < 0xC2);
            for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xC0) == 0x80;
            if (ok) {
                o.append(s, i, len);
                i += len;
            } else {
                o += "\ufffd";
                ++i;
            }
            continue;
        }
        switch (c) {
            case '"': o += "\\\""; break;
            case '\\': o += "\\\\"; break;
            case '\n': o += "\\n"; break;
            case '\r': o += "\\r"; break;
            case '\t': o += "\\t"; break;
            default:
                if (c < 0x20) {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\u%04x", c);
                    o += b;
                } else {
                    o += static_cast<char>(c);
                }
        }
        ++i;
    }
    return o;
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) {
        if (c == '"') o += '"';
        o += c;
    }
    return o + "\"";
}


OutputDir::OutputDir(std::string dir, bool overwrite, bool resume) : dir_(std::move(dir)), resume_(resume) {
    std::error_code ec;
    bool existed = fs::exists(dir_, ec);
    if (existed && !fs::is_directory(dir_, ec)) throw OutputError(dir_ + ": exists and is not a directory");
    if (!existed && !fs::create_directories(dir_, ec))
        throw OutputError(dir_ + ": cannot create directory (" + ec.message() + ")");
    bool empty = !existed || fs::is_empty(dir_, ec);
    may_replace_ = overwrite || empty;
}

std::string OutputDir::target(const std::string& name, const std::string& input) {
    const fs::path p = fs::path(dir_) / name;
    if (auto [it, fresh] = written_.emplace(name, input); !fresh && it->second != input)
        throw InputError(input + ": its output " + p.string() + " was already written for " + it->second +
                         " in this run (two inputs of one name in one folder); rename one");
    std::error_code ec;
    if (p.has_parent_path() && !fs::is_directory(p.parent_path(), ec) && !fs::create_directories(p.parent_path(), ec))
        throw OutputError(p.parent_path().string() + ": cannot create directory (" + ec.message() + ")");
    check_can_write(p.string(), may_replace_ || (resume_ && !output_decodes(p.string())));
    return p.string();
}

void OutputDir::write_png(const std::string& name, const cv::Mat& rgb, const std::string& input) {
    write_image_atomic(target(name, input), rgb);
}

namespace {

fs::path normal_absolute(const std::string& p) {
    std::error_code ec;
    fs::path a = fs::absolute(p, ec);
    return (ec ? fs::path(p) : a).lexically_normal();
}

}  // namespace

OutputNames::OutputNames(const std::vector<std::string>& inputs) {
    bool first = true;
    for (const std::string& in : inputs) {
        std::error_code ec;
        fs::path dir = normal_absolute(in);
        if (!fs::is_directory(dir, ec)) dir = dir.parent_path();
        if (first) base_ = dir;
        first = false;
        fs::path common;  // the longest shared leading part of base_ and dir
        for (auto a = base_.begin(), b = dir.begin(); a != base_.end() && b != dir.end() && *a == *b; ++a, ++b)
            common /= *a;
        base_ = common;
    }
}

std::string OutputNames::key(const std::string& file) const {
    const fs::path abs = normal_absolute(file);
    fs::path rel = abs.lexically_relative(base_);
    if (rel.empty() || *rel.begin() == "..") rel = abs.filename();
    return (rel.parent_path() / rel.stem()).string();
}

std::string float_str(float v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.9g", v);
    return b;
}

std::string top_json(const Prediction& p) {
    std::string s = "[";
    for (size_t i = 0; i < p.top.size(); ++i) {
        if (i) s += ", ";
        s += "{\"index\": " + std::to_string(p.top[i].index) + ", \"label\": \"" + json_escape(p.top[i].label) +
             "\", \"prob\": " + float_str(p.top[i].prob) + "}";
    }
    return s + "]";
}

}  // namespace vitlens::app
