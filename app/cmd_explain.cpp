// vitlens explain: where the model looked.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <opencv2/imgproc.hpp>

#include "common.h"
#include "vitlens/attention_maps.h"
#include "vitlens/errors.h"

namespace vitlens::app {

namespace {

struct MapRequest {
    std::string method = "rollout";
    Fusion fusion = Fusion::Mean;
    float discard = 0.f;
    int layer = -1, head = -1;
    int qrow = -1, qcol = -1;
    float clip = -1.f;
};

AttentionMap compute(const Explained& e, const ModelSpec& s, const MapRequest& r) {
    TokenLayout lay{s.n_prefix, s.grid_h(), s.grid_w()};
    AttentionMap m;
    if (r.method == "rollout") m = rollout(e.attention, lay, r.fusion, r.discard);
    else if (r.method == "attention") m = attention_map(e.attention, lay, r.layer, r.head, r.fusion);
    else m = query_map(e.attention, lay, r.qrow, r.qcol, r.layer, r.head, r.fusion);
    if (r.clip > 0) clip_outliers(m, r.clip);
    return m;
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

}  // namespace

int cmd_explain(int argc, char** argv) {
    ModelOptions mo;
    MapRequest req;
    std::string fusion = "mean", query, colormap = "turbo", out, format = "text";
    float alpha = 0.5f;
    int top_k = 5, scale = 1;
    bool gallery_png = false, overwrite = false, norms = false, no_box = false;
    std::vector<std::string> inputs;
    int64_t max_pixels = 100'000'000;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    mo.add_to(d);
    OptionTable(d)
        .choice("method", &req.method, "rollout", {"rollout", "attention", "query"}, "M",
                "rollout: attention flow from the class token through all layers (Abnar & Zuidema 2020)\n"
                "attention: the class token's attention in one layer (default: last layer, heads averaged)\n"
                "query: where one patch (--query ROW,COL) looks")
        .choice("fusion", &fusion, "mean", {"mean", "max", "min"}, "F", "how heads are combined")
        .real("discard", &req.discard, 0.f, 0.f, 1.f, true, "R", "rollout: zero the lowest R fraction of each layer's attention")
        .integer("layer", &req.layer, -1, -100000, 100000, "L",
                 "layer for attention/query (-1 = last, -2 = the one before; checked against the model)")
        .integer("head", &req.head, -1, -1, 100000, "H", "one head (-1 = fuse all heads; checked against the model)")
        .text("query", &query, "ROW,COL", "patch for --method query (0-based, rows from the top)")
        .real_implicit("clip-outliers", &req.clip, 99.f, 0.001f, 100.f, "P",
                       "cap the map at its P-th percentile (99 when given bare) so outlier tokens do not wash it out")
        .choice("colormap", &colormap, "turbo", {"turbo", "jet", "inferno", "viridis"}, "NAME", "heatmap colours")
        .real("alpha", &alpha, 0.5f, 0.f, 1.f, false, "A", "heatmap opacity")
        .flag("no-crop-box", &no_box, "do not outline the crop the model saw")
        .integer("scale", &scale, 1, 1, 32, "N",
                 "draw overlays on the image enlarged N times (pixel-exact), for small inputs such as 28x28")
        .text("out,o", &out, "DIR", "write <DIR>/<stem>.<method>.png overlays")
        .flag("gallery", &gallery_png, "also write <stem>.gallery.png: every layer x head map")
        .flag("overwrite", &overwrite, "replace existing files in a non-empty --out folder")
        .flag("norms", &norms, "print the per-layer token-norm report (outlier tokens)")
        .integer("top-k,k", &top_k, 5, 1, 100000, "K", "labels per image")
        .choice("format,f", &format, "text", {"text", "jsonl"}, "F",
                "text (map drawn in characters) | jsonl: {\"image\", \"method\", \"grid\", \"map\", \"top\", \"overlay\"}")
        .integer("max-pixels", &max_pixels, 100'000'000, 1, 1'000'000'000'000, "N", "refuse larger images");
    po::variables_map vm;
    if (!parse_args_with_inputs(argc, argv,
                    "Usage: vitlens explain [options] INPUT...\n\n"
                    "Shows where the model looked. Maps cover the patch grid (rows = image rows), scaled to max 1,\n"
                    "and are drawn on the original image by undoing the model's resize and crop.",
                    d, inputs, vm))
        return kOk;
    OverlayStyle style;
    try {
        req.fusion = parse_fusion(fusion);
        style.colormap = parse_colormap(colormap);
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
    style.alpha = alpha;
    style.draw_crop_box = !no_box;
    if (req.method == "query" && query.empty()) throw UsageError("--method query needs --query ROW,COL");
    if (!query.empty()) {
        char tail = 0;
        if (std::sscanf(query.c_str(), "%d,%d%c", &req.qrow, &req.qcol, &tail) != 2)
            throw UsageError("--query must be ROW,COL (two integers), got '" + query + "'");
        if (req.method != "query") {  // --query implies the query map, unless another one was asked for
            if (!vm["method"].defaulted()) throw UsageError("--query goes with --method query, not " + req.method);
            req.method = "query";
        }
    }

    std::vector<std::string> errors;
    std::vector<std::string> files = collect_images(inputs, errors);
    for (const auto& e : errors) std::cerr << "vitlens: " << e << "\n";
    Classifier clf(mo.resolve(), mo.classifier_options());
    const ModelSpec& s = clf.spec();
    if (req.head >= s.heads)
        throw UsageError("--head " + std::to_string(req.head) + " is out of range: the model has " + std::to_string(s.heads) +
                         " heads (0.." + std::to_string(s.heads - 1) + ", or -1 to fuse them)");
    if (req.layer >= s.layers || req.layer < -s.layers)
        throw UsageError("--layer " + std::to_string(req.layer) + " is out of range: the model has " +
                         std::to_string(s.layers) + " layers (0.." + std::to_string(s.layers - 1) + ", or -1..-" +
                         std::to_string(s.layers) + " from the last)");
    if (req.method == "query" && (req.qrow < 0 || req.qrow >= s.grid_h() || req.qcol < 0 || req.qcol >= s.grid_w()))
        throw UsageError("--query " + query + " is outside the " + std::to_string(s.grid_h()) + "x" +
                         std::to_string(s.grid_w()) + " patch grid");
    std::unique_ptr<OutputDir> outdir;
    if (!out.empty()) outdir = std::make_unique<OutputDir>(out, overwrite);

    DecodeOptions dopt;
    dopt.max_pixels = max_pixels;
    int failed = static_cast<int>(errors.size());
    for (const std::string& f : files) {
        Explained e;
        cv::Mat rgb;
        try {
            rgb = decode_image(f, dopt);
            e = clf.explain(rgb, top_k);
        } catch (const InputError& ex) {
            std::cerr << "vitlens: " << ex.what() << "\n";
            ++failed;
            continue;
        }
        AttentionMap m = compute(e, s, req);
        std::string overlay_path;
        if (outdir) {
            if (scale > 1) {  // enlarge the canvas; the geometry scales with it
                cv::resize(rgb, rgb, cv::Size(), scale, scale, cv::INTER_NEAREST);
                e.geometry.orig_w = rgb.cols;
                e.geometry.orig_h = rgb.rows;
            }
            std::string stem = std::filesystem::path(f).stem().string();
            overlay_path = outdir->target(stem + "." + req.method + ".png");
            write_image_atomic(overlay_path, render_overlay(rgb, m, e.geometry, style));
            if (gallery_png) {
                TokenLayout lay{s.n_prefix, s.grid_h(), s.grid_w()};
                std::vector<std::string> labels;
                for (int l = 0; l < s.layers; ++l)
                    for (int h = 0; h < s.heads; ++h) labels.push_back("L" + std::to_string(l) + " H" + std::to_string(h));
                int tile = std::max(96, std::min(192, 1600 / s.heads));
                outdir->write_png(stem + ".gallery.png", render_tiles(rgb, gallery(e.attention, lay), labels, e.geometry, s.heads, tile, style));
            }
        }
        if (format == "jsonl") {
            std::string js = "{\"image\": \"" + json_escape(f) + "\", \"method\": \"" + req.method + "\", \"grid\": [" +
                             std::to_string(m.rows) + ", " + std::to_string(m.cols) + "], \"map\": [";
            for (size_t i = 0; i < m.values.size(); ++i) js += (i ? ", " : "") + float_str(m.values[i]);
            js += "], \"top\": " + top_json(e.prediction) + ", \"overlay\": " +
                  (overlay_path.empty() ? std::string("null") : "\"" + json_escape(overlay_path) + "\"") + "}";
            std::cout << js << "\n";
        } else {
            const TopEntry& t = e.prediction.top.front();
            std::printf("%s: %s (%.1f%%), %s map %dx%d%s%s\n", f.c_str(), t.label.c_str(), 100.0 * t.prob,
                        req.method.c_str(), m.rows, m.cols, overlay_path.empty() ? "" : " -> ", overlay_path.c_str());
            print_ascii(m);
            if (norms) {
                auto rep = token_norm_report(e.token_norms);
                for (size_t l = 0; l < rep.size(); ++l) {
                    std::printf("    layer %zu: token norm median %.2f, max %.2f", l, rep[l].median, rep[l].max);
                    if (!rep[l].outliers.empty()) {
                        std::printf(", outliers:");
                        for (int tok : rep[l].outliers) {
                            if (tok < s.n_prefix) std::printf(" prefix%d", tok);
                            else std::printf(" (%d,%d)", (tok - s.n_prefix) / s.grid_w(), (tok - s.n_prefix) % s.grid_w());
                        }
                    }
                    std::printf("\n");
                }
            }
        }
        std::cout.flush();
    }
    if (failed) {
        std::cerr << "vitlens: " << failed << " input(s) failed\n";
        return kInputError;
    }
    return kOk;
}

}  // namespace vitlens::app
