#include "vitlens/hub/hub_cache.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "vitlens/errors.h"
#include "vitlens/images/input_file.h"

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

// One segment of a ref or a repo path.
bool valid_ref_segment(const std::string& seg) {
    if (seg.empty() || seg.front() == '.' || seg.back() == '.') return false;
    if (seg.size() >= 5 && seg.compare(seg.size() - 5, 5, ".lock") == 0) return false;
    return true;
}

std::string download_hint(const ModelId& id) {
    return "download it with `huggingface-cli download " + id.org + "/" + id.name +
           (id.revision == "main" ? "" : " --revision " + id.revision) + "`, or pass a directory";
}

}  // namespace

bool is_commit(const std::string& r) {
    return r.size() == 40 && r.find_first_not_of("0123456789abcdef") == std::string::npos;
}

bool valid_revision(const std::string& r) {
    if (r.empty() || r.size() > 255 || r == "@" || r.find("..") != std::string::npos ||
        r.find("@{") != std::string::npos || r.find("//") != std::string::npos)
        return false;
    for (char c : r)
        if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f || std::string(" ~^:?*[\\").find(c) != std::string::npos)
            return false;
    if (r.front() == '/' || r.back() == '/') return false;
    for (size_t a = 0; a <= r.size();) {
        const size_t b = std::min(r.find('/', a), r.size());
        if (!valid_ref_segment(r.substr(a, b - a))) return false;
        a = b + 1;
    }
    return true;
}

bool valid_etag(const std::string& e) {
    if (e.empty() || e.size() > 128) return false;
    for (char c : e)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
    return true;
}

bool valid_repo_file(const std::string& f) {
    if (f.empty() || f.size() > 1024 || f.front() == '/' || f.back() == '/') return false;
    for (size_t a = 0; a <= f.size();) {
        const size_t b = std::min(f.find('/', a), f.size());
        const std::string seg = f.substr(a, b - a);
        if (seg.empty() || seg == "." || seg == "..") return false;
        a = b + 1;
    }
    for (char c : f)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') return false;
    return true;
}

HubLayout::HubLayout(const std::string& cache_root, const ModelId& id)
    : root(cache_root), repo((fs::path(cache_root) / ("models--" + id.org + "--" + id.name)).string()) {}

std::string HubLayout::blob(const std::string& etag) const { return repo + "/blobs/" + etag; }
std::string HubLayout::snapshot(const std::string& commit) const { return repo + "/snapshots/" + commit; }
std::string HubLayout::ref(const std::string& revision) const { return repo + "/refs/" + revision; }
std::string HubLayout::lock(const std::string& etag) const {
    return (fs::path(root) / ".locks" / fs::path(repo).filename() / (etag + ".lock")).string();
}

void HubLayout::require_inside(const std::string& path) const {
    std::error_code ec;
    const fs::path real_root = fs::weakly_canonical(root, ec);
    const fs::path real = fs::weakly_canonical(path, ec);
    if (ec) throw OutputError(path + ": cannot resolve it inside the cache (" + ec.message() + ")");
    const auto rel = real.lexically_relative(real_root);
    if (rel.empty() || *rel.begin() == "..")
        throw OutputError(path + ": leads to " + real.string() + ", outside the cache root " + real_root.string() +
                          " (a symbolic link planted in a shared cache?); refusing to use it");
}

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
    const HubLayout lay(cache, id);
    const fs::path repo = lay.repo;
    std::error_code ec;
    if (!fs::is_directory(repo, ec))
        throw ModelError(id.str() + ": not in the Hugging Face cache " + cache + " (no " + repo.filename().string() +
                         "); " + download_hint(id));
    std::string commit = id.revision;
    if (!is_commit(commit)) {
        const fs::path ref = lay.ref(id.revision);
        if (const std::string why = not_a_regular_file(ref.string()); !why.empty() && why != "does not exist")
            throw ModelError(ref.string() + ": " + why);
        try {
            if (fs::exists(ref, ec)) lay.require_inside(ref.string());
        } catch (const OutputError& e) {
            throw ModelError(e.what());
        }
        std::ifstream f(ref);
        if (!(f >> commit) || !is_commit(commit))
            throw ModelError(id.str() + ": revision '" + id.revision + "' is not in the cache (" + ref.string() +
                             (f ? " does not hold a commit" : " is missing") + "); " + download_hint(id));
    }
    const fs::path snap = lay.snapshot(commit);
    if (!fs::is_directory(snap, ec))
        throw ModelError(id.str() + ": snapshot " + commit + " is not in the cache (no " + snap.string() + "); " +
                         download_hint(id));
    try {  // the folder and every file in it (links into blobs/) stay inside the cache
        lay.require_inside(snap.string());
        for (fs::recursive_directory_iterator it(snap, ec), end; !ec && it != end; it.increment(ec))
            lay.require_inside(it->path().string());
    } catch (const OutputError& e) {
        throw ModelError(e.what());
    }
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
