// vitlens eval: accuracy on a labelled set.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <opencv2/imgproc.hpp>

#include "cli_args.h"
#include "commands.h"
#include "console.h"
#include "exit_codes.h"
#include "model_options.h"
#include "output_dir.h"
#include "text_out.h"
#include "vitlens/frontend/batches.h"
#include "eval_faithfulness.h"
#include "eval_set.h"
#include "vitlens/images/datasets.h"
#include "vitlens/errors.h"
#include "vitlens/images/output_file.h"

namespace vitlens::app {

namespace {

// A labelled confusion-matrix image: rows = true class, columns = predicted.
cv::Mat render_confusion(const std::vector<std::vector<int>>& cm, const std::vector<std::string>& labels) {
    const int K = static_cast<int>(labels.size()), cell = K <= 20 ? 44 : 18, left = 140, top = 150;
    cv::Mat img(top + K * cell + 20, left + K * cell + 20, CV_8UC3, cv::Scalar(255, 255, 255));
    auto text = [&](const std::string& s, cv::Point p, double scale, cv::Scalar col = cv::Scalar(0, 0, 0)) {
        cv::putText(img, s, p, cv::FONT_HERSHEY_SIMPLEX, scale, col, 1, cv::LINE_AA);
    };
    for (int t = 0; t < K; ++t) {
        int row_total = 0;
        for (int v : cm[t]) row_total += v;
        for (int p = 0; p < K; ++p) {
            double frac = row_total ? double(cm[t][p]) / row_total : 0.0;
            int shade = static_cast<int>(255 - 200 * frac);
            cv::Rect r(left + p * cell, top + t * cell, cell - 1, cell - 1);
            cv::rectangle(img, r, t == p ? cv::Scalar(shade, 255, shade) : cv::Scalar(255, shade, shade), cv::FILLED);
            if (K <= 20 && cm[t][p]) text(std::to_string(cm[t][p]), {r.x + 3, r.y + cell / 2 + 4}, 0.35);
        }
        text(labels[t].substr(0, 18), {4, top + t * cell + cell / 2 + 4}, 0.4);
    }
    for (int p = 0; p < K; ++p) {  // column labels, rotated
        cv::Mat lab(20, top - 10, CV_8UC3, cv::Scalar(255, 255, 255)), rot;
        cv::putText(lab, labels[p].substr(0, 18), {2, 14}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
        cv::rotate(lab, rot, cv::ROTATE_90_COUNTERCLOCKWISE);
        rot.copyTo(img(cv::Rect(left + p * cell + (cell - 20) / 2, 5, rot.cols, rot.rows)));
    }
    text("true \\ predicted", {4, top - 8}, 0.4, cv::Scalar(80, 80, 80));
    return img;
}

struct EvalArgs {
    std::vector<std::string> idx;
    std::string folder, format = "text", confusion, predictions, faithfulness;
    int limit = 0, batch = 64, faith_steps = 0;
    bool overwrite = false;
};

const char* kEvalUsage =
    "Usage: vitlens eval [--model DIR] (--idx IMAGES LABELS | --folder ROOT) [options]\n\n"
    "Accuracy through the full C++ pipeline: top-1, top-5, per-class accuracy, confusion matrix, images/s.\n"
    "With --faithfulness, how faithful each map method is instead: deletion and insertion AUCs\n"
    "(Petsiuk et al. 2018) of the clean top-1 class's probability as patches ranked by the map are\n"
    "replaced by the mean colour (deletion; lower is better) or restored to an all-mean image\n"
    "(insertion; higher is better); 'random' ranks patches at random, as a baseline.\n"
    "Progress goes to stderr (a bar on a terminal, a line every 5 s otherwise).";

void add_eval_options(po::options_description& d, EvalArgs& a) {
    d.add_options()
        ("idx", po::value(&a.idx)->multitoken()->value_name("IMAGES LABELS"),
         "IDX image and label files (MNIST format, .gz or raw)")
        ("folder", po::value(&a.folder)->value_name("ROOT")->notifier([](const std::string& f) {
             if (f.empty()) throw UsageError("--folder needs a value, got an empty string");
         }),
         "ImageFolder: ROOT/<label>/<image>, folder names matched to the model's labels (case-insensitive)");
    OptionTable(d)
        .choice("format,f", &a.format, "text", {"text", "json"}, "F", "text | json")
        .text("confusion", &a.confusion, "FILE.png", "also render the confusion matrix as a PNG")
        .text("predictions", &a.predictions, "FILE.csv",
              "also write one row per image: index,image,label,predicted,probability (compare runs, e.g. f32 vs bf16)")
        .flag("overwrite", &a.overwrite, "replace an existing --confusion or --predictions file")
        .integer("limit", &a.limit, 0, 0, 1'000'000'000, "N", "evaluate only the first N images (0 = all)")
        .integer("batch,b", &a.batch, 64, 1, 4096, "N", "images per encoder call")
        .text("faithfulness", &a.faithfulness, "M,M,...",
              "measure map faithfulness for these methods (rollout, attention, attribution, random);\n"
              "--predictions then writes index,image,label,predicted,probability,method,deletion_auc,\n"
              "insertion_auc per image and method; seconds per method include each image's clean pass")
        .integer("faith-steps", &a.faith_steps, 0, 0, 100000, "S",
                 "points per curve after the first: S evenly spaced patch counts (0 = every patch, at most 50)");
}

// Counts per class, the confusion matrix and the --predictions rows.
struct Tally {
    explicit Tally(int K) : cm(K, std::vector<int>(K, 0)), total(K, 0), ok(K, 0) {}
    std::vector<std::vector<int>> cm;
    std::vector<int> total, ok;
    int top1 = 0, top5 = 0, evaluated = 0, failed = 0;
    std::string rows = "index,image,label,predicted,probability\n";

    void add(const Prediction& pr, int y, size_t j, const EvalSet& set, const ModelSpec& s, bool keep_rows) {
        const int p = pr.top[0].index;
        cm[y][p]++;
        total[y]++;
        if (p == y) {
            ++top1;
            ++ok[y];
        }
        for (const TopEntry& t : pr.top)
            if (t.index == y) {
                ++top5;
                break;
            }
        if (keep_rows)
            rows += std::to_string(j) + "," + csv_field(set.name(j)) + "," + csv_field(s.labels[y]) + "," +
                    csv_field(s.labels[p]) + "," + float_str(pr.top[0].prob) + "\n";
        ++evaluated;
    }
};

// Decodes and prepares the images into batches and classifies each batch.
void evaluate(Classifier& clf, const EvalSet& set, const EvalArgs& a, Tally& tally) {
    const ModelSpec& s = clf.spec();
    Progress progress("eval", set.size());
    frontend::BatchHooks hooks;
    hooks.failed = [&](size_t, const std::string& problem) {
        std::cerr << "\nvitlens: " << problem << "\n";
        ++tally.failed;
    };
    hooks.progress = [&](size_t) { progress.update(tally.evaluated + tally.failed); };
    frontend::for_each_batch(
        set.size(), [&](size_t i) { return set.image(i); }, s, a.batch,
        [&](const std::vector<size_t>& rows, const float* patches, int B) {
            auto preds = clf.classify_patches(patches, B, 5);
            for (size_t i = 0; i < rows.size(); ++i)
                tally.add(preds[i], set.label(rows[i]), rows[i], set, s, !a.predictions.empty());
        },
        hooks);
    progress.finish();
}

double pct(int part, int whole) { return 100.0 * part / whole; }

void print_json(const Tally& t, const ModelSpec& s, double rate) {
    const int K = s.num_classes;
    std::string js = "{\"images\": " + std::to_string(t.evaluated) + ", \"failed\": " + std::to_string(t.failed) +
                     ", \"top1\": " + float_str(float(pct(t.top1, t.evaluated))) +
                     ", \"top5\": " + float_str(float(pct(t.top5, t.evaluated))) +
                     ", \"images_per_second\": " + float_str(float(rate)) + ", \"per_class\": [";
    for (int k = 0; k < K; ++k)
        js += std::string(k ? ", " : "") + "{\"label\": \"" + json_escape(s.labels[k]) + "\", \"images\": " +
              std::to_string(t.total[k]) + ", \"top1\": " +
              (t.total[k] ? float_str(float(pct(t.ok[k], t.total[k]))) : std::string("null")) + "}";
    js += "], \"confusion\": [";
    for (int r = 0; r < K; ++r) {
        js += r ? ", [" : "[";
        for (int p = 0; p < K; ++p) js += (p ? ", " : "") + std::to_string(t.cm[r][p]);
        js += "]";
    }
    std::cout << js << "]}\n";
}

void print_text(const Tally& t, const ModelSpec& s, double rate, double secs, Classifier& clf) {
    const int K = s.num_classes;
    std::printf("images:    %d evaluated%s\n", t.evaluated,
                t.failed ? (", " + std::to_string(t.failed) + " failed").c_str() : "");
    std::printf("top-1:     %.2f%%\n", pct(t.top1, t.evaluated));
    std::printf("top-5:     %.2f%%\n", pct(t.top5, t.evaluated));
    std::printf("speed:     %.1f images/s (%.1f s, %d threads, %s)\n", rate, secs, clf.threads(),
                precision_name(clf.precision()));
    std::printf("\nper class:\n");
    for (int k = 0; k < K; ++k)
        if (t.total[k])
            std::printf("  %-20s %6.2f%%  (%d images)\n", s.labels[k].c_str(), pct(t.ok[k], t.total[k]), t.total[k]);
    if (K > 30) return;
    std::printf("\nconfusion (rows = true, columns = predicted):\n%22s", "");
    for (int p = 0; p < K; ++p) std::printf(" %5d", p);
    std::printf("\n");
    for (int r = 0; r < K; ++r) {
        std::printf("  %2d %-17s", r, s.labels[r].substr(0, 17).c_str());
        for (int p = 0; p < K; ++p) std::printf(" %5d", t.cm[r][p]);
        std::printf("\n");
    }
}

void write_outputs(const Tally& t, const ModelSpec& s, const EvalArgs& a) {
    if (!a.confusion.empty()) {
        cv::Mat rgb;
        cv::cvtColor(render_confusion(t.cm, s.labels), rgb, cv::COLOR_BGR2RGB);
        write_image_atomic(a.confusion, rgb);
        std::cerr << "vitlens: confusion matrix -> " << a.confusion << "\n";
    }
    if (!a.predictions.empty()) {
        write_text_atomic(a.predictions, t.rows);
        std::cerr << "vitlens: " << t.evaluated << " predictions -> " << a.predictions << "\n";
    }
}

}  // namespace

int cmd_eval(int argc, char** argv) {
    ModelOptions mo;
    EvalArgs a;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    mo.add_to(d);
    add_eval_options(d, a);
    po::variables_map vm;
    if (!parse_args(argc, argv, kEvalUsage, d, nullptr, vm)) return kOk;
    if (a.idx.empty() == a.folder.empty()) throw UsageError("give exactly one of --idx IMAGES LABELS or --folder ROOT");
    if (!a.idx.empty() && a.idx.size() != 2) throw UsageError("--idx takes two files: IMAGES LABELS");
    if (!a.confusion.empty()) check_replaceable(a.confusion, a.overwrite);
    if (!a.predictions.empty()) check_replaceable(a.predictions, a.overwrite);

    FaithfulnessOptions fo;
    if (!a.faithfulness.empty()) {
        if (!a.confusion.empty()) throw UsageError("--confusion goes with accuracy, not --faithfulness");
        fo.methods = parse_faithfulness_methods(a.faithfulness);
        fo.steps = a.faith_steps;
        fo.batch = a.batch;
        fo.format = a.format;
        fo.predictions = a.predictions;
    } else if (a.faith_steps != 0) {
        throw UsageError("--faith-steps goes with --faithfulness");
    }
    const ClassifierOptions copt = mo.classifier_options();
    const bool attribution = std::count(fo.methods.begin(), fo.methods.end(), "attribution") > 0;
    if (const std::string why = attribution ? precision_problem(MapMethod::Attribution, copt.precision) : "";
        !why.empty())
        throw UsageError("--faithfulness: " + why + "; drop --precision " + precision_name(copt.precision));
    Classifier clf(mo.resolve(), copt);
    const ModelSpec& s = clf.spec();
    if (const std::string why = head_problem(s); !why.empty())
        throw ModelError(why + ": there is no accuracy to measure; `vitlens embed` gives its features");
    const EvalSet set(a.idx, a.folder, a.limit, s);
    if (!fo.methods.empty()) return run_faithfulness(clf, set, fo) ? kInputError : kOk;
    Tally tally(s.num_classes);
    const double t0 = now_seconds();
    evaluate(clf, set, a, tally);
    const double secs = now_seconds() - t0;
    if (tally.evaluated == 0) throw InputError("every image failed to load");
    const double rate = tally.evaluated / secs;
    if (a.format == "json") print_json(tally, s, rate);
    else print_text(tally, s, rate, secs, clf);
    write_outputs(tally, s, a);
    return tally.failed ? kInputError : kOk;
}

}  // namespace vitlens::app
