#include "eval_faithfulness.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "console.h"
#include "text_out.h"
#include "vitlens/maps/faithfulness.h"
#include "vitlens/images/output_file.h"
#include "vitlens/maps/map_spec.h"
#include "vitlens/maps/map_view.h"

namespace vitlens::app {

std::vector<std::string> parse_faithfulness_methods(const std::string& list) {
    static const std::vector<std::string> choices = {"rollout", "attention", "attribution", "random"};
    std::vector<std::string> out;
    std::stringstream ss(list);
    std::string m;
    while (std::getline(ss, m, ',')) {
        if (std::find(choices.begin(), choices.end(), m) == choices.end())
            throw ArgumentError("--faithfulness: '" + m + "' is not a method (rollout, attention, attribution, random)");
        if (std::find(out.begin(), out.end(), m) != out.end())
            throw ArgumentError("--faithfulness: '" + m + "' is listed twice");
        out.push_back(m);
    }
    if (out.empty()) throw ArgumentError("--faithfulness needs at least one method, got '" + list + "'");
    return out;
}

namespace {

struct MethodTotals {
    double deletion = 0, insertion = 0, seconds = 0;
    int images = 0;
};

// One image's clean pass: its class, attention and, when a method needs it,
// d logit / d attention of that class.
struct CleanPass {
    int cls = -1;
    Explained e;
};

CleanPass clean_pass(Classifier& clf, const Tensor& patches, const ExplainRequest& r) {
    CleanPass c;
    clf.explain_patches(patches.data(), r, c.e);
    c.cls = r.need == MapNeed::Gradients ? c.e.explained_class : c.e.prediction.top[0].index;
    return c;
}

// The clean pass's share of a method's time: none for random; the forward
// alone for rollout and attention, even when the pass also ran a backward
// for attribution, which gets the whole pass.
double clean_seconds(const MapSpec& method, const CleanPass& c, double clean_s, const ExplainRequest& r) {
    if (map_need(method) == MapNeed::None) return 0.0;
    if (needs_gradients(method) || r.need != MapNeed::Gradients) return clean_s;
    return c.e.forward_ms / 1000.0;
}

std::vector<int> ranking_for(MapSpec method, const CleanPass& c, const ModelSpec& s, size_t image) {
    method.seed = image;  // random: one order per image, the same every run
    return rank_patches(compute_view(c.e, s, method).heat);
}

void print_table(const std::vector<std::string>& methods, const std::vector<MethodTotals>& t, int steps,
                 const std::string& format) {
    if (format == "json") {
        std::string js = "{\"steps\": " + std::to_string(steps) + ", \"faithfulness\": [";
        for (size_t i = 0; i < methods.size(); ++i) {
            const double n = std::max(1, t[i].images);
            js += std::string(i ? ", " : "") + "{\"method\": \"" + methods[i] + "\", \"deletion_auc\": " +
                  float_str(float(t[i].deletion / n)) + ", \"insertion_auc\": " + float_str(float(t[i].insertion / n)) +
                  ", \"images\": " + std::to_string(t[i].images) + ", \"seconds\": " + float_str(float(t[i].seconds)) +
                  "}";
        }
        std::cout << js << "]}\n";
        return;
    }
    std::printf("%-12s %14s %15s %8s %9s\n", "method", "deletion AUC", "insertion AUC", "images", "seconds");
    for (size_t i = 0; i < methods.size(); ++i) {
        const double n = std::max(1, t[i].images);
        std::printf("%-12s %14.4f %15.4f %8d %9.1f\n", methods[i].c_str(), t[i].deletion / n, t[i].insertion / n,
                    t[i].images, t[i].seconds);
    }
    std::printf("(%d steps per curve; deletion: lower is more faithful, insertion: higher is)\n", steps);
}

}  // namespace

int run_faithfulness(Classifier& clf, const EvalSet& set, const FaithfulnessOptions& o) {
    const ModelSpec& s = clf.spec();
    const int N = s.patches(), steps = o.steps > 0 ? o.steps : std::min(N, 50);
    if (steps > N)
        throw ArgumentError("--faith-steps " + std::to_string(steps) + " is more than the model's " +
                            std::to_string(N) + " patches");
    std::vector<MapSpec> methods;
    for (const std::string& name : o.methods) methods.push_back(MapSpec{.method = parse_map_method(name)});
    const ExplainRequest request = explain_request(methods, 1);
    std::vector<MethodTotals> totals(o.methods.size());
    std::string rows = "index,image,label,predicted,probability,method,deletion_auc,insertion_auc\n";
    Progress progress("faithfulness", set.size());
    int failed = 0;
    for (size_t i = 0; i < set.size(); ++i) {
        Tensor patches;
        try {
            patches = prepare_image(set.image(i), s, nullptr);
        } catch (const InputError& e) {
            std::cerr << "\nvitlens: " << e.what() << "\n";
            ++failed;
            continue;
        }
        double t0 = now_seconds();
        const CleanPass c = clean_pass(clf, patches, request);
        const double clean_s = now_seconds() - t0;
        for (size_t m = 0; m < o.methods.size(); ++m) {
            t0 = now_seconds();
            const std::vector<int> order = ranking_for(methods[m], c, s, i);
            const FaithfulnessCurves f = deletion_insertion(clf.encoder(), patches.data(), order, c.cls, steps, o.batch);
            MethodTotals& t = totals[m];
            t.seconds += now_seconds() - t0 + clean_seconds(methods[m], c, clean_s, request);
            t.deletion += f.deletion_auc;
            t.insertion += f.insertion_auc;
            ++t.images;
            if (!o.predictions.empty())
                rows += std::to_string(i) + "," + csv_field(set.name(i)) + "," + csv_field(s.labels[set.label(i)]) +
                        "," + csv_field(s.labels[c.cls]) + "," + float_str(c.e.prediction.top[0].prob) + "," +
                        o.methods[m] + "," + float_str(float(f.deletion_auc)) + "," + float_str(float(f.insertion_auc)) +
                        "\n";
        }
        progress.update(i + 1);
    }
    progress.finish();
    if (totals.front().images == 0) throw InputError("every image failed to load");
    print_table(o.methods, totals, steps, o.format);
    if (!o.predictions.empty()) {
        write_text_atomic(o.predictions, rows);
        std::cerr << "vitlens: " << totals.front().images * o.methods.size() << " rows -> " << o.predictions << "\n";
    }
    return failed;
}

}  // namespace vitlens::app
