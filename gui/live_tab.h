// The Live tab: the source (camera, video file, URL or pipeline), "Record
// annotated video...", Start / Stop and the live top-k.
#pragma once

#include <QString>
#include <QStringList>
#include <QWidget>

class QCheckBox;
class QComboBox;
class QLabel;
class QPushButton;

namespace vitlens::gui {

class LiveTab : public QWidget {
    Q_OBJECT
public:
    explicit LiveTab(QWidget* parent = nullptr);

    // Where the video file dialog starts.
    void setStartDir(const QString& dir) { start_dir_ = dir; }
    QString source() const;
    bool recording() const;    // "Record annotated video..." is checked
    void setRunning(bool on);  // the button offers Stop (on) or Start
    void showTop(const QString& top);

public slots:
    // The cameras found (none: "0"), keeping the source typed if there is one.
    void setCameras(const QStringList& cameras);

signals:
    void camerasRequested();   // "Find cameras"
    void startStopClicked();

private:
    QComboBox* source_ = nullptr;
    QPushButton* live_button_ = nullptr;
    QCheckBox* record_ = nullptr;
    QLabel* live_top_ = nullptr;
    QString start_dir_;
};

}  // namespace vitlens::gui
