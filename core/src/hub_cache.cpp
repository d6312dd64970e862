#include "vitlens/hub_cache.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "vitlens/errors.h"

namespace vitlens {

namespace fs = std::filesystem;

namespace {

// The hub's repo name rules: [A-Za-z0-9._-], no "--" or "..", not starting
// or ending with '-' or '.', at most 96 characters.
bool valid_part(const std::string& s) {
    if (s.empty() || s.size() > 96) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
    if (s.find("--") != std::string::npos || s.find("..") != std::string::npos) return false;
    return s.front() != '-' && s.front() != '.' && s.back() != '-' && s.back() != '.';
}

bool valid_revision(const std::string& r) {
    if (r.empty() || r.size() > 255 || r.front() == '/' || r.find("..") != std::string::npos) return false;
    for (char c : r)
        if (static_cast<unsigned char>(c) < 0x21 || c == '\\') return false;
    return true;
}

bool is_commit(const std::string& r) {
    return r.size() == 40 && r.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string download_hint(const ModelId& id) {
    return "download it with `huggingface-cli download " + id.org + "/" + id.name +
           (id.revision == "main" ? "" : " --revision " + id.revision) + "`, or pass a directory";
}

}  // namespace

std::optional<ModelId> parse_model_id(const std::string& text) {
    const size_t at = text.find('@');
    const std::string repo = text.substr(0, at);
    const size_t slash = repo.find('/');
    if (slash == std::string::npos || repo.find('/', slash + 1) != std::string::npos) return std::nullopt;
    ModelId id;
    id.org = repo.substr(0, slash);
    id.name = repo.substr(slash + 1);
    if (at != std::string::npos) id.revision = text.substr(at + 1);
    if (!valid_part(id.org) || !valid_part(id.name) || !valid_revision(id.revision)) return std::nullopt;
    return id;
}

std::string hub_cache_dir() {
    if (const char* c = std::getenv("HF_HUB_CACHE"); c && *c) return c;
    if (const char* h = std::getenv("HF_HOME"); h && *h) return (fs::path(h) / "hub").string();
    const char* home = std::getenv("HOME");
    return (fs::path(home && *home ? home : "/") / ".cache" / "huggingface" / "hub").string();
}

std::string resolve_cached_model(const ModelId& id, const std::string& cache) {
    const fs::path repo = fs::path(cache) / ("models--" + id.org + "--" + id.name);
    std::error_code ec;
    if (!fs::is_directory(repo, ec))
        throw ModelError(id.str() + ": not in the Hugging Face cache " + cache + " (no " + repo.filename().string() +
                         "); " + download_hint(id));
    std::string commit = id.revision;
    if (!is_commit(commit)) {
        const fs::path ref = repo / "refs" / id.revision;
        std::ifstream f(ref);
        if (!(f >> commit) || !is_commit(commit))
            throw ModelError(id.str() + ": revision '" + id.revision + "' is not in the cache (" + ref.string() +
                             (f ? " does not hold a commit" : " is missing") + "); " + download_hint(id));
    }
    const fs::path snap = repo / "snapshots" / commit;
    if (!fs::is_directory(snap, ec))
        throw ModelError(id.str() + ": snapshot " + commit + " is not in the cache (no " + snap.string() + "); " +
                         download_hint(id));
    return snap.string();
}

std::string resolve_model_path(const std::string& dir_or_id) {
    std::error_code ec;
    if (fs::exists(dir_or_id, ec)) return dir_or_id;
    auto id = parse_model_id(dir_or_id);
    if (!id) return dir_or_id;  // the checkpoint loader says what is wrong with the path
    try {
        return resolve_cached_model(*id, hub_cache_dir());
    } catch (const ModelError& e) {
        throw ModelError(std::string(e.what()) + " (and there is no directory " + dir_or_id + ")");
    }
}

}  // namespace vitlens
