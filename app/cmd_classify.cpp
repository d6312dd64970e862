// vitlens classify: top-k labels for images and folders.
#include <cstdio>
#include <iostream>

#include "batches.h"
#include "cli_args.h"
#include "commands.h"
#include "exit_codes.h"
#include "model_options.h"
#include "text_out.h"
#include "vitlens/encoder/memory_estimate.h"
#include "record_output.h"
#include "shard.h"
#include "vitlens/errors.h"

namespace vitlens::app {

namespace {

struct ClassifyArgs {
    int top_k = 5, batch = 8;
    std::string format = "text", output;
    bool logits = false, overwrite = false;
    float threshold = 0.5f;  // multi-label: report every class at or above it
    int64_t max_pixels = kDefaultMaxPixels;
    ShardOptions shard;
};

// Multi-label: the classes at or above the threshold, most probable first.
std::vector<TopEntry> above(const Prediction& p, const std::vector<std::string>& labels, float threshold) {
    std::vector<TopEntry> out;
    for (size_t k = 0; k < p.probs.size(); ++k)
        if (p.probs[k] >= threshold) out.push_back({int(k), labels[k], p.probs[k]});
    std::stable_sort(out.begin(), out.end(), [](const TopEntry& a, const TopEntry& b) { return a.prob > b.prob; });
    return out;
}

std::string entries_json(const std::vector<TopEntry>& e) {
    Prediction p;
    p.top = e;
    return top_json(p);
}

std::string format_text(const std::string& path, const Prediction& p, const ClassifyArgs& a,
                        const std::vector<TopEntry>* labels) {
    std::string s = path + "\n";
    char line[512];
    for (const TopEntry& t : p.top) {
        int bar = static_cast<int>(t.prob * 20 + 0.5f);
        std::snprintf(line, sizeof line, "  %6.2f%%  %-20s %s\n", 100.0 * t.prob, std::string(bar, '#').c_str(),
                      t.label.c_str());
        s += line;
    }
    if (labels) {
        std::snprintf(line, sizeof line, "  labels >= %.2f:", a.threshold);
        s += line;
        for (size_t i = 0; i < labels->size(); ++i) s += (i ? ", " : " ") + (*labels)[i].label;
        s += labels->empty() ? " (none)\n" : "\n";
    }
    if (a.logits) {
        s += "  logits:";
        for (float v : p.logits) s += " " + float_str(v);
        s += "\n";
    }
    return s;
}

std::string format_record(const std::string& path, const Prediction& p, const ClassifyArgs& a,
                          const std::vector<TopEntry>* labels) {
    if (a.format == "text") return format_text(path, p, a, labels);
    if (a.format == "jsonl") {
        std::string s = "{\"image\": \"" + json_escape(path) + "\", \"top\": " + top_json(p);
        if (labels) s += ", \"labels\": " + entries_json(*labels);
        if (a.logits) {
            s += ", \"logits\": [";
            for (size_t i = 0; i < p.logits.size(); ++i) s += (i ? ", " : "") + float_str(p.logits[i]);
            s += "]";
        }
        return s + "}\n";
    }
    std::string s = csv_field(path);
    for (int i = 0; i < a.top_k; ++i) {
        if (i < int(p.top.size()))
            s += "," + std::to_string(p.top[i].index) + "," + csv_field(p.top[i].label) + "," + float_str(p.top[i].prob);
        else
            s += ",,,";
    }
    if (labels) {
        std::string joined;
        for (size_t i = 0; i < labels->size(); ++i) joined += (i ? ";" : "") + (*labels)[i].label;
        s += "," + csv_field(joined);
    }
    if (a.logits)
        for (float v : p.logits) s += "," + float_str(v);
    return s + "\n";
}

// image,top1_index,top1_label,top1_prob,... [,labels] then logit_0.. when `logits` > 0.
std::string csv_header(int top_k, bool multi_label, int logits) {
    std::string h = "image";
    for (int i = 1; i <= top_k; ++i) {
        auto n = std::to_string(i);
        h += ",top" + n + "_index,top" + n + "_label,top" + n + "_prob";
    }
    if (multi_label) h += ",labels";
    for (int i = 0; i < logits; ++i) h += ",logit_" + std::to_string(i);
    return h + "\n";
}

const char* kClassifyUsage =
    "Usage: vitlens classify [options] INPUT...\n\n"
    "Classifies image files; a directory is searched recursively for images (sorted).\n"
    "A bad image is reported on stderr and the rest are still classified (exit code 2).\n"
    "jsonl: {\"image\": ..., \"top\": [{\"index\", \"label\", \"prob\"}...], \"logits\": [...]}\n"
    "csv:   image,top1_index,top1_label,top1_prob,top2_index,... (+ logit_0.. with --logits)\n"
    "A multi-label model (problem_type multi_label_classification) gives each class its own\n"
    "sigmoid probability; every class at or above --threshold is listed as \"labels\" (jsonl),\n"
    "a labels column (csv, ';'-separated) or a labels line (text).\n"
    "Large collections: --output FILE with --resume continues an interrupted run, and --shard\n"
    "splits the images across processes or a Slurm / Kubernetes job array (docs/sharding.md).";

void add_classify_options(po::options_description& d, ClassifyArgs& a) {
    OptionTable(d)
        .integer("top-k,k", &a.top_k, 5, 1, 100000, "K", "labels per image")
        .choice("format,f", &a.format, "text", {"text", "jsonl", "csv"}, "F",
                "text | jsonl (one JSON object per image) | csv (one row per image)")
        .flag("logits", &a.logits, "also print the raw logits")
        .real("threshold", &a.threshold, 0.5f, 0.f, 1.f, false, "P",
              "multi-label models: list every class with probability >= P")
        .integer("batch,b", &a.batch, 8, 1, 1024, "N", "images per encoder call")
        .integer("max-pixels", &a.max_pixels, kDefaultMaxPixels, 1, 1'000'000'000'000, "N",
                 "refuse images larger than N pixels (checked from the header, before decoding)")
        .text("output,o", &a.output, "FILE", "write the records to FILE instead of standard output")
        .flag("overwrite", &a.overwrite, "replace an existing --output FILE");
    a.shard.add_to(d, "continue --output FILE: skip the images it already has, append the rest");
}

// What the model must have for these options: a head, and a multi-label one for --threshold.
void check_model(const ModelSpec& spec, const po::variables_map& vm) {
    if (const std::string why = head_problem(spec); !why.empty())
        throw ModelError(why + "; `vitlens embed` gives its features and `vitlens explain` its class-agnostic maps");
    if (!vm["threshold"].defaulted() && !spec.multi_label)
        throw UsageError("--threshold applies to multi-label models; " + spec.dir +
                         " has one softmax over its classes (problem_type is not multi_label_classification)");
}

}  // namespace

int cmd_classify(int argc, char** argv) {
    ModelOptions mo;
    ClassifyArgs a;
    std::vector<std::string> inputs;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    mo.add_to(d);
    add_classify_options(d, a);
    po::variables_map vm;
    if (!parse_args_with_inputs(argc, argv, kClassifyUsage, d, inputs, vm)) return kOk;

    std::vector<std::string> errors;
    std::vector<std::string> files = select_shard(collect_images(inputs, errors), a.shard.get());
    for (const auto& e : errors) std::cerr << "vitlens: " << e << "\n";

    Classifier clf(mo.resolve(), mo.classifier_options());
    const ModelSpec& spec = clf.spec();
    check_model(spec, vm);
    a.top_k = clamp_top_k(a.top_k, spec.num_classes);
    // before the output is opened: a run that cannot fit replaces nothing
    require_memory(spec, std::max(1, int(std::min<size_t>(size_t(a.batch), files.size()))), mo.classifier_options().precision,
                   MapNeed::None);
    RecordOutput out(a.output, a.format, a.shard.resume, a.overwrite);
    if (a.format == "csv" && out.empty_at_start())
        out.write(csv_header(a.top_k, spec.multi_label, a.logits ? spec.num_classes : 0));
    const size_t listed = files.size();
    if (!out.done().empty()) {
        std::erase_if(files, [&](const std::string& f) { return out.has(f); });
        std::cerr << "vitlens: --resume: " << (listed - files.size()) << " of " << listed << " images already in "
                  << a.output << "\n";
    }

    const int failed = int(errors.size()) + for_each_batch(files, spec, {a.batch, a.max_pixels, "classify"},
        [&](const std::vector<std::string>& names, const float* patches, int B) {
            const auto preds = clf.classify_patches(patches, B, a.top_k);
            std::string text;
            for (int i = 0; i < B; ++i) {
                std::vector<TopEntry> labels;
                if (spec.multi_label) labels = above(preds[size_t(i)], spec.labels, a.threshold);
                text += format_record(names[size_t(i)], preds[size_t(i)], a, spec.multi_label ? &labels : nullptr);
            }
            out.write(text);
            out.flush();
        });
    out.close();
    if (failed) {
        std::cerr << "vitlens: " << failed << " input(s) failed, " << (files.size() + errors.size() - failed)
                  << " classified\n";
        return kInputError;
    }
    return kOk;
}

}  // namespace vitlens::app
