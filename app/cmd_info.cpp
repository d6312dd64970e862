// vitlens info: what a checkpoint is.
#include <cstdio>
#include <iostream>

#include "cli_args.h"
#include "commands.h"
#include "exit_codes.h"
#include "model_options.h"
#include "vitlens/model/checkpoint.h"
#include "vitlens/model/model_info.h"

namespace vitlens::app {

int cmd_info(int argc, char** argv) {
    ModelOptions mo;
    bool labels = false;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    mo.add_to(d);
    OptionTable(d).flag("labels", &labels, "list every label");
    po::variables_map vm;
    if (!parse_args(argc, argv,
                    "Usage: vitlens info [--model DIR] [--labels]\n\nDescribes a checkpoint and loads it once to time the load.",
                    d, nullptr, vm))
        return kOk;
    std::string where;
    const std::string dir = mo.resolve(&where);
    Classifier clf(dir, mo.classifier_options());
    const ModelSpec& s = clf.spec();
    std::printf("model:          %s (%s)\n", dir.c_str(), where.c_str());
    for (auto [key, value] : describe(s)) {
        if (key == "head" && !s.has_head()) value += "; `vitlens embed` gives its features";  // the CLI's remedies
        if (key == "memory") value += "; --input-size changes it";
        std::printf("%-15s %s\n", (key + ":").c_str(), value.c_str());
    }
    std::printf("precision:      %s, %d threads\n", precision_name(clf.precision()), clf.threads());
    std::printf("load time:      %.3f s\n", clf.load_seconds());
    std::printf("labels:         %d (%s)\n", s.num_classes, label_list(s, labels ? 0 : 10).c_str());
    return kOk;
}

}  // namespace vitlens::app
