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
