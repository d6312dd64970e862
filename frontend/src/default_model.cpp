#include "vitlens/frontend/default_model.h"

#include <cstdlib>
#include <filesystem>
#include <utility>

namespace vitlens::frontend {

namespace fs = std::filesystem;

const char* const kBundledModel = "vit-fashion-mnist";

std::string default_model(std::string* where) {
    if (const char* env = std::getenv("VITLENS_MODEL"); env && *env) {
        if (where) *where = "$VITLENS_MODEL";
        return env;
    }
    std::error_code ec;
    const fs::path bin = fs::read_symlink("/proc/self/exe", ec).parent_path();
    if (ec) return {};
    for (auto [dir, why] : {std::pair{bin / ".." / ".." / "assets" / "models" / kBundledModel, "build tree"},
                            std::pair{bin / ".." / "share" / "vitlens" / "models" / kBundledModel, "installed"}}) {
        if (fs::exists(dir / "config.json", ec) && fs::exists(dir / "model.safetensors", ec)) {
            if (where) *where = why;
            return fs::weakly_canonical(dir, ec).string();
        }
    }
    return {};
}

}  // namespace vitlens::frontend
