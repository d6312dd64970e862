#include "vitlens/images/datasets.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/imgproc.hpp>
#include <set>

#include "vitlens/errors.h"
#include "vitlens/images/input_file.h"

namespace vitlens {

namespace fs = std::filesystem;

std::vector<uint8_t> read_maybe_gzip(const std::string& path) {
    if (const std::string why = not_a_regular_file(path); !why.empty() && why != "does not exist")
        throw InputError(path + ": " + why);
    std::ifstream f(path, std::ios::binary);
    if (!f) throw InputError(path + ": cannot open (missing or unreadable)");
    std::vector<uint8_t> raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (raw.size() < 2 || raw[0] != 0x1f || raw[1] != 0x8b) return raw;
    z_stream z{};
    if (inflateInit2(&z, 15 + 32) != Z_OK) throw InputError(path + ": zlib init failed");
    std::vector<uint8_t> out;
    out.resize(raw.size() * 4 + 1024);
    z.next_in = raw.data();
    z.avail_in = static_cast<uInt>(raw.size());
    int rc;
    do {
        if (z.total_out == out.size()) out.resize(out.size() * 2);
        z.next_out = out.data() + z.total_out;
        z.avail_out = static_cast<uInt>(out.size() - z.total_out);
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
    } while (rc == Z_OK || rc == Z_BUF_ERROR);
    size_t n = z.total_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END) throw InputError(path + ": corrupt or truncated gzip data");
    out.resize(n);
    return out;
}

namespace {

uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }

// Returns dims; checks magic (0x0000 08 ndim: unsigned bytes) and size.
std::vector<uint32_t> idx_dims(const std::vector<uint8_t>& b, const std::string& path, int want_ndim) {
    if (b.size() < 4 || b[0] != 0 || b[1] != 0 || b[2] != 0x08)
        throw InputError(path + ": not an IDX file of unsigned bytes (bad magic)");
    int nd = b[3];
    if (nd != want_ndim)
        throw InputError(path + ": IDX file has " + std::to_string(nd) + " dimensions, expected " + std::to_string(want_ndim));
    if (b.size() < size_t(4 + 4 * nd)) throw InputError(path + ": truncated IDX header");
    std::vector<uint32_t> dims;
    uint64_t total = 1;
    for (int i = 0; i < nd; ++i) {
        dims.push_back(be32(b.data() + 4 + 4 * i));
        total *= dims.back();
        if (total > (uint64_t(1) << 40)) throw InputError(path + ": IDX dimensions are implausibly large");
    }
    if (b.size() - 4 - 4 * nd < total)
        throw InputError(path + ": IDX data is " + std::to_string(b.size() - 4 - 4 * nd) + " bytes, header needs " +
                         std::to_string(total) + " (truncated)");
    return dims;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

}  // namespace

cv::Mat IdxSet::rgb(int i) const {
    cv::Mat gray(rows, cols, CV_8U, const_cast<uint8_t*>(pixels.data() + size_t(i) * rows * cols));
    cv::Mat out;
    cv::cvtColor(gray, out, cv::COLOR_GRAY2RGB);
    return out;
}

IdxSet read_idx(const std::string& images_path, const std::string& labels_path) {
    auto ib = read_maybe_gzip(images_path);
    auto lb = read_maybe_gzip(labels_path);
    auto idims = idx_dims(ib, images_path, 3);
    auto ldims = idx_dims(lb, labels_path, 1);
    if (idims[0] != ldims[0])
        throw InputError(images_path + ": " + std::to_string(idims[0]) + " images but " + labels_path + " has " +
                         std::to_string(ldims[0]) + " labels");
    IdxSet s;
    s.count = static_cast<int>(idims[0]);
    s.rows = static_cast<int>(idims[1]);
    s.cols = static_cast<int>(idims[2]);
    if (s.rows == 0 || s.cols == 0) throw InputError(images_path + ": IDX images are empty (0 rows or columns)");
    s.pixels.assign(ib.begin() + 16, ib.begin() + 16 + size_t(s.count) * s.rows * s.cols);
    s.labels.assign(lb.begin() + 8, lb.begin() + 8 + s.count);
    return s;
}

bool has_image_extension(const std::string& path) {
    static const std::set<std::string> exts = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff",
                                               ".pgm", ".ppm", ".pbm", ".pnm", ".jpe"};
    return exts.count(lower(fs::path(path).extension().string())) != 0;
}

std::vector<FolderItem> scan_image_folder(const std::string& root, const std::vector<std::string>& labels) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) throw InputError(root + ": not a directory");
    std::map<std::string, int> by_name;
    for (size_t i = 0; i < labels.size(); ++i) by_name.emplace(lower(labels[i]), static_cast<int>(i));
    std::vector<FolderItem> items;
    std::vector<fs::path> classes;
    for (auto& e : fs::directory_iterator(root, ec))
        if (e.is_directory()) classes.push_back(e.path());
    std::sort(classes.begin(), classes.end());
    if (classes.empty()) throw InputError(root + ": no class subfolders (expected <root>/<label>/<image>)");
    for (const fs::path& c : classes) {
        std::string name = c.filename().string();
        auto it = by_name.find(lower(name));
        if (it == by_name.end()) {
            std::string all;
            for (size_t i = 0; i < labels.size(); ++i) all += (i ? ", " : "") + labels[i];
            throw InputError(c.string() + ": folder name '" + name + "' matches none of the model's " +
                             std::to_string(labels.size()) + " labels (" + all + ")");
        }
        std::vector<std::string> files;
        for (auto it2 = fs::recursive_directory_iterator(c, fs::directory_options::skip_permission_denied, ec);
             it2 != fs::recursive_directory_iterator(); it2.increment(ec)) {
            if (ec) break;
            if (it2->is_regular_file() && has_image_extension(it2->path().string())) files.push_back(it2->path().string());
        }
        std::sort(files.begin(), files.end());
        for (auto& f : files) items.push_back({f, it->second});
    }
    return items;
}

}  // namespace vitlens
