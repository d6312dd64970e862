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
    d.add_options()
        ("method", po::value(&req.method)->default_value("rollout")->value_name("M"),
         "rollout: attention flow from the class token through all layers (Abnar & Zuidema 2020)\n"
         "attention: the class token's attention in one layer (default: last layer, heads averaged)\n"
         "query: where one patch (--query ROW,COL) looks")
        ("fusion", po::value(&fusion)->default_value("mean")->value_name("F"), "how heads are combined: mean, max, min")
        ("discard", po::value(&req.discard)->default_value(0.f)->value_name("R"),
         "rollout: zero the lowest R fraction of each layer's attention (0..0.99)")
        ("layer", po::value(&req.layer)->default_value(-1)->value_name("L"), "layer for attention/query (-1 = last)")
        ("head", po::value(&req.head)->default_value(-1)->value_name("H"), "one head (-1 = fuse all heads)")
        ("query", po::value(&query)->value_name("ROW,COL"), "patch for --method query (0-based, rows from the top)")
        ("clip-outliers", po::value(&req.clip)->implicit_value(99.f)->value_name("P"),
         "cap the map at its P-th percentile (default 99) so outlier tokens do not wash it out")
        ("colormap", po::value(&colormap)->default_value("turbo")->value_name("NAME"), "turbo, jet, inferno, viridis")
        ("alpha", po::value(&alpha)->default_value(0.5f)->value_name("A"), "heatmap opacity 0..1")
        ("no-crop-box", po::bool_switch(&no_box), "do not outline the crop the model saw")
        ("scale", po::value(&scale)->default_value(1)->value_name("N"),
         "draw overlays on the image enlarged N times (pixel-exact), for small inputs such as 28x28")
        ("out,o", po::value(&out)->value_name("DIR"), "write <DIR>/<stem>.<method>.png overlays")
        ("gallery", po::bool_switch(&gallery_png), "also write <stem>.gallery.png: every layer x head map")
        ("overwrite", po::bool_switch(&overwrite), "replace existing files in a non-empty --out folder")
        ("norms", po::bool_switch(&norms), "print the per-layer token-norm report (outlier tokens)")
        ("top-k,k", po::value(&top_k)->default_value(5)->value_name("K"), "labels per image")
        ("format,f", po::value(&format)->default_value("text")->value_name("F"),
         "text (map drawn in characters) | jsonl: {\"image\", \"method\", \"grid\", \"map\", \"top\", \"overlay\"}")
        ("max-pixels", po::value(&max_pixels)->default_value(100'000'000)->value_name("N"), "refuse larger images");
    po::variables_map vm;
    if (!parse_args_with_inputs(argc, argv,
                    "Usage: vitlens explain [options] INPUT...\n\n"
                    "Shows where the model looked. Maps cover the patch grid (rows = image rows), scaled to max 1,\n"
                    "and are drawn on the original image by undoing the model's resize and crop.",
                    d, inputs, vm))
        return kOk;
    if (req.method != "rollout" && req.method != "attention" && req.method != "query")
        throw UsageError("--method must be rollout, attention or query, got '" + req.method + "'");
    if (format != "text" && format != "jsonl") throw UsageError("--format must be text or jsonl, got '" + format + "'");
    if (!(req.discard >= 0.f && req.discard < 1.f)) throw UsageError("--discard must be in [0, 1)");
    if (!(alpha >= 0.f && alpha <= 1.f)) throw UsageError("--alpha must be in [0, 1]");
    if (scale < 1 || scale > 32) throw UsageError("--scale must be in [1, 32]");
    if (vm.count("clip-outliers") && !(req.clip > 0.f && req.clip <= 100.f))
        throw UsageError("--clip-outliers must be in (0, 100]");
    OverlayStyle style;
    try {
        req.fusion = parse_fusion(fusion);
        style.colormap = parse_colormap(colormap);
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
    style.alpha = alpha;
    style.draw_crop_box = !no_box;
    if (req.method == "query") {
        if (query.empty()) throw UsageError("--method query needs --query ROW,COL");
        if (std::sscanf(query.c_str(), "%d,%d", &req.qrow, &req.qcol) != 2)
            throw UsageError("--query must be ROW,COL, got '" + query + "'");
    }

    std::vector<std::string> errors;
    std::vector<std::string> files = collect_images(inputs, errors);
    for (const auto& e : errors) std::cerr << "vitlens: " << e << "\n";
    Classifier clf(mo.resolve(), mo.classifier_options());
    const ModelSpec& s = clf.spec();
    if (req.head >= s.heads) throw UsageError("--head " + std::to_string(req.head) + " is out of range: the model has " + std::to_string(s.heads) + " heads");
    if (req.layer >= s.layers || req.layer < -s.layers)
        throw UsageError("--layer " + std::to_string(req.layer) + " is out of range: the model has " + std::to_string(s.layers) + " layers");
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
