// vitlens eval: accuracy on a labelled set.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <opencv2/imgproc.hpp>

#include "common.h"
#include "vitlens/datasets.h"
#include "vitlens/errors.h"

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

}  // namespace

int cmd_eval(int argc, char** argv) {
    ModelOptions mo;
    std::vector<std::string> idx;
    std::string folder, format = "text", confusion, predictions;
    int limit = 0, batch = 64;
    bool overwrite = false;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    mo.add_to(d);
    d.add_options()
        ("idx", po::value(&idx)->multitoken()->value_name("IMAGES LABELS"),
         "IDX image and label files (MNIST format, .gz or raw)")
        ("folder", po::value(&folder)->value_name("ROOT")->notifier([](const std::string& f) {
             if (f.empty()) throw UsageError("--folder needs a value, got an empty string");
         }),
         "ImageFolder: ROOT/<label>/<image>, folder names matched to the model's labels (case-insensitive)")
        ;
    OptionTable(d)
        .choice("format,f", &format, "text", {"text", "json"}, "F", "text | json")
        .text("confusion", &confusion, "FILE.png", "also render the confusion matrix as a PNG")
        .text("predictions", &predictions, "FILE.csv",
              "also write one row per image: index,image,label,predicted,probability (compare runs, e.g. f32 vs bf16)")
        .flag("overwrite", &overwrite, "replace an existing --confusion or --predictions file")
        .integer("limit", &limit, 0, 0, 1'000'000'000, "N", "evaluate only the first N images (0 = all)")
        .integer("batch,b", &batch, 64, 1, 4096, "N", "images per encoder call");
    po::variables_map vm;
    if (!parse_args(argc, argv,
                    "Usage: vitlens eval [--model DIR] (--idx IMAGES LABELS | --folder ROOT) [options]\n\n"
                    "Accuracy through the full C++ pipeline: top-1, top-5, per-class accuracy, confusion matrix, images/s.\n"
                    "Progress goes to stderr (a bar on a terminal, a line every 5 s otherwise).",
                    d, nullptr, vm))
        return kOk;
    if (idx.empty() == folder.empty()) throw UsageError("give exactly one of --idx IMAGES LABELS or --folder ROOT");
    if (!idx.empty() && idx.size() != 2) throw UsageError("--idx takes two files: IMAGES LABELS");
    if (!confusion.empty()) check_can_write(confusion, overwrite);
    if (!predictions.empty()) check_can_write(predictions, overwrite);

    Classifier clf(mo.resolve(), mo.classifier_options());
    const ModelSpec& s = clf.spec();
    const int K = s.num_classes;

    IdxSet set;
    std::vector<FolderItem> items;
    size_t n;
    if (!idx.empty()) {
        set = read_idx(idx[0], idx[1]);
        n = set.count;
        for (int i = 0; i < set.count; ++i)
            if (set.labels[i] >= K)
                throw InputError(idx[1] + ": label " + std::to_string(set.labels[i]) + " at index " + std::to_string(i) +
                                 " is outside the model's " + std::to_string(K) + " classes");
    } else {
        items = scan_image_folder(folder, s.labels);
        n = items.size();
    }
    if (limit > 0) n = std::min(n, size_t(limit));
    if (n == 0) throw InputError("no images to evaluate");

    std::vector<std::vector<int>> cm(K, std::vector<int>(K, 0));
    std::vector<int> per_total(K, 0), per_ok(K, 0);
    int top1 = 0, top5 = 0, evaluated = 0, failed = 0;
    const int64_t per = int64_t(s.patches()) * s.patch_dim();
    Tensor buf({int64_t(batch), per});
    std::vector<int> truth;
    std::vector<size_t> which;  // dataset index of each row in the batch
    std::string rows = "index,image,label,predicted,probability\n";
    Progress progress("eval", n);
    double t0 = now_seconds();
    auto flush = [&] {
        if (truth.empty()) return;
        auto preds = clf.classify_patches(buf.data(), static_cast<int>(truth.size()), std::min(5, K));
        for (size_t i = 0; i < truth.size(); ++i) {
            int y = truth[i], p = preds[i].top[0].index;
            cm[y][p]++;
            if (!predictions.empty()) {
                const size_t j = which[i];
                rows += std::to_string(j) + "," + csv_field(idx.empty() ? items[j].path : "idx:" + std::to_string(j)) +
                        "," + csv_field(s.labels[y]) + "," + csv_field(s.labels[p]) + "," + float_str(preds[i].top[0].prob) +
                        "\n";
            }
            per_total[y]++;
            if (p == y) { ++top1; ++per_ok[y]; }
            for (const TopEntry& t : preds[i].top)
                if (t.index == y) { ++top5; break; }
        }
        evaluated += static_cast<int>(truth.size());
        truth.clear();
        which.clear();
        progress.update(evaluated + failed);
    };
    for (size_t i = 0; i < n; ++i) {
        try {
            cv::Mat rgb = idx.empty() ? decode_image(items[i].path) : set.rgb(static_cast<int>(i));
            Tensor t = prepare_image(rgb, s, nullptr);
            std::copy(t.data(), t.data() + per, buf.data() + truth.size() * per);
            truth.push_back(idx.empty() ? items[i].label : set.labels[i]);
            which.push_back(i);
        } catch (const InputError& e) {
            std::cerr << "\nvitlens: " << e.what() << "\n";
            ++failed;
            continue;
        }
        if (static_cast<int>(truth.size()) == batch) flush();
    }
    flush();
    progress.finish();
    double secs = now_seconds() - t0;
    if (evaluated == 0) throw InputError("every image failed to load");
    double acc1 = 100.0 * top1 / evaluated, acc5 = 100.0 * top5 / evaluated, rate = evaluated / secs;

    if (format == "json") {
        std::string js = "{\"images\": " + std::to_string(evaluated) + ", \"failed\": " + std::to_string(failed) +
                         ", \"top1\": " + float_str(float(acc1)) + ", \"top5\": " + float_str(float(acc5)) +
                         ", \"images_per_second\": " + float_str(float(rate)) + ", \"per_class\": [";
        for (int k = 0; k < K; ++k) {
            js += std::string(k ? ", " : "") + "{\"label\": \"" + json_escape(s.labels[k]) + "\", \"images\": " +
                  std::to_string(per_total[k]) + ", \"top1\": " +
                  (per_total[k] ? float_str(float(100.0 * per_ok[k] / per_total[k])) : std::string("null")) + "}";
        }
        js += "], \"confusion\": [";
        for (int t = 0; t < K; ++t) {
            js += t ? ", [" : "[";
            for (int p = 0; p < K; ++p) js += (p ? ", " : "") + std::to_string(cm[t][p]);
            js += "]";
        }
        std::cout << js << "]}\n";
    } else {
        std::printf("images:    %d evaluated%s\n", evaluated, failed ? (", " + std::to_string(failed) + " failed").c_str() : "");
        std::printf("top-1:     %.2f%%\n", acc1);
        std::printf("top-5:     %.2f%%\n", acc5);
        std::printf("speed:     %.1f images/s (%.1f s, %d threads, %s)\n", rate, secs, clf.threads(),
                    precision_name(clf.encoder().precision()));
        std::printf("\nper class:\n");
        for (int k = 0; k < K; ++k)
            if (per_total[k])
                std::printf("  %-20s %6.2f%%  (%d images)\n", s.labels[k].c_str(), 100.0 * per_ok[k] / per_total[k], per_total[k]);
        if (K <= 30) {
            std::printf("\nconfusion (rows = true, columns = predicted):\n%22s", "");
            for (int p = 0; p < K; ++p) std::printf(" %5d", p);
            std::printf("\n");
            for (int t = 0; t < K; ++t) {
                std::printf("  %2d %-17s", t, s.labels[t].substr(0, 17).c_str());
                for (int p = 0; p < K; ++p) std::printf(" %5d", cm[t][p]);
                std::printf("\n");
            }
        }
    }
    if (!confusion.empty()) {
        cv::Mat img = render_confusion(cm, s.labels);
        cv::Mat rgb;
        cv::cvtColor(img, rgb, cv::COLOR_BGR2RGB);
        write_image_atomic(confusion, rgb);
        std::cerr << "vitlens: confusion matrix -> " << confusion << "\n";
    }
    if (!predictions.empty()) {
        write_text_atomic(predictions, rows);
        std::cerr << "vitlens: " << evaluated << " predictions -> " << predictions << "\n";
    }
    return failed ? kInputError : kOk;
}

}  // namespace vitlens::app
