// vitlens embed: features of images and folders (class token, pooled, patch
// tokens) as .npy arrays with a JSON Lines index, or one safetensors file.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "batches.h"
#include "cli_args.h"
#include "commands.h"
#include "exit_codes.h"
#include "model_options.h"
#include "output_dir.h"
#include "text_out.h"
#include "vitlens/encoder/memory_estimate.h"
#include "record_output.h"
#include "vitlens/images/input_file.h"
#include "shard.h"
#include "vitlens/images/array_files.h"
#include "vitlens/errors.h"

namespace vitlens::app {

namespace {

struct EmbedArgs {
    std::string output, features = "cls,pooled";
    int batch = 8;
    bool overwrite = false;
    int64_t max_pixels = kDefaultMaxPixels;
    ShardOptions shard;
};

const char* kEmbedUsage =
    "Usage: vitlens embed -o OUT.npy|OUT.safetensors [options] INPUT...\n\n"
    "Features of image files (a directory is searched recursively, sorted), for any model,\n"
    "backbones included. --features picks any of:\n"
    "  cls     the class token after the final LayerNorm, (n, D)\n"
    "  pooled  what the classifier head reads, (n, F): the class token, the patch mean, or both\n"
    "          side by side (DINOv2's head, F = 2D), as the model pools\n"
    "  patch   every patch token after the final LayerNorm, (n, N, D), row by row over the grid\n"
    "OUT.npy: one float32 .npy per feature (OUT.npy itself for one feature, OUT.<feature>.npy for\n"
    "several) and OUT.jsonl, one line per row: {\"row\", \"image\", \"top\"} (top: models with a head).\n"
    "The arrays grow batch by batch, so --resume continues an interrupted run.\n"
    "OUT.safetensors: tensors named after the features, the image paths in the metadata\n"
    "(\"images\", a JSON array); written whole at the end.";

std::vector<std::string> parse_features(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream s(text);
    std::string f;
    while (std::getline(s, f, ',')) {
        if (f != "cls" && f != "pooled" && f != "patch")
            throw UsageError("--features: '" + f + "' is not one of cls, pooled, patch (in '" + text + "')");
        if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
    }
    if (out.empty()) throw UsageError("--features: name at least one of cls, pooled, patch");
    return out;
}

// The shape of one image's feature `f`.
std::vector<int64_t> row_shape(const std::string& f, const ModelSpec& s) {
    if (f == "cls") return {s.hidden};
    if (f == "pooled") return {s.head_in()};
    return {s.patches(), s.hidden};
}

// Copies image b's feature `f` out of `feats` into `dst` (row_shape floats).
void extract(const std::string& f, const Features& feats, const ModelSpec& s, int b, float* dst) {
    const int64_t T = s.tokens(), D = s.hidden;
    const float* tok = feats.tokens.data() + b * T * D;
    if (f == "cls") std::copy(tok, tok + D, dst);
    else if (f == "pooled") std::copy(feats.pooled.data() + b * s.head_in(), feats.pooled.data() + (b + 1) * s.head_in(), dst);
    else std::copy(tok + s.n_prefix * D, tok + T * D, dst);
}

// Where the features go; one implementation per file kind.
class Sink {
public:
    virtual ~Sink() = default;
    virtual bool has(const std::string& path) const = 0;  // already written (resume)
    // B images: their paths, predictions (empty without a head) and features.
    virtual void add(const std::vector<std::string>& names, const std::vector<Prediction>& preds, const Features& f) = 0;
    virtual void finish() = 0;
};

class NpySink : public Sink {
public:
    NpySink(const EmbedArgs& a, const std::vector<std::string>& feats, const ModelSpec& s) : feats_(feats), spec_(s) {
        const std::string base = a.output.substr(0, a.output.size() - 4);
        for (const std::string& f : feats) {
            const std::string path = feats.size() == 1 ? a.output : base + "." + f + ".npy";
            if (!a.shard.resume) check_replaceable(path, a.overwrite);
            paths_.push_back(path);
        }
        if (a.shard.resume)
            for (const std::string& path : paths_)
                if (not_a_regular_file(path).empty() && !not_a_regular_file(base + ".jsonl").empty())
                    throw OutputError(path + ": --resume needs its index " + base + ".jsonl, which " +
                                      not_a_regular_file(base + ".jsonl") +
                                      ": without it no row can be matched to an image (nothing was changed)");
        index_ = std::make_unique<RecordOutput>(base + ".jsonl", "jsonl", a.shard.resume, a.overwrite);
        rows_ = int64_t(index_->lines());  // every record line is a row, duplicates included
        for (size_t i = 0; i < feats.size(); ++i) {
            arrays_.push_back(std::make_unique<NpyAppender>(paths_[i], row_shape(feats[i], s), a.shard.resume));
            if (arrays_.back()->rows() < rows_)
                throw OutputError(paths_[i] + ": has " + std::to_string(arrays_.back()->rows()) + " rows but " + base +
                                  ".jsonl lists " + std::to_string(rows_) + " images; the files are out of step");
            arrays_.back()->truncate(rows_);  // rows past the index were never recorded
        }
    }
    bool has(const std::string& path) const override { return index_->has(path); }
    void add(const std::vector<std::string>& names, const std::vector<Prediction>& preds, const Features& f) override {
        const int B = int(names.size());
        for (size_t i = 0; i < feats_.size(); ++i) {
            int64_t per = 1;
            for (int64_t d : row_shape(feats_[i], spec_)) per *= d;
            std::vector<float> rows(size_t(per * B));
            for (int b = 0; b < B; ++b) extract(feats_[i], f, spec_, b, rows.data() + b * per);
            arrays_[i]->append(rows.data(), B);
        }
        std::string lines;  // after the arrays: the index never names a row that is not there
        for (int b = 0; b < B; ++b) {
            lines += "{\"row\": " + std::to_string(rows_ + b) + ", \"image\": \"" + json_escape(names[size_t(b)]) + "\"";
            if (!preds[size_t(b)].top.empty()) lines += ", \"top\": " + top_json(preds[size_t(b)]);
            lines += "}\n";
        }
        index_->write(lines);
        index_->flush();
        rows_ += B;
    }
    void finish() override {
        for (auto& arr : arrays_) arr->close();  // the arrays first: the index never names a row that is not there
        index_->close();
        for (size_t i = 0; i < feats_.size(); ++i)
            std::cerr << "vitlens: " << paths_[i] << ": " << arrays_[i]->rows() << " x " << shape_str(row_shape(feats_[i], spec_))
                      << " float32\n";
    }

private:
    std::vector<std::string> feats_, paths_;
    const ModelSpec& spec_;
    std::unique_ptr<RecordOutput> index_;
    std::vector<std::unique_ptr<NpyAppender>> arrays_;
    int64_t rows_ = 0;
};

class SafetensorsSink : public Sink {
public:
    SafetensorsSink(const EmbedArgs& a, const std::vector<std::string>& feats, const ModelSpec& s)
        : path_(a.output), feats_(feats), spec_(s), data_(feats.size()) {
        if (a.shard.resume)
            throw UsageError("--resume continues .npy outputs; a .safetensors file is written whole at the end");
        check_replaceable(path_, a.overwrite);
    }
    bool has(const std::string&) const override { return false; }
    void add(const std::vector<std::string>& names, const std::vector<Prediction>&, const Features& f) override {
        for (size_t i = 0; i < feats_.size(); ++i) {
            int64_t per = 1;
            for (int64_t d : row_shape(feats_[i], spec_)) per *= d;
            for (int b = 0; b < int(names.size()); ++b) {
                data_[i].resize(data_[i].size() + size_t(per));
                extract(feats_[i], f, spec_, b, data_[i].data() + data_[i].size() - per);
            }
        }
        images_.insert(images_.end(), names.begin(), names.end());
    }
    void finish() override {
        std::vector<Tensor> ts;
        std::map<std::string, const Tensor*> named;
        for (size_t i = 0; i < feats_.size(); ++i) {
            std::vector<int64_t> shape = row_shape(feats_[i], spec_);
            shape.insert(shape.begin(), int64_t(images_.size()));
            ts.push_back(Tensor::uninitialized(shape));
            std::copy(data_[i].begin(), data_[i].end(), ts.back().data());
        }
        for (size_t i = 0; i < feats_.size(); ++i) named[feats_[i]] = &ts[i];
        write_safetensors(path_, named, {{"images", nlohmann::json(images_).dump()}, {"model", spec_.dir},
                                         {"format", "vitlens embed"}});
        std::cerr << "vitlens: " << path_ << ": " << images_.size() << " images\n";
    }

private:
    std::string path_;
    std::vector<std::string> feats_, images_;
    const ModelSpec& spec_;
    std::vector<std::vector<float>> data_;
};

std::unique_ptr<Sink> make_sink(const EmbedArgs& a, const std::vector<std::string>& feats, const ModelSpec& s) {
    auto ends = [&](const std::string& ext) {
        return a.output.size() > ext.size() && a.output.compare(a.output.size() - ext.size(), ext.size(), ext) == 0;
    };
    if (ends(".npy")) return std::make_unique<NpySink>(a, feats, s);
    if (ends(".safetensors")) return std::make_unique<SafetensorsSink>(a, feats, s);
    throw UsageError("--output must end in .npy or .safetensors, got '" + a.output + "'");
}

}  // namespace

int cmd_embed(int argc, char** argv) {
    ModelOptions mo;
    EmbedArgs a;
    std::vector<std::string> inputs;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    mo.add_to(d);
    OptionTable(d)
        .text("output,o", &a.output, "OUT", "OUT.npy (+ OUT.jsonl index) or OUT.safetensors; required")
        .text("features", &a.features, "LIST", "comma-separated: cls, pooled, patch (default cls,pooled)")
        .integer("batch,b", &a.batch, 8, 1, 1024, "N", "images per encoder call")
        .integer("max-pixels", &a.max_pixels, kDefaultMaxPixels, 1, 1'000'000'000'000, "N",
                 "refuse images larger than N pixels (checked from the header, before decoding)")
        .flag("overwrite", &a.overwrite, "replace existing output files");
    a.shard.add_to(d, "continue OUT.npy: skip the images OUT.jsonl already lists, append the rest");
    po::variables_map vm;
    if (!parse_args_with_inputs(argc, argv, kEmbedUsage, d, inputs, vm)) return kOk;
    if (a.output.empty()) throw UsageError("embed needs --output OUT.npy or OUT.safetensors");
    if (a.features.empty()) a.features = "cls,pooled";
    const std::vector<std::string> feats = parse_features(a.features);
    const Shard shard = a.shard.get();

    std::vector<std::string> errors;
    std::vector<std::string> files = select_shard(collect_images(inputs, errors), shard);
    for (const auto& e : errors) std::cerr << "vitlens: " << e << "\n";
    Classifier clf(mo.resolve(), mo.classifier_options());
    const ModelSpec& spec = clf.spec();
    if (spec.n_prefix == spec.registers && std::find(feats.begin(), feats.end(), "cls") != feats.end())
        throw UsageError("--features cls: " + spec.dir + " has no class token (it pools " + spec.global_pool +
                         "); use pooled or patch");
    require_memory(spec, std::max(1, int(std::min<size_t>(size_t(a.batch), files.size()))), mo.classifier_options().precision,
                   MapNeed::None);  // before the outputs are opened: a run that cannot fit replaces nothing
    std::unique_ptr<Sink> sink = make_sink(a, feats, spec);
    const size_t listed = files.size();
    std::erase_if(files, [&](const std::string& f) { return sink->has(f); });
    if (listed != files.size())
        std::cerr << "vitlens: --resume: " << (listed - files.size()) << " of " << listed << " images already embedded\n";

    Features feats_buf;
    const int failed = int(errors.size()) + for_each_batch(files, spec, {a.batch, a.max_pixels, "embed"},
        [&](const std::vector<std::string>& names, const float* patches, int B) {
            sink->add(names, clf.embed_patches(patches, B, feats_buf, 5), feats_buf);
        });
    sink->finish();
    if (failed) {
        std::cerr << "vitlens: " << failed << " input(s) failed, " << (files.size() + errors.size() - failed) << " embedded\n";
        return kInputError;
    }
    return kOk;
}

}  // namespace vitlens::app
