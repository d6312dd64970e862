// vitlens classify: top-k labels for images and folders.
#include <cstdio>
#include <iostream>

#include "common.h"
#include "vitlens/errors.h"

namespace vitlens::app {

namespace {

void print(const std::string& format, const std::string& path, const Prediction& p, bool logits, int top_k) {
    if (format == "jsonl") {
        std::string s = "{\"image\": \"" + json_escape(path) + "\", \"top\": " + top_json(p);
        if (logits) {
            s += ", \"logits\": [";
            for (size_t i = 0; i < p.logits.size(); ++i) s += (i ? ", " : "") + float_str(p.logits[i]);
            s += "]";
        }
        std::cout << s << "}\n";
    } else if (format == "csv") {
        std::string s = csv_field(path);
        for (int i = 0; i < top_k; ++i) {
            if (i < int(p.top.size()))
                s += "," + std::to_string(p.top[i].index) + "," + csv_field(p.top[i].label) + "," + float_str(p.top[i].prob);
            else
                s += ",,,";
        }
        if (logits)
            for (float v : p.logits) s += "," + float_str(v);
        std::cout << s << "\n";
    } else {
        std::printf("%s\n", path.c_str());
        for (const TopEntry& t : p.top) {
            int bar = static_cast<int>(t.prob * 20 + 0.5f);
            std::printf("  %6.2f%%  %-20s %s\n", 100.0 * t.prob, std::string(bar, '#').c_str(), t.label.c_str());
        }
        if (logits) {
            std::printf("  logits:");
            for (float v : p.logits) std::printf(" %s", float_str(v).c_str());
            std::printf("\n");
        }
    }
}

// image,top1_index,top1_label,top1_prob,... then logit_0.. when `logits` > 0.
void print_csv_header(int top_k, int logits) {
    std::string h = "image";
    for (int i = 1; i <= top_k; ++i) {
        auto n = std::to_string(i);
        h += ",top" + n + "_index,top" + n + "_label,top" + n + "_prob";
    }
    for (int i = 0; i < logits; ++i) h += ",logit_" + std::to_string(i);
    std::cout << h << "\n";
}

}  // namespace

int cmd_classify(int argc, char** argv) {
    ModelOptions mo;
    int top_k = 5, batch = 8;
    std::string format = "text";
    bool logits = false;
    std::vector<std::string> inputs;
    int64_t max_pixels = 100'000'000;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    mo.add_to(d);
    OptionTable(d)
        .integer("top-k,k", &top_k, 5, 1, 100000, "K", "labels per image")
        .choice("format,f", &format, "text", {"text", "jsonl", "csv"}, "F",
                "text | jsonl (one JSON object per image) | csv (one row per image)")
        .flag("logits", &logits, "also print the raw logits")
        .integer("batch,b", &batch, 8, 1, 1024, "N", "images per encoder call")
        .integer("max-pixels", &max_pixels, 100'000'000, 1, 1'000'000'000'000, "N",
                 "refuse images larger than N pixels (checked from the header, before decoding)");
    po::variables_map vm;
    if (!parse_args_with_inputs(argc, argv,
                    "Usage: vitlens classify [options] INPUT...\n\n"
                    "Classifies image files; a directory is searched recursively for images (sorted).\n"
                    "A bad image is reported on stderr and the rest are still classified (exit code 2).\n"
                    "jsonl: {\"image\": ..., \"top\": [{\"index\", \"label\", \"prob\"}...], \"logits\": [...]}\n"
                    "csv:   image,top1_index,top1_label,top1_prob,top2_index,... (+ logit_0.. with --logits)",
                    d, inputs, vm))
        return kOk;

    std::vector<std::string> errors;
    std::vector<std::string> files = collect_images(inputs, errors);
    for (const auto& e : errors) std::cerr << "vitlens: " << e << "\n";

    Classifier clf(mo.resolve(), mo.classifier_options());
    const ModelSpec& spec = clf.spec();
    top_k = std::min(top_k, spec.num_classes);
    if (format == "csv") print_csv_header(top_k, logits ? spec.num_classes : 0);

    DecodeOptions dopt;
    dopt.max_pixels = max_pixels;
    int failed = static_cast<int>(errors.size());
    const int64_t per = int64_t(spec.patches()) * spec.patch_dim();
    Tensor buf({int64_t(batch), per});
    std::vector<std::string> names;
    Progress progress("classify", files.size());
    size_t done = 0;
    auto flush = [&] {
        if (names.empty()) return;
        auto preds = clf.classify_patches(buf.data(), static_cast<int>(names.size()), top_k);
        for (size_t i = 0; i < names.size(); ++i) print(format, names[i], preds[i], logits, top_k);
        std::cout.flush();
        done += names.size();
        names.clear();
        if (files.size() > 50) progress.update(done);
    };
    for (const std::string& f : files) {
        try {
            cv::Mat rgb = decode_image(f, dopt);
            Tensor t = prepare_image(rgb, spec, nullptr);
            std::copy(t.data(), t.data() + per, buf.data() + names.size() * per);
            names.push_back(f);
        } catch (const InputError& e) {
            std::cerr << "vitlens: " << e.what() << "\n";
            ++failed;
            ++done;
            continue;
        }
        if (static_cast<int>(names.size()) == batch) flush();
    }
    flush();
    if (files.size() > 50) progress.finish();
    if (failed) {
        std::cerr << "vitlens: " << failed << " input(s) failed, " << (files.size() + errors.size() - failed)
                  << " classified\n";
        return kInputError;
    }
    return kOk;
}

}  // namespace vitlens::app
