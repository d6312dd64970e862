// vitlens info: what a checkpoint is.
#include <cstdio>
#include <iostream>

#include "common.h"
#include "vitlens/checkpoint.h"

namespace vitlens::app {

int cmd_info(int argc, char** argv) {
    ModelOptions mo;
    bool labels = false;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    mo.add_to(d);
    OptionTable(d).flag("labels", &labels, "list every label");
    po::variables_map vm;
    if (!parse_args(argc, argv, "Usage: vitlens info [--model DIR] [--labels]\n\nDescribes a checkpoint and loads it once to time the load.", d, nullptr, vm))
        return kOk;
    std::string where;
    std::string dir = mo.resolve(&where);
    Classifier clf(dir, mo.classifier_options());
    const ModelSpec& s = clf.spec();
    std::printf("model:          %s (%s)\n", dir.c_str(), where.c_str());
    std::printf("architecture:   %s (%s naming)\n", s.architecture.c_str(), naming_name(s.naming));
    std::printf("input:          %dx%d RGB, patch %d -> %dx%d grid, %d tokens (%d prefix)\n", s.image_w, s.image_h,
                s.patch, s.grid_w(), s.grid_h(), s.tokens(), s.n_prefix);
    std::printf("encoder:        %d layers, width %d, %d heads of %d, MLP %d, %s, LayerNorm eps %g%s\n", s.layers,
                s.hidden, s.heads, s.head_dim(), s.mlp, s.hidden_act.c_str(), s.eps, s.qkv_bias ? "" : ", no qkv bias");
    std::printf("head:           %d classes, pool %s%s\n", s.num_classes, s.global_pool.c_str(),
                s.distilled_heads ? ", class + distillation heads averaged" : "");
    std::printf("parameters:     %lld (%.2f M)\n", static_cast<long long>(s.parameters()), s.parameters() / 1e6);
    std::printf("compute:        %.3f GFLOP per image\n", s.gflops());
    std::printf("preprocessing:  %s\n", s.pre.describe().c_str());
    std::printf("precision:      %s, %d threads\n", precision_name(clf.encoder().precision()), clf.threads());
    std::printf("load time:      %.3f s\n", clf.load_seconds());
    std::printf("labels:         %d", s.num_classes);
    int show = labels ? s.num_classes : std::min(s.num_classes, 10);
    std::printf(" (");
    for (int i = 0; i < show; ++i) std::printf("%s%s", i ? ", " : "", s.labels[i].c_str());
    std::printf("%s)\n", show < s.num_classes ? ", ..." : "");
    return kOk;
}

}  // namespace vitlens::app
