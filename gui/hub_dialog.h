// Model > Open from the Hub: the question for a model id, and the progress
// dialog of its download (its Cancel button emits canceled()).
#pragma once

#include <QProgressDialog>
#include <QString>

class QWidget;

namespace vitlens::gui {

class HubDialog : public QProgressDialog {
    Q_OBJECT
public:
    explicit HubDialog(QWidget* parent);
    // Asks for ORG/NAME[@REVISION], offering the last one opened; empty when
    // cancelled or left blank.
    static QString askId(QWidget* parent);
    // Shows the dialog at 0 for a new download of `id` (from HF_ENDPOINT, credentials hidden).
    void startDownload(const QString& id);
    void showProgress(const QString& file, qint64 done, qint64 total, int index, int count);
};

}  // namespace vitlens::gui
