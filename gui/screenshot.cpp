#include "screenshot.h"

#include <QApplication>
#include <QIODevice>
#include <QPixmap>
#include <QSaveFile>
#include <QTimer>
#include <QWidget>
#include <cstdio>

namespace vitlens::gui {

bool save_png(const QPixmap& pixmap, const QString& path) {
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly)) return false;
    if (!pixmap.save(&f, "PNG")) {
        f.cancelWriting();
        return false;
    }
    return f.commit();
}

ScreenshotMode::ScreenshotMode(QWidget* window) : QObject(window), window_(window) {}

void ScreenshotMode::start(const QString& path) { path_ = path; }

void ScreenshotMode::mapShown() {
    map_ = true;
    maybeFinish();
}

void ScreenshotMode::galleryShown() {
    gallery_ = true;
    maybeFinish();
}

void ScreenshotMode::imageFailed(const QString& message) {
    if (!armed()) return;
    std::fprintf(stderr, "vitlens-gui: %s\n", qPrintable(message));
    QApplication::exit(1);
}

void ScreenshotMode::maybeFinish() {
    if (path_.isEmpty() || !map_ || !gallery_) return;
    QString path = path_;
    path_.clear();
    // Let the layout and paint settle, then grab the whole window.
    QWidget* w = window_;
    QTimer::singleShot(300, w, [w, path] {
        bool ok = save_png(w->grab(), path);
        if (!ok) std::fprintf(stderr, "vitlens-gui: cannot write screenshot %s\n", qPrintable(path));
        else std::fprintf(stderr, "vitlens-gui: screenshot -> %s\n", qPrintable(path));
        QApplication::exit(ok ? 0 : 1);
    });
}

}  // namespace vitlens::gui
