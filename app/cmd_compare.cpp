// vitlens compare: what a lower precision changes, in the answer and in the
// map. Every image runs through one model loaded at each precision; the
// first precision is the reference the others are measured against.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli_args.h"
#include "commands.h"
#include "console.h"
#include "exit_codes.h"
#include "model_options.h"
#include "text_out.h"
#include "vitlens/errors.h"
#include "vitlens/maps/faithfulness.h"
#include "vitlens/maps/map_spec.h"
#include "vitlens/maps/map_view.h"
#include "vitlens/maps/rank_correlation.h"

namespace vitlens::app {

namespace {

struct CompareArgs {
    std::string precisions, method = "rollout", format = "text";
    int top_k = 3, steps = 0;
    int64_t max_pixels = kDefaultMaxPixels;
};

const char* kCompareUsage =
    "Usage: vitlens compare [options] IMAGE...\n\n"
    "Runs each image through the model at several precisions and prints, per precision: the top-k, the\n"
    "largest logit change against the first precision (the reference), the map's rank correlation\n"
    "with the reference's map (Spearman's rho over the patches: 1 = the same ranking), and the\n"
    "map's deletion and insertion AUCs (each precision's map on its own encoder, following the\n"
    "reference's top-1 class; deletion: lower is more faithful, insertion: higher is).\n"
    "A summary over all images follows.\n\n"
    "Examples: vitlens compare assets/samples\n"
    "          vitlens compare --precision f32,int8 --method attribution assets/samples";

void add_compare_options(po::options_description& d, CompareArgs& a) {
    OptionTable(d)
        .text("precision", &a.precisions, "LIST",
              "precisions to compare, the first is the reference (default f32,bf16,int8; bf16 is left\n"
              "out, with a note, on a CPU without AVX512-BF16/AMX and for --method attribution)")
        .choice("method", &a.method, "rollout", {"rollout", "attention", "attribution"}, "M",
                "the map compared: rollout, attention (last layer, heads averaged) or attribution\n"
                "(of the reference's top-1 class; f32 and int8 only)")
        .integer("top-k,k", &a.top_k, 3, 1, 100, "K", "labels shown per precision")
        .integer("steps", &a.steps, 0, 0, 100000, "S",
                 "steps of the deletion/insertion curves (0 = one per patch, at most 20)")
        .choice("format,f", &a.format, "text", {"text", "jsonl"}, "F",
                "text | jsonl: one {\"image\", \"method\", \"reference\", \"precisions\": [...]} per image, then\n"
                "one {\"summary\": [...]}")
        .integer("max-pixels", &a.max_pixels, kDefaultMaxPixels, 1, 1'000'000'000'000, "N", "refuse larger images");
}

// "f32,int8" -> the precisions, checked: known names, no repeats, bf16 only
// where it runs (else dropped with a note, or refused when asked for).
std::vector<Precision> parse_precision_list(const CompareArgs& a) {
    const bool given = !a.precisions.empty();
    const bool attribution = a.method == "attribution";
    std::stringstream ss(given ? a.precisions : "f32,bf16,int8");
    std::vector<Precision> out;
    for (std::string name; std::getline(ss, name, ',');) {
        Precision p;
        if (!parse_precision(name, p))
            throw UsageError("--precision: '" + name + "' is not a precision (f32, bf16, int8), in '" + a.precisions + "'");
        if (std::find(out.begin(), out.end(), p) != out.end())
            throw UsageError("--precision: '" + name + "' is listed twice in '" + a.precisions + "'");
        if (p == Precision::BF16 && (attribution || !cpu_has_bf16())) {
            const std::string why = attribution ? precision_problem(MapMethod::Attribution, p)
                                                : "this CPU has no AVX512-BF16 or AMX";
            if (given) throw UsageError("--precision bf16: " + why + "; leave bf16 out of the list");
            std::cerr << "vitlens: compare: bf16 left out (" << why << ")\n";
            continue;
        }
        out.push_back(p);
    }
    if (out.size() < 2) throw UsageError("--precision needs at least two precisions to compare, got '" + a.precisions + "'");
    return out;
}

// One precision's answer for one image.
struct Result {
    Explained e;
    AttentionMap map;
    double max_logit_change = 0, rho = 1, deletion = 0, insertion = 0;
};

// Running sums over the images, per precision.
struct Totals {
    double rho = 0, rho_min = 1, logit = 0, logit_max = 0, deletion = 0, insertion = 0;
    int same_top1 = 0, images = 0;
    void add(const Result& r, bool same) {
        rho += r.rho, rho_min = std::min(rho_min, r.rho), logit += r.max_logit_change;
        logit_max = std::max(logit_max, r.max_logit_change), deletion += r.deletion, insertion += r.insertion;
        same_top1 += same ? 1 : 0, ++images;
    }
};

// Infinity when a logit is NaN or infinite at either precision: never a small number.
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double m = 0;
    for (size_t k = 0; k < a.size() && k < b.size(); ++k) {
        const double d = std::fabs(double(a[k]) - double(b[k]));
        if (!std::isfinite(d)) return HUGE_VAL;
        m = std::max(m, d);
    }
    return m;
}

// A JSON number, or null for NaN and infinities (which JSON cannot hold).
std::string json_num(double v) { return std::isfinite(v) ? float_str(float(v)) : "null"; }

int top1(const Explained& e) { return e.prediction.top.empty() ? -1 : e.prediction.top[0].index; }

// The map of `spec` for one image at one precision; `cls` is the reference's
// top-1 (attribution explains it at every precision, the curves follow it).
Result run_one(Classifier& clf, const Tensor& patches, MapSpec spec, int cls, int top_k, int steps) {
    Result r;
    spec.target_class = cls;
    ExplainRequest req = explain_request(spec, top_k);
    clf.explain_patches(patches.data(), req, r.e);
    r.map = compute_view(r.e, clf.spec(), spec).heat;
    const int follow = cls >= 0 ? cls : top1(r.e);
    if (follow >= 0) {
        const FaithfulnessCurves f = deletion_insertion(clf.encoder(), patches.data(), rank_patches(r.map), follow, steps);
        r.deletion = f.deletion_auc, r.insertion = f.insertion_auc;
    }
    return r;
}

std::string top_text(const Prediction& p) {
    std::string s;
    char buf[160];
    for (const TopEntry& t : p.top) {
        std::snprintf(buf, sizeof buf, "%s%s %.1f%%", s.empty() ? "" : ", ", t.label.c_str(), 100.0 * t.prob);
        s += buf;
    }
    return s.empty() ? "(no classifier head)" : s;
}

void print_text(const std::string& file, const std::vector<Precision>& ps, const std::vector<Result>& rs,
                const MapSpec& spec) {
    std::printf("%s (%s map %dx%d, reference %s)\n", file.c_str(), map_method_name(spec.method), rs[0].map.rows,
                rs[0].map.cols, precision_name(ps[0]));
    std::printf("  %-5s %12s %7s %9s %9s  %s\n", "prec", "max|dlogit|", "rho", "deletion", "insertion", "top-k");
    for (size_t i = 0; i < ps.size(); ++i)
        std::printf("  %-5s %12.4f %7.4f %9.4f %9.4f  %s\n", precision_name(ps[i]), rs[i].max_logit_change, rs[i].rho,
                    rs[i].deletion, rs[i].insertion, top_text(rs[i].e.prediction).c_str());
}

void print_jsonl(const std::string& file, const std::vector<Precision>& ps, const std::vector<Result>& rs,
                 const MapSpec& spec) {
    std::string js = "{\"image\": \"" + json_escape(file) + "\", \"method\": \"" + map_method_name(spec.method) +
                     "\", \"reference\": \"" + precision_name(ps[0]) + "\", \"precisions\": [";
    for (size_t i = 0; i < ps.size(); ++i)
        js += std::string(i ? ", " : "") + "{\"precision\": \"" + precision_name(ps[i]) + "\", \"top\": " +
              top_json(rs[i].e.prediction) + ", \"max_logit_change\": " + json_num(rs[i].max_logit_change) +
              ", \"map_rho\": " + json_num(rs[i].rho) + ", \"deletion_auc\": " + json_num(rs[i].deletion) +
              ", \"insertion_auc\": " + json_num(rs[i].insertion) + "}";
    std::cout << js << "]}\n";
}

void print_summary(const std::vector<Precision>& ps, const std::vector<Totals>& t, const std::string& format) {
    if (format == "jsonl") {
        std::string js = "{\"summary\": [";
        for (size_t i = 0; i < ps.size(); ++i) {
            const double n = std::max(1, t[i].images);
            js += std::string(i ? ", " : "") + "{\"precision\": \"" + precision_name(ps[i]) +
                  "\", \"images\": " + std::to_string(t[i].images) + ", \"same_top1\": " +
                  std::to_string(t[i].same_top1) + ", \"map_rho_mean\": " + json_num(t[i].rho / n) +
                  ", \"map_rho_min\": " + json_num(t[i].rho_min) + ", \"max_logit_change\": " +
                  json_num(t[i].logit_max) + ", \"deletion_auc\": " + json_num(t[i].deletion / n) +
                  ", \"insertion_auc\": " + json_num(t[i].insertion / n) + "}";
        }
        std::cout << js << "]}\n";
        return;
    }
    std::printf("summary over %d image(s), against %s:\n", t[0].images, precision_name(ps[0]));
    std::printf("  %-5s %9s %9s %9s %12s %9s %9s\n", "prec", "same top1", "rho mean", "rho min", "max|dlogit|",
                "deletion", "insertion");
    for (size_t i = 0; i < ps.size(); ++i) {
        const double n = std::max(1, t[i].images);
        std::printf("  %-5s %4d/%-4d %9.4f %9.4f %12.4f %9.4f %9.4f\n", precision_name(ps[i]), t[i].same_top1,
                    t[i].images, t[i].rho / n, t[i].rho_min, t[i].logit_max, t[i].deletion / n, t[i].insertion / n);
    }
}

// All precisions on one image; false (reported) when it could not be read.
bool compare_one(std::vector<std::unique_ptr<Classifier>>& clfs, const std::vector<Precision>& ps,
                 const std::string& file, const CompareArgs& a, const MapSpec& spec, std::vector<Totals>& totals) {
    Tensor patches;
    try {
        DecodeOptions dopt;
        dopt.limit_name = "--max-pixels";
        dopt.max_pixels = a.max_pixels;
        patches = prepare_image(decode_image(file, dopt), clfs[0]->spec(), nullptr);
    } catch (const InputError& ex) {
        std::cerr << "vitlens: " << ex.what() << "\n";
        return false;
    }
    const int N = clfs[0]->spec().patches(), steps = a.steps > 0 ? a.steps : std::min(N, 20);
    std::vector<Result> rs;
    rs.push_back(run_one(*clfs[0], patches, spec, -1, a.top_k, steps));
    // the class the reference explains (attribution) or predicts: every precision follows it
    const int cls = spec.method == MapMethod::Attribution ? rs[0].e.explained_class : top1(rs[0].e);
    for (size_t i = 1; i < clfs.size(); ++i) {
        rs.push_back(run_one(*clfs[i], patches, spec, cls, a.top_k, steps));
        rs[i].max_logit_change = max_abs_diff(rs[i].e.prediction.logits, rs[0].e.prediction.logits);
        rs[i].rho = spearman(rs[0].map, rs[i].map);
    }
    for (size_t i = 0; i < rs.size(); ++i) totals[i].add(rs[i], top1(rs[i].e) == top1(rs[0].e));
    if (a.format == "jsonl") print_jsonl(file, ps, rs, spec);
    else print_text(file, ps, rs, spec);
    flush_stdout();
    return true;
}

}  // namespace

int cmd_compare(int argc, char** argv) {
    ModelOptions mo;
    CompareArgs a;
    std::vector<std::string> inputs;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    mo.add_to(d, /*with_precision=*/false);
    add_compare_options(d, a);
    po::variables_map vm;
    if (!parse_args_with_inputs(argc, argv, kCompareUsage, d, inputs, vm)) return kOk;
    const std::vector<Precision> ps = parse_precision_list(a);
    const MapSpec spec{.method = parse_map_method(a.method)};
    std::vector<std::string> errors;
    const std::vector<std::string> files = collect_images(inputs, errors);
    for (const auto& e : errors) std::cerr << "vitlens: " << e << "\n";
    const std::string dir = mo.resolve();
    std::vector<std::unique_ptr<Classifier>> clfs;
    for (Precision p : ps) {
        ClassifierOptions o = mo.classifier_options();
        o.precision = p;
        clfs.push_back(std::make_unique<Classifier>(dir, o));
        const ModelSpec& ms = clfs.back()->spec();
        if (const std::string why = head_problem(ms); !why.empty())  // compare reads logits, classes and curves
            throw ModelError(dir + ": " + why + "; vitlens compare needs a classifier head");
        if (a.steps > ms.patches())
            throw UsageError("--steps " + std::to_string(a.steps) + " is more than the model's " +
                             std::to_string(ms.patches()) + " patches");
        // the curves run masked images in batches of up to 2 (steps + 1), at most 64
        const int steps = a.steps > 0 ? a.steps : std::min(ms.patches(), 20);
        require_memory(ms, 1, p, map_need(spec));
        require_memory(ms, std::min(64, 2 * (steps + 1)), p, MapNeed::None);
    }
    std::vector<Totals> totals(ps.size());
    int failed = int(errors.size());
    for (const std::string& f : files) failed += compare_one(clfs, ps, f, a, spec, totals) ? 0 : 1;
    if (totals[0].images > 0) print_summary(ps, totals, a.format);
    if (failed) {
        std::cerr << "vitlens: " << failed << " input(s) failed\n";
        return kInputError;
    }
    return kOk;
}

}  // namespace vitlens::app
