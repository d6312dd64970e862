#include "vitlens/model/weights.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "vitlens/errors.h"
#include "vitlens/images/input_file.h"

namespace vitlens {

using json = nlohmann::json;

const char* dtype_name(DType t) {
    switch (t) {
        case DType::F32: return "F32";
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
        default: return "other";
    }
}

namespace {

size_t dtype_size(const std::string& s) {
    static const std::map<std::string, size_t> sizes = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
        {"I8", 1},  {"U8", 1},  {"U16", 2}, {"U32", 4},  {"U64", 8}, {"BOOL", 1},
        {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    auto it = sizes.find(s);
    return it == sizes.end() ? 0 : it->second;
}

DType dtype_of(const std::string& s) {
    if (s == "F32") return DType::F32;
    if (s == "F16") return DType::F16;
    if (s == "BF16") return DType::BF16;
    return DType::Other;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
    throw ModelError(path + ": " + what);
}

}  // namespace

float bf16_to_f32(uint16_t v) {
    uint32_t u = static_cast<uint32_t>(v) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else {  // subnormal: renormalise
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; --exp; }
            u = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

SafeTensors::SafeTensors(const std::string& path, SafetensorsLimits limits) : path_(path) {
    if (const std::string why = not_a_regular_file(path); !why.empty()) fail(path, why);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(path, "not a regular file");
    }
    file_size_ = static_cast<uint64_t>(st.st_size);
    if (file_size_ < 8) {
        ::close(fd);
        fail(path, "file is " + std::to_string(file_size_) +
                       " bytes, too short for a safetensors header (8-byte length + JSON)");
    }
    void* p = ::mmap(nullptr, file_size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) fail(path, std::string("mmap failed: ") + std::strerror(errno));
    base_ = static_cast<const uint8_t*>(p);
    mapped_ = true;
    try {
        parse(limits);
    } catch (...) {
        ::munmap(const_cast<uint8_t*>(base_), file_size_);
        mapped_ = false;
        throw;
    }
}

SafeTensors SafeTensors::from_bytes(const std::string& name, const std::vector<uint8_t>& bytes,
                                    SafetensorsLimits limits) {
    SafeTensors s;
    s.path_ = name;
    s.owned_ = bytes;
    s.base_ = s.owned_.data();
    s.file_size_ = s.owned_.size();
    if (s.file_size_ < 8)
        fail(name, "file is " + std::to_string(s.file_size_) +
                       " bytes, too short for a safetensors header (8-byte length + JSON)");
    s.parse(limits);
    return s;
}

SafeTensors::SafeTensors(SafeTensors&& o) noexcept
    : path_(std::move(o.path_)), base_(o.base_), file_size_(o.file_size_), data_(o.data_),
      data_size_(o.data_size_), mapped_(o.mapped_), owned_(std::move(o.owned_)),
      index_(std::move(o.index_)), metadata_(std::move(o.metadata_)), shards_(std::move(o.shards_)) {
    if (!mapped_ && !owned_.empty()) {  // vector move keeps the buffer address
        base_ = owned_.data();
        data_ = base_ + (file_size_ - data_size_);
    }
    o.mapped_ = false;
    o.base_ = nullptr;
}

SafeTensors::~SafeTensors() {
    if (mapped_ && base_) ::munmap(const_cast<uint8_t*>(base_), file_size_);
}

namespace {

// Throws unless the [begin, end) byte ranges are disjoint.
void check_no_overlap(std::vector<std::pair<uint64_t, uint64_t>> ranges, const std::string& path) {
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i)
        if (ranges[i].first < ranges[i - 1].second)
            fail(path, "tensor data ranges overlap: [" + std::to_string(ranges[i - 1].first) + ", " +
                            std::to_string(ranges[i - 1].second) + ") and [" +
                            std::to_string(ranges[i].first) + ", " + std::to_string(ranges[i].second) + ")");
}

}  // namespace

// The 8-byte length, then the JSON header; sets data_ and data_size_.
static json read_header(const uint8_t* base, uint64_t file_size, const std::string& path_,
                        const SafetensorsLimits& limits, const uint8_t** data, uint64_t* data_size) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | base[i];
    if (n > file_size - 8)
        fail(path_, "header length " + std::to_string(n) + " is larger than the " +
                        std::to_string(file_size - 8) +
                        " bytes after the length field (file truncated or not safetensors)");
    if (n > limits.max_header_bytes)
        fail(path_, "header length " + std::to_string(n) + " exceeds the limit of " +
                        std::to_string(limits.max_header_bytes) + " bytes");
    if (n < 2) fail(path_, "header length " + std::to_string(n) + " is too small for a JSON object");
    *data = base + 8 + n;
    *data_size = file_size - 8 - n;

    json h;
    try {
        h = json::parse(base + 8, base + 8 + n);
    } catch (const json::exception& e) {
        fail(path_, std::string("header is not valid JSON: ") + e.what());
    }
    return h;
}

// One tensor's entry: dtype, shape and data_offsets, checked against the data section.
static TensorInfo parse_entry(const std::string& name, const json& v, const SafetensorsLimits& limits,
                              const std::string& path_, uint64_t data_size_) {
    auto where = "tensor '" + name + "': ";
    if (!v.is_object()) fail(path_, where + "entry is not an object");
    if (!v.contains("dtype") || !v["dtype"].is_string())
        fail(path_, where + "missing or non-string 'dtype'");
    if (!v.contains("shape") || !v["shape"].is_array())
        fail(path_, where + "missing or non-array 'shape'");
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
        fail(path_, where + "'data_offsets' must be an array of 2 integers");
    TensorInfo t;
    t.name = name;
    t.dtype_str = v["dtype"].get<std::string>();
    t.dtype = dtype_of(t.dtype_str);
    size_t esize = dtype_size(t.dtype_str);
    if (esize == 0) fail(path_, where + "unknown dtype '" + t.dtype_str + "'");
    const json& shape = v["shape"];
    if (static_cast<int>(shape.size()) > limits.max_rank)
        fail(path_, where + "rank " + std::to_string(shape.size()) + " exceeds " +
                        std::to_string(limits.max_rank));
    // Element count with checked multiplication: UINT64_MAX when it (or its
    // size in bytes) does not fit 63 bits, which no file can hold.
    uint64_t count = 1;
    for (const json& d : shape) {
        if (!d.is_number_unsigned()) fail(path_, where + "shape has a non-integer or negative entry");
        uint64_t dv = d.get<uint64_t>();
        t.shape.push_back(static_cast<int64_t>(std::min<uint64_t>(dv, INT64_MAX)));
        if (count != UINT64_MAX && __builtin_mul_overflow(count, dv, &count)) count = UINT64_MAX;
    }
    uint64_t need = 0;
    if (count != UINT64_MAX && (__builtin_mul_overflow(count, esize, &need) || need > uint64_t(INT64_MAX)))
        count = UINT64_MAX;
    for (const json& o : v["data_offsets"])
        if (!o.is_number_unsigned()) fail(path_, where + "data_offsets has a non-integer or negative entry");
    t.begin = v["data_offsets"][0].get<uint64_t>();
    t.end = v["data_offsets"][1].get<uint64_t>();
    if (t.begin > t.end)
        fail(path_, where + "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                        "] are reversed");
    if (t.end > data_size_)
        fail(path_, where + "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                        "] run past the data section of " + std::to_string(data_size_) +
                        " bytes (file truncated?)");
    uint64_t bytes = t.end - t.begin;
    if (count == UINT64_MAX || need != bytes)
        fail(path_, where + "shape " + shape_str(t.shape) + " x " + t.dtype_str + " (" +
                        std::to_string(esize) + " bytes) needs " +
                        (count == UINT64_MAX ? std::string("more than the file")
                                             : std::to_string(count * esize)) +
                        " bytes, but data_offsets span " + std::to_string(bytes));
    return t;
}

void SafeTensors::parse(SafetensorsLimits limits) {
    const json h = read_header(base_, file_size_, path_, limits, &data_, &data_size_);
    if (!h.is_object()) fail(path_, "header is not a JSON object");
    if (h.size() > limits.max_tensors + 1)
        fail(path_, "header lists " + std::to_string(h.size()) + " entries, over the limit of " +
                        std::to_string(limits.max_tensors));
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (auto it = h.begin(); it != h.end(); ++it) {
        const std::string& name = it.key();
        const json& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) fail(path_, "__metadata__ is not an object");
            for (auto m = v.begin(); m != v.end(); ++m)
                if (m.value().is_string()) metadata_[m.key()] = m.value().get<std::string>();
            continue;
        }
        TensorInfo t = parse_entry(name, v, limits, path_, data_size_);
        t.section = data_;
        ranges.emplace_back(t.begin, t.end);
        index_.emplace(name, std::move(t));
    }
    check_no_overlap(std::move(ranges), path_);
}

const TensorInfo& SafeTensors::info(const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end()) fail(path_, "tensor '" + name + "' is missing");
    return it->second;
}

std::vector<std::string> SafeTensors::names() const {
    std::vector<std::string> out;
    out.reserve(index_.size());
    for (auto& kv : index_) out.push_back(kv.first);
    return out;
}

Tensor SafeTensors::to_f32(const std::string& name) const {
    const TensorInfo& t = info(name);
    Tensor out = Tensor::uninitialized(t.shape);
    const uint8_t* p = raw(t);
    const int64_t n = out.numel();
    float* o = out.data();
    if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
        fail(path_, "tensor '" + name + "' has dtype " + t.dtype_str + "; weights must be F32, F16 or BF16");
    // One pass, both cores: convert and look for NaN/Inf at once (loading is
    // mostly this loop and the page faults it takes).
    const DType dtype = t.dtype;
    int64_t first_bad = n;
#pragma omp parallel for schedule(static) reduction(min : first_bad) if (n >= (1 << 16))
    for (int64_t i = 0; i < n; ++i) {
        float v;
        if (dtype == DType::F32) {
            std::memcpy(&v, p + 4 * i, 4);
        } else {
            uint16_t h;
            std::memcpy(&h, p + 2 * i, 2);
            v = dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
        o[i] = v;
        if (!std::isfinite(v) && i < first_bad) first_bad = i;
    }
    if (first_bad < n)
        fail(path_, "tensor '" + name + "' holds a non-finite value (" + std::to_string(o[first_bad]) +
                        ") at element " + std::to_string(first_bad));
    // The converted copy is what callers keep: let the kernel drop the file
    // pages it came from, so a whole checkpoint is never resident twice.
    if (mapped_) {
        const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
        uintptr_t a = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
        uintptr_t b = reinterpret_cast<uintptr_t>(p + (t.end - t.begin)) / page * page;
        if (b > a) ::madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
    }
    return out;
}

Tensor SafeTensors::view_f32(const std::string& name, const std::vector<int64_t>& expected) const {
    const TensorInfo& t = info(name);
    if (t.shape != expected)
        fail(path_, "tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected " + shape_str(expected));
    const uint8_t* p = raw(t);
    if (!mapped_ || t.dtype != DType::F32 || reinterpret_cast<uintptr_t>(p) % alignof(float) != 0) return to_f32(name);
    const float* f = reinterpret_cast<const float*>(p);
    const int64_t n = static_cast<int64_t>((t.end - t.begin) / 4);
    int64_t first_bad = n;
#pragma omp parallel for schedule(static) reduction(min : first_bad) if (n >= (1 << 16))
    for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(f[i]) && i < first_bad) first_bad = i;
    if (first_bad < n)
        fail(path_, "tensor '" + name + "' holds a non-finite value (" + std::to_string(f[first_bad]) +
                        ") at element " + std::to_string(first_bad));
    return Tensor::borrow(f, t.shape);
}

void SafeTensors::release_pages() const {
    if (mapped_ && base_) ::madvise(const_cast<uint8_t*>(base_), file_size_, MADV_DONTNEED);
    for (const auto& s : shards_) s->release_pages();
}

SafeTensors SafeTensors::open_index(const std::string& index_path, SafetensorsLimits limits) {
    namespace fs = std::filesystem;
    if (const std::string why = not_a_regular_file(index_path); !why.empty()) fail(index_path, why);
    std::ifstream f(index_path);
    if (!f) fail(index_path, "cannot open");
    std::stringstream text;
    text << f.rdbuf();
    const json j = json::parse(text.str(), nullptr, false);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        fail(index_path, "not a safetensors index: no \"weight_map\" object");
    SafeTensors out;
    out.path_ = index_path;
    out.mapped_ = true;
    std::map<std::string, size_t> shard_of_file;
    for (const auto& [tensor, file] : j["weight_map"].items()) {
        if (!file.is_string()) fail(index_path, "weight_map['" + tensor + "'] is not a file name");
        const std::string name = file.get<std::string>();
        if (name.empty() || name[0] == '/' || name.find("..") != std::string::npos)
            fail(index_path, "weight_map names an unsafe file '" + name + "'");
        if (shard_of_file.count(name)) continue;
        shard_of_file[name] = out.shards_.size();
        out.shards_.push_back(std::make_unique<SafeTensors>(
            (fs::path(index_path).parent_path() / name).string(), limits));
    }
    for (const auto& shard : out.shards_)
        for (const auto& [name, info] : shard->index_)
            if (!out.index_.emplace(name, info).second)
                fail(index_path, "tensor '" + name + "' is in two shards (" + shard->path() + " and another)");
    for (const auto& [tensor, file] : j["weight_map"].items()) {
        const SafeTensors& shard = *out.shards_[shard_of_file[file.get<std::string>()]];
        if (!shard.contains(tensor))
            fail(index_path, "weight_map puts '" + tensor + "' in " + shard.path() + ", which does not hold it");
    }
    return out;
}

Tensor SafeTensors::to_f32(const std::string& name, const std::vector<int64_t>& expected) const {
    const TensorInfo& t = info(name);
    if (t.shape != expected)
        fail(path_, "tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected " + shape_str(expected));
    return to_f32(name);
}

}  // namespace vitlens
