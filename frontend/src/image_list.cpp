#include "vitlens/frontend/image_list.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "vitlens/images/datasets.h"

namespace vitlens::frontend {

namespace fs = std::filesystem;

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

}  // namespace vitlens::frontend
