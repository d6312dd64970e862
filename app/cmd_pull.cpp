// vitlens pull: a model from the Hugging Face hub into the local cache.
#include <cstdio>
#include <iostream>

#include "cli_args.h"
#include "commands.h"
#include "console.h"
#include "exit_codes.h"
#include "vitlens/errors.h"
#include "vitlens/hub/hub_download.h"

namespace vitlens::app {

namespace {

const char* kPullUsage =
    "Usage: vitlens pull [options] ORG/NAME[@REVISION]\n\n"
    "Downloads what vitlens needs of a Hugging Face model (config.json, preprocessor_config.json\n"
    "when there is one, model.safetensors or model.safetensors.index.json and its shards) into the\n"
    "hub cache, laid out as huggingface_hub does it, so `--model ORG/NAME` then works offline and\n"
    "Python shares the copy. An interrupted download resumes; every LFS file's SHA-256 is checked.\n"
    "Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (else the token file of\n"
    "`huggingface-cli login`) for gated and private repos, HF_HUB_CACHE / HF_HOME for the cache,\n"
    "HF_HUB_OFFLINE=1 to use only what is cached. Pickled weights (pytorch_model.bin) are never\n"
    "downloaded or loaded. Prints the snapshot folder on standard output.";

// Bytes of the current file: a bar on a terminal, a line every 5 s otherwise.
class ByteProgress {
public:
    void operator()(const PullProgress& p) {
        const double t = now_seconds();
        if (p.file != file_) file_ = p.file, start_ = t, last_ = -1e9, ended_ = false;
        const bool end = p.total && p.done >= p.total;
        if (ended_ || (t - last_ < (tty_ ? 0.2 : 5.0) && !end)) return;  // the end of a file is told once
        last_ = t;
        ended_ = end;
        const double mb = p.done / 1e6, total = p.total / 1e6, rate = t > start_ ? mb / (t - start_) : 0;
        char buf[320];
        if (tty_) {
            const int width = 24, fill = p.total ? int(width * double(p.done) / p.total) : 0;
            std::string bar(size_t(fill), '#');
            bar.resize(width, '.');
            std::snprintf(buf, sizeof buf, "\r[%d/%d] %-28.28s [%s] %.1f/%.1f MB  %.1f MB/s   %s", p.index, p.count,
                          p.file.c_str(), bar.c_str(), mb, total, rate, end ? "\n" : "");
        } else {
            std::snprintf(buf, sizeof buf, "pull: [%d/%d] %s: %.1f of %.1f MB (%.1f MB/s)\n", p.index, p.count,
                          p.file.c_str(), mb, total, rate);
        }
        std::cerr << buf << std::flush;
    }

private:
    bool tty_ = stderr_is_tty();
    std::string file_;
    double start_ = 0, last_ = -1e9;
    bool ended_ = false;
};

}  // namespace

int cmd_pull(int argc, char** argv) {
    std::string model;
    bool quiet = false;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    OptionTable(d).flag("quiet,q", &quiet, "no progress on stderr");
    po::options_description hidden;
    hidden.add_options()("id", po::value(&model), "model id");
    po::positional_options_description pos;
    pos.add("id", 1);
    po::variables_map vm;
    if (!parse_args(argc, argv, kPullUsage, d, &pos, vm, &hidden)) return kOk;
    if (model.empty()) throw UsageError("pull needs a model id, ORG/NAME[@REVISION]");
    const auto id = parse_model_id(model);
    if (!id) throw UsageError("'" + model + "' is not a model id ORG/NAME[@REVISION] (letters, digits, '-', '_', '.')");
    PullOptions o = pull_options_from_env();
    ByteProgress bar;
    if (!quiet) o.progress = [&bar](const PullProgress& p) { bar(p); };
    const PullResult r = pull_model(*id, o);
    std::fprintf(stderr, "pull: %s at commit %s: %zu files, %.1f MB downloaded%s\n", id->str().c_str(),
                 r.commit.c_str(), r.files.size(), r.downloaded / 1e6,
                 r.from_cache ? (o.offline ? " (HF_HUB_OFFLINE: the cached snapshot)" : " (all in the cache already)") : "");
    std::printf("%s\n", r.snapshot.c_str());
    return kOk;
}

}  // namespace vitlens::app
