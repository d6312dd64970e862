// vitlens explain: where the model looked.
#include <cstdio>
#include <filesystem>
#include <map>
#include <iostream>
#include <memory>
#include <opencv2/imgproc.hpp>

#include "cli_args.h"
#include "commands.h"
#include "console.h"
#include "exit_codes.h"
#include "model_options.h"
#include "output_dir.h"
#include "text_out.h"
#include "vitlens/encoder/memory_estimate.h"
#include "shard.h"
#include "vitlens/errors.h"
#include "vitlens/maps/map_render.h"
#include "vitlens/maps/map_spec.h"
#include "vitlens/maps/map_view.h"
#include "vitlens/model/model_info.h"

namespace vitlens::app {

namespace {

struct ExplainArgs {
    MapSpec spec;
    std::string method = "rollout", fusion = "mean", query, colormap = "turbo", out, format = "text", cls;
    float alpha = 0.5f, clip = 0.f;
    int top_k = 5, scale = 1;
    bool gallery = false, overwrite = false, norms = false, no_box = false;
    int64_t max_pixels = kDefaultMaxPixels;
    OverlayStyle style;
    ShardOptions shard;
};

const char* kExplainUsage =
    "Usage: vitlens explain [options] INPUT...\n\n"
    "Shows where the model looked. Maps cover the patch grid (rows = image rows), scaled to max 1,\n"
    "and are drawn on the original image by undoing the model's resize and crop.";

void add_explain_options(po::options_description& d, ExplainArgs& a) {
    OptionTable(d)
        .choice("method", &a.method, "rollout", map_method_names(), "M",
                "rollout: attention flow from the class token through all layers (Abnar & Zuidema 2020)\n"
                "attention: the class token's attention in one layer (default: last layer, heads averaged)\n"
                "query: where one patch (--query ROW,COL) looks\n"
                "attribution: why one class (--class, default the top-1): attention weighted by the gradient of\n"
                "  that class's logit (Chefer, Gur & Wolf 2021); needs --precision f32")
        .text("class", &a.cls, "K", "class for --method attribution: an index or a label (default: the top-1)")
        .choice("fusion", &a.fusion, "mean", {"mean", "max", "min"}, "F", "how heads are combined")
        .real("discard", &a.spec.discard, 0.f, 0.f, 1.f, true, "R",
              "rollout: zero the lowest R fraction of each layer's attention")
        .integer("layer", &a.spec.layer, -1, -100000, 100000, "L",
                 "layer for attention/query (-1 = last, -2 = the one before; checked against the model)")
        .integer("head", &a.spec.head, -1, -1, 100000, "H", "one head (-1 = fuse all heads; checked against the model)")
        .text("query", &a.query, "ROW,COL", "patch for --method query (0-based, rows from the top)")
        .real_implicit("clip-outliers", &a.clip, 99.f, 0.001f, 100.f, "P",
                       "cap the map at its P-th percentile (99 when given bare) so outlier tokens do not wash it out")
        .choice("colormap", &a.colormap, "turbo", {"turbo", "jet", "inferno", "viridis"}, "NAME", "heatmap colours")
        .real("alpha", &a.alpha, 0.5f, 0.f, 1.f, false, "A", "heatmap opacity")
        .flag("no-crop-box", &a.no_box, "do not outline the crop the model saw")
        .integer("scale", &a.scale, 1, 1, 32, "N",
                 "draw overlays on the image enlarged N times (pixel-exact), for small inputs such as 28x28")
        .text("out,o", &a.out, "DIR",
              "write <DIR>/<stem>.<method>.png overlays (<stem>.attribution-class<K>.png with --class);\n"
              "inputs from several folders keep their folders under DIR (a/x.png -> DIR/a/x.rollout.png)")
        .flag("gallery", &a.gallery, "also write <stem>.gallery.png: every layer x head map")
        .flag("overwrite", &a.overwrite, "replace existing files in a non-empty --out folder")
        .flag("norms", &a.norms, "print the per-layer token-norm report (outlier tokens)")
        .integer("top-k,k", &a.top_k, 5, 1, 100000, "K", "labels per image")
        .choice("format,f", &a.format, "text", {"text", "jsonl"}, "F",
                "text (map drawn in characters) | jsonl: {\"image\", \"method\", \"grid\", \"map\", \"top\", \"overlay\"},\n"
                "plus \"class\": {\"index\", \"label\"} for attribution")
        .integer("max-pixels", &a.max_pixels, kDefaultMaxPixels, 1, 1'000'000'000'000, "N", "refuse larger images");
    a.shard.add_to(d, "continue an interrupted run into --out DIR: skip the images whose overlay is there");
}

// <key>.<method>[-class<K>].png, where the key mirrors the input's folders
// (OutputNames): an explicit --class gets its own name, so several classes
// fit in one folder.
std::string overlay_name(const std::string& key, const ExplainArgs& a, int cls) {
    const std::string which = a.cls.empty() ? "" : "-class" + std::to_string(cls);
    return key + "." + a.method + which + ".png";
}

// Turns the parsed strings into the map spec and style; --query implies the
// query map unless another method was asked for. --class is resolved once
// the model is loaded (resolve_class).
void finish_args(ExplainArgs& a, const po::variables_map& vm) {
    a.spec.method = parse_map_method(a.method);
    if (!a.cls.empty() && a.spec.method != MapMethod::Attribution)
        throw UsageError("--class goes with --method attribution, not " + a.method);
    a.spec.fusion = parse_fusion(a.fusion);
    a.spec.clip_percentile = a.clip;
    a.style.colormap = parse_colormap(a.colormap);
    a.style.alpha = a.alpha;
    a.style.draw_crop_box = !a.no_box;
    if (a.spec.method == MapMethod::Query && a.query.empty()) throw UsageError("--method query needs --query ROW,COL");
    if (a.query.empty()) return;
    char tail = 0;
    if (std::sscanf(a.query.c_str(), "%d,%d%c", &a.spec.query_row, &a.spec.query_col, &tail) != 2)
        throw UsageError("--query must be ROW,COL (two integers), got '" + a.query + "'");
    if (a.spec.method != MapMethod::Query) {
        if (!vm["method"].defaulted()) throw UsageError("--query goes with --method query, not " + a.method);
        a.spec.method = MapMethod::Query;
    }
}

// The map as shaded characters, one row per patch row.
void print_ascii(const AttentionMap& m) {
    static const char* shades = " .:-=+*#%@";
    for (int r = 0; r < m.rows; ++r) {
        std::printf("    ");
        for (int c = 0; c < m.cols; ++c) {
            int i = std::min(9, static_cast<int>(m.at(r, c) * 10));
            std::printf("%c%c", shades[i], shades[i]);
        }
        std::printf("\n");
    }
}

void print_norms(const Explained& e, const TokenLayout& lay) {
    const auto rep = token_norm_report(e.token_norms);
    for (size_t l = 0; l < rep.size(); ++l) {
        std::printf("    layer %zu: token norm median %.2f, max %.2f", l, rep[l].median, rep[l].max);
        if (!rep[l].outliers.empty()) {
            std::printf(", outliers:");
            for (int tok : rep[l].outliers) std::printf(" %s", token_label(tok, lay).c_str());
        }
        if (lay.registers > 0) {  // registers soak up what would be outlier patches: show them always
            std::printf(", registers:");
            const int64_t T = e.token_norms.dim(1);
            for (int r = lay.n_prefix - lay.registers; r < lay.n_prefix; ++r)
                std::printf(" %s %.2f", token_label(r, lay).c_str(), e.token_norms[int64_t(l) * T + r]);
        }
        std::printf("\n");
    }
}

// Writes the overlay (and gallery) PNGs; returns the overlay's path.
std::string write_overlays(OutputDir& dir, const std::string& file, const std::string& key, cv::Mat rgb,
                           Explained& e, const AttentionMap& m, const ExplainArgs& a, const ModelSpec& s) {
    if (a.scale > 1) {  // enlarge the canvas; the geometry scales with it
        cv::resize(rgb, rgb, cv::Size(), a.scale, a.scale, cv::INTER_NEAREST);
        e.geometry.orig_w = rgb.cols;
        e.geometry.orig_h = rgb.rows;
    }
    const std::string path = dir.target(overlay_name(key, a, e.explained_class), file);
    if (a.gallery) {  // first: the overlay is what --resume takes as "done"
        const int tile = std::max(96, std::min(192, 1600 / s.heads));
        dir.write_png(key + ".gallery.png", render_tiles(rgb, gallery(e.attention, token_layout(s)),
                                                          gallery_labels(s.layers, s.heads), e.geometry, s.heads,
                                                          tile, a.style),
                      file);
    }
    write_image_atomic(path, render_overlay(rgb, m, e.geometry, a.style));
    return path;
}

void print_result(const std::string& file, const Explained& e, const AttentionMap& m, const std::string& overlay,
                  const ExplainArgs& a, const ModelSpec& s) {
    const bool has_class = e.explained_class >= 0;
    const std::string label = has_class ? s.labels.at(size_t(e.explained_class)) : "";
    if (a.format == "jsonl") {
        std::string js = "{\"image\": \"" + json_escape(file) + "\", \"method\": \"" +
                         map_method_name(a.spec.method) + "\", \"grid\": [" + std::to_string(m.rows) + ", " +
                         std::to_string(m.cols) + "], \"map\": [";
        for (size_t i = 0; i < m.values.size(); ++i) js += (i ? ", " : "") + float_str(m.values[i]);
        js += "], \"top\": " + top_json(e.prediction) + ", \"overlay\": " +
              (overlay.empty() ? std::string("null") : "\"" + json_escape(overlay) + "\"");
        if (has_class)
            js += ", \"class\": {\"index\": " + std::to_string(e.explained_class) + ", \"label\": \"" +
                  json_escape(label) + "\"}";
        std::cout << js << "}\n";
    } else {
        char top[256] = "no classifier head";  // a backbone: maps only
        if (!e.prediction.top.empty())
            std::snprintf(top, sizeof top, "%s (%.1f%%)", e.prediction.top[0].label.c_str(), 100.0 * e.prediction.top[0].prob);
        const std::string why = has_class ? " for class " + std::to_string(e.explained_class) + " (" + label + ")" : "";
        std::printf("%s: %s, %s map%s %dx%d%s%s\n", file.c_str(), top, map_method_name(a.spec.method), why.c_str(),
                    m.rows, m.cols, overlay.empty() ? "" : " -> ", overlay.c_str());
        print_ascii(m);
        if (a.norms) print_norms(e, token_layout(s));
    }
    flush_stdout();  // a full disk stops the run at this image, with errno's reason
}

// Two inputs of one output name (y.png, y.jpg): the second is reported and
// dropped, resumed or not. Returns how many were dropped.
int drop_name_clashes(std::vector<std::string>& files, const OutputNames& names) {
    std::map<std::string, std::string> first;
    const size_t before = files.size();
    std::erase_if(files, [&](const std::string& f) {
        auto [it, fresh] = first.emplace(names.key(f), f);
        if (fresh) return false;
        std::cerr << "vitlens: " << f << ": its outputs " << names.key(f) << ".* belong to " << it->second
                  << " in this run (two inputs of one name in one folder); rename one\n";
        return true;
    });
    return int(before - files.size());
}

// --resume: drops the images whose overlay decodes whole (an empty or cut PNG is done again).
void drop_done(std::vector<std::string>& files, const OutputNames& names, const ExplainArgs& a) {
    const size_t listed = files.size();
    std::erase_if(files, [&](const std::string& f) {
        return output_decodes((std::filesystem::path(a.out) / overlay_name(names.key(f), a, a.spec.target_class)).string());
    });
    std::cerr << "vitlens: --resume: " << (listed - files.size()) << " of " << listed << " overlays already in " << a.out
              << "\n";
}

// One image: decoded, explained, drawn and printed. False (reported) when it failed.
bool explain_one(Classifier& clf, const std::string& f, const ExplainArgs& a, OutputDir* outdir,
                 const OutputNames& names) {
    const ModelSpec& s = clf.spec();
    Explained e;
    cv::Mat rgb;
    std::string overlay;
    try {
        DecodeOptions dopt;
        dopt.limit_name = "--max-pixels";
        dopt.max_pixels = a.max_pixels;
        rgb = decode_image(f, dopt);
        e = clf.explain(rgb, a.spec, a.top_k);
        const AttentionMap m = compute_view(e, s, a.spec).heat;
        if (outdir) overlay = write_overlays(*outdir, f, names.key(f), rgb, e, m, a, s);
        print_result(f, e, m, overlay, a, s);
    } catch (const InputError& ex) {  // a bad image, or a second input of one name: reported, the others go on
        std::cerr << "vitlens: " << ex.what() << "\n";
        return false;
    }
    return true;
}

}  // namespace

int cmd_explain(int argc, char** argv) {
    ModelOptions mo;
    ExplainArgs a;
    std::vector<std::string> inputs;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    mo.add_to(d);
    add_explain_options(d, a);
    po::variables_map vm;
    if (!parse_args_with_inputs(argc, argv, kExplainUsage, d, inputs, vm)) return kOk;
    finish_args(a, vm);

    if (a.shard.resume && a.out.empty()) throw UsageError("--resume continues the overlays of --out DIR; give --out");
    std::vector<std::string> errors;
    std::vector<std::string> files = select_shard(collect_images(inputs, errors), a.shard.get());
    for (const auto& e : errors) std::cerr << "vitlens: " << e << "\n";
    const ClassifierOptions copt = mo.classifier_options();
    if (const std::string why = precision_problem(a.spec.method, copt.precision); !why.empty())
        throw UsageError(why + "; drop --precision " + precision_name(copt.precision));
    Classifier clf(mo.resolve(), copt);
    if (!a.cls.empty()) a.spec.target_class = class_index(clf.spec(), a.cls);
    validate(a.spec, clf.spec());
    require_memory(clf.spec(), 1, copt.precision, map_need(a.spec));
    std::unique_ptr<OutputDir> outdir;
    if (!a.out.empty()) outdir = std::make_unique<OutputDir>(a.out, a.overwrite, a.shard.resume);
    const OutputNames names(inputs);
    int failed = static_cast<int>(errors.size()) + (a.out.empty() ? 0 : drop_name_clashes(files, names));
    if (a.shard.resume) drop_done(files, names, a);
    for (const std::string& f : files) failed += explain_one(clf, f, a, outdir.get(), names) ? 0 : 1;
    if (failed) {
        std::cerr << "vitlens: " << failed << " input(s) failed\n";
        return kInputError;
    }
    return kOk;
}

}  // namespace vitlens::app
