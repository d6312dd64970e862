#include "vitlens/images/array_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "vitlens/errors.h"
#include "vitlens/images/input_file.h"
#include "vitlens/images/output_file.h"

namespace vitlens {

namespace {

constexpr size_t kHeaderBytes = 128;  // magic (6) + version (2) + length (2) + dict, padded: a multiple of 64

[[noreturn]] void out_fail(const std::string& path, const std::string& what) { throw OutputError(path + ": " + what); }

std::string shape_tuple(int64_t rows, const std::vector<int64_t>& row_shape) {
    std::string s = "(" + std::to_string(rows) + ",";
    for (size_t i = 0; i < row_shape.size(); ++i) s += (i ? ", " : " ") + std::to_string(row_shape[i]);
    return s + ")";
}

// The dict part of a v1.0 header: "{'descr': '<f4', ...}", or "" if not one.
std::string read_header_dict(std::FILE* f, size_t* data_offset) {
    unsigned char pre[10];
    if (std::fread(pre, 1, 10, f) != 10 || std::memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1) return "";
    const size_t len = pre[8] | (size_t(pre[9]) << 8);
    std::string dict(len, '\0');
    if (std::fread(dict.data(), 1, len, f) != len) return "";
    *data_offset = 10 + len;
    return dict;
}

// The shape tuple's numbers, when descr is '<f4' and fortran_order False.
bool parse_dict(const std::string& d, std::vector<int64_t>* shape) {
    if (d.find("'descr': '<f4'") == std::string::npos || d.find("'fortran_order': False") == std::string::npos)
        return false;
    const size_t a = d.find("'shape': ("), b = d.find(')', a);
    if (a == std::string::npos || b == std::string::npos) return false;
    std::stringstream s(d.substr(a + 10, b - a - 10));
    std::string item;
    while (std::getline(s, item, ',')) {
        if (item.find_first_not_of(' ') == std::string::npos) continue;
        try {
            shape->push_back(std::stoll(item));
        } catch (const std::exception&) {
            return false;
        }
    }
    return true;
}

}  // namespace

NpyAppender::NpyAppender(std::string path, std::vector<int64_t> row_shape, bool resume)
    : path_(std::move(path)), row_shape_(std::move(row_shape)) {
    for (int64_t d : row_shape_) row_floats_ *= d;
    try {
        open(resume);
    } catch (...) {  // the destructor does not run for a half-made object
        if (f_) std::fclose(f_);
        f_ = nullptr;
        if (!tmp_.empty()) ::unlink(tmp_.c_str());
        throw;
    }
}

void NpyAppender::open(bool resume) {
    const OutputTarget t = resolve_output(path_);
    if (t.stream)
        out_fail(path_, "is a FIFO or a device; a .npy grows in place and its header is rewritten, so it needs a "
                        "regular file");
    struct stat st {};
    const bool exists = ::stat(t.file.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    if (resume && exists) {
        f_ = std::fopen(path_.c_str(), "r+b");
        if (!f_) out_fail(path_, std::string("cannot open to resume: ") + std::strerror(errno));
        auto refuse = [this](const std::string& why) {
            std::fclose(f_);
            f_ = nullptr;
            out_fail(path_, why);
        };
        size_t off = 0;
        std::vector<int64_t> shape;
        const std::string dict = read_header_dict(f_, &off);
        if (dict.empty() || !parse_dict(dict, &shape) || off != kHeaderBytes || shape.empty())
            refuse("not a float32 .npy written by vitlens; cannot resume it (remove it or use another path)");
        if (std::vector<int64_t>(shape.begin() + 1, shape.end()) != row_shape_)
            refuse("rows of shape " + shape_str({shape.begin() + 1, shape.end()}) + " on disk, this run makes " +
                   shape_str(row_shape_) + " (another model or feature?)");
        const int64_t on_disk = (int64_t(st.st_size) - int64_t(kHeaderBytes)) / (row_floats_ * 4);
        rows_ = std::max<int64_t>(0, on_disk);  // complete rows; the caller's index may keep fewer
        truncate(rows_);
        return;
    }
    // a new file grows in place (a killed run resumes it); one that replaces
    // an existing file grows beside it and is renamed over it by close(), so
    // a run that fails leaves the old array as it was
    if (exists) tmp_ = temp_path_beside(t.file), final_ = t.file;
    const std::string where = exists ? tmp_ : t.file;
    if (exists) ::unlink(tmp_.c_str());
    f_ = std::fopen(where.c_str(), exists ? "w+xb" : "w+b");
    if (!f_) out_fail(path_, std::string("cannot create: ") + std::strerror(errno));
    write_header();
}

NpyAppender::~NpyAppender() {
    if (f_) std::fclose(f_);
    if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

void NpyAppender::close() {
    std::FILE* f = f_;
    f_ = nullptr;
    if (f && std::fclose(f) != 0) out_fail(path_, std::string("cannot finish writing: ") + std::strerror(errno));
    if (tmp_.empty()) return;
    if (::rename(tmp_.c_str(), final_.c_str()) != 0)
        out_fail(path_, std::string("cannot rename the finished array into place: ") + std::strerror(errno));
    tmp_.clear();
}

void NpyAppender::write_header() {
    std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_tuple(rows_, row_shape_) + ", }";
    if (dict.size() + 11 > kHeaderBytes) out_fail(path_, "array shape too long for the header");
    dict.resize(kHeaderBytes - 11, ' ');
    dict += '\n';
    std::string h = std::string("\x93NUMPY\x01\x00", 8);
    const size_t len = dict.size();
    h += char(len & 0xff);
    h += char(len >> 8);
    h += dict;
    if (std::fseek(f_, 0, SEEK_SET) != 0 || std::fwrite(h.data(), 1, h.size(), f_) != h.size() || std::fflush(f_) != 0)
        out_fail(path_, std::string("cannot write the header: ") + std::strerror(errno));
}

void NpyAppender::append(const float* data, int64_t rows) {
    if (rows <= 0) return;
    const size_t n = size_t(rows * row_floats_);
    if (std::fseek(f_, long(kHeaderBytes + size_t(rows_ * row_floats_) * 4), SEEK_SET) != 0 ||
        std::fwrite(data, 4, n, f_) != n || std::fflush(f_) != 0)
        out_fail(path_, "cannot append " + std::to_string(rows) + " rows: " + std::strerror(errno));
    rows_ += rows;
    write_header();  // after the data: the header never claims rows that are not there
}

void NpyAppender::truncate(int64_t rows) {
    rows_ = std::clamp<int64_t>(rows, 0, rows_);
    std::fflush(f_);
    if (::ftruncate(::fileno(f_), off_t(kHeaderBytes + size_t(rows_ * row_floats_) * 4)) != 0)
        out_fail(path_, std::string("cannot truncate: ") + std::strerror(errno));
    write_header();
}

Tensor read_npy(const std::string& path) {
    if (const std::string why = not_a_regular_file(path); !why.empty()) throw InputError(path + ": " + why);
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw InputError(path + ": cannot open: " + std::strerror(errno));
    size_t off = 0;
    std::vector<int64_t> shape;
    const std::string dict = read_header_dict(f, &off);
    if (dict.empty() || !parse_dict(dict, &shape)) {
        std::fclose(f);
        throw InputError(path + ": not a little-endian float32 C-order .npy");
    }
    struct stat st {};
    uint64_t need = 4;  // the shape's bytes, checked against the file before anything is allocated
    for (int64_t d : shape)
        if (d < 0 || __builtin_mul_overflow(need, uint64_t(d), &need)) need = UINT64_MAX;
    if (::fstat(::fileno(f), &st) != 0 || need > uint64_t(st.st_size)) {
        std::fclose(f);
        throw InputError(path + ": shorter than its shape " + shape_str(shape) + " says");
    }
    Tensor t = Tensor::uninitialized(shape);
    const size_t n = size_t(t.numel());
    const bool ok = std::fseek(f, long(off), SEEK_SET) == 0 && std::fread(t.data(), 4, n, f) == n;
    std::fclose(f);
    if (!ok) throw InputError(path + ": shorter than its shape " + shape_str(shape) + " says");
    return t;
}

void write_safetensors(const std::string& path, const std::map<std::string, const Tensor*>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    nlohmann::json h = nlohmann::json::object();
    uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        const uint64_t bytes = uint64_t(t->numel()) * 4;
        h[name] = {{"dtype", "F32"}, {"shape", t->shape()}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    if (!metadata.empty()) h["__metadata__"] = metadata;
    std::string text = h.dump();
    text.resize((text.size() + 7) / 8 * 8, ' ');
    AtomicFile f(path);
    const uint64_t n = text.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = char((n >> (8 * i)) & 0xff);
    f.write(len, 8);
    f.write(text);
    for (const auto& [name, t] : tensors) f.write(t->data(), size_t(t->numel()) * 4);
    f.commit();
}

}  // namespace vitlens
