// Pictures of the window: a PNG written whole or not at all, and screenshot
// mode (--screenshot), which saves the window once its first map and head
// gallery are shown, then quits.
#pragma once

#include <QObject>
#include <QString>

class QPixmap;
class QWidget;

namespace vitlens::gui {

// A PNG written whole or not at all (QSaveFile: a temporary, renamed on commit).
bool save_png(const QPixmap& pixmap, const QString& path);

class ScreenshotMode : public QObject {
    Q_OBJECT
public:
    explicit ScreenshotMode(QWidget* window);  // the window it grabs, also its parent
    void start(const QString& path);
    // Screenshot mode is on and the picture not yet taken.
    bool armed() const { return !path_.isEmpty(); }
    void mapShown();
    void galleryShown();
    // The image did not open: says why on stderr and quits with exit code 1 (when armed).
    void imageFailed(const QString& message);

private:
    // With the map and the gallery shown: grabs the window and quits with exit code 0 (1 on failure).
    void maybeFinish();

    QWidget* window_ = nullptr;
    QString path_;
    bool map_ = false, gallery_ = false;
};

}  // namespace vitlens::gui
