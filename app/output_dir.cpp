#include "output_dir.h"

#include <algorithm>
#include <filesystem>

#include "vitlens/errors.h"
#include "vitlens/images/image_io.h"
#include "vitlens/images/output_file.h"

namespace fs = std::filesystem;

namespace vitlens::app {

void check_replaceable(const std::string& path, bool overwrite) {
    check_can_write(path, overwrite, "pass --overwrite to replace it");
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
    check_replaceable(p.string(), may_replace_ || (resume_ && !output_decodes(p.string())));
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

}  // namespace vitlens::app
