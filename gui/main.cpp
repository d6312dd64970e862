// vitlens-gui: classify images, explore attention, go live on a camera.
//
//   vitlens-gui [--model DIR] [IMAGE | FOLDER]
//   vitlens-gui --screenshot FILE.png [--model DIR] [--method M] [--query ROW,COL] IMAGE
#include <algorithm>
#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <cstdio>

#include "vitlens/frontend/default_model.h"
#include "main_window.h"
#include "vitlens/maps/map_spec.h"
#include "vitlens/encoder/classifier.h"

namespace {

// --query ROW,COL; false (with a message) when it is not two integers >= 0.
bool parse_query(const QString& text, std::optional<std::pair<int, int>>& q) {
    QStringList rc = text.split(',');
    bool ok_r = false, ok_c = false;
    int r = rc.size() == 2 ? rc[0].trimmed().toInt(&ok_r) : 0, c = rc.size() == 2 ? rc[1].trimmed().toInt(&ok_c) : 0;
    if (!ok_r || !ok_c || r < 0 || c < 0) {
        std::fprintf(stderr, "vitlens-gui: --query must be ROW,COL (two integers >= 0), got '%s'\n", qPrintable(text));
        return false;
    }
    q = std::make_pair(r, c);
    return true;
}

bool valid_method(const QString& m) {
    const auto& names = vitlens::map_method_names();  // the window's menu
    if (std::find(names.begin(), names.end(), m.toStdString()) != names.end()) return true;
    std::fprintf(stderr, "vitlens-gui: --method: map method must be rollout, attention, query or attribution, got '%s'\n",
                 m.toUtf8().constData());
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName("vitlens");
    QApplication::setApplicationName("vitlens-gui");
    QApplication::setApplicationVersion(VITLENS_VERSION);

    QCommandLineParser p;
    p.setApplicationDescription(
        "vitlens-gui: Vision Transformer image classification with attention heatmaps.\n"
        "Open images or folders, click a patch to see where it looks, browse every head, go live on a camera.");
    p.addHelpOption();
    p.addVersionOption();
    QCommandLineOption model({"m", "model"}, "Checkpoint directory or Hugging Face id ORG/NAME[@REV] in the local hub cache (default: the bundled model or $VITLENS_MODEL).", "DIR|ID");
    QCommandLineOption shot("screenshot", "Classify IMAGE, draw the overlay, save the window to FILE and exit.", "FILE");
    QCommandLineOption method("method", "Map for the screenshot: rollout, attention, query or attribution (of the top-1 class).", "M", "rollout");
    QCommandLineOption query("query", "Patch for --method query (implies it).", "ROW,COL");
    p.addOptions({model, shot, method, query});
    p.addPositionalArgument("input", "An image or a folder to open.", "[IMAGE | FOLDER]");
    p.process(app);

    QString dir = p.value(model);
    if (dir.isEmpty()) dir = QString::fromStdString(vitlens::frontend::default_model());
    const QStringList args = p.positionalArguments();
    if (p.isSet(shot) && args.isEmpty()) {
        std::fprintf(stderr, "vitlens-gui: --screenshot needs an IMAGE\n");
        return 1;
    }
    const QString m = p.value(method);
    if (!valid_method(m)) return 1;
    std::optional<std::pair<int, int>> q;
    if (p.isSet(query) && !parse_query(p.value(query), q)) return 1;

    vitlens::gui::MainWindow w;
    if (p.isSet(shot)) {
        if (dir.isEmpty()) {
            std::fprintf(stderr, "vitlens-gui: no model: pass --model DIR\n");
            return 1;
        }
        w.setScreenshot(p.value(shot), m, q);
        QObject::connect(&w, &vitlens::gui::MainWindow::errorShown, [&](const QString& msg) {
            std::fprintf(stderr, "vitlens-gui: %s\n", qPrintable(msg));
            QApplication::exit(1);
        });
    }
    w.show();
    if (!dir.isEmpty()) w.openModel(dir);
    if (!args.isEmpty()) {
        if (QFileInfo(args.first()).isDir()) w.openFolder(args.first());
        else w.openImage(args.first());
    }
    return app.exec();
}
