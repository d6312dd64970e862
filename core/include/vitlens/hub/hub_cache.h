// Hugging Face model ids, found in the local cache exactly where
// huggingface_hub puts them, so a model downloaded from Python runs offline
// with no copy:
//   <cache>/models--ORG--NAME/refs/<revision>        the commit of a branch or tag
//   <cache>/models--ORG--NAME/snapshots/<commit>/... the files (links into blobs/)
#pragma once

#include <optional>
#include <string>

namespace vitlens {

struct ModelId {
    std::string org, name;
    std::string revision = "main";  // a branch, a tag or a 40-hex commit
    std::string str() const { return org + "/" + name + (revision == "main" ? "" : "@" + revision); }
};

// The rules every name from a user or a server passes before it reaches the
// file system (one rule each, shared by the cache reader and `pull`):
// a commit is 40 lower-case hex digits; a revision is a branch or tag name as
// `git check-ref-format` allows it (no "..", "//", "@{", control characters,
// space ~ ^ : ? * [ \, no component starting with '.' or ending in ".lock",
// no leading or trailing '/'); an ETag (the blob's name) is 1-128 characters
// of [A-Za-z0-9_-] (hex or base64url); a repo file name is a plain relative
// path (segments of printable characters, none empty, "." or "..", no '\').
bool is_commit(const std::string& s);
bool valid_revision(const std::string& s);
bool valid_etag(const std::string& s);
bool valid_repo_file(const std::string& s);

// Where huggingface_hub keeps a repo inside a cache root:
//   <root>/models--ORG--NAME/{blobs,snapshots,refs}, <root>/.locks/models--ORG--NAME.
struct HubLayout {
    std::string root, repo;
    HubLayout(const std::string& cache_root, const ModelId& id);
    std::string blob(const std::string& etag) const;
    std::string snapshot(const std::string& commit) const;
    std::string ref(const std::string& revision) const;
    std::string lock(const std::string& etag) const;
    // Throws OutputError when `path`, with every symbolic link on the way
    // resolved, leads outside the cache root: a shared cache with a planted
    // link is never written (or read) through.
    void require_inside(const std::string& path) const;
};

// "ORG/NAME[@REVISION]" with the hub's characters (letters, digits, '-',
// '_', '.'); nullopt for anything else (a path, for instance).
std::optional<ModelId> parse_model_id(const std::string& text);

// $HF_HUB_CACHE, else $HF_HOME/hub, else $HOME/.cache/huggingface/hub.
std::string hub_cache_dir();

// The snapshot folder of `id` in `cache`. Throws ModelError naming the
// cache, the folder or ref that is missing, and how to download the model.
std::string resolve_cached_model(const ModelId& id, const std::string& cache);

// A --model value: an existing path as it is, else a model id looked up in
// hub_cache_dir() (ModelError when it is not there), else the text as it is,
// for the checkpoint loader to report.
std::string resolve_model_path(const std::string& dir_or_id);

}  // namespace vitlens
