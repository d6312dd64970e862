#include "hub_dialog.h"

#include <QInputDialog>
#include <QLineEdit>
#include <QSettings>
#include <cstdlib>
#include <string>

#include "vitlens/hub/hub_download.h"

namespace vitlens::gui {

HubDialog::HubDialog(QWidget* parent) : QProgressDialog(parent) {
    setObjectName("pullDialog");
    setWindowTitle(tr("Open from the Hub"));
    setRange(0, 1000);
    setMinimumDuration(0);
    setAutoClose(false);
    setAutoReset(false);
}

QString HubDialog::askId(QWidget* parent) {
    bool ok = false;
    const QString id = QInputDialog::getText(
        parent, tr("Open from the Hugging Face Hub"),
        tr("Model id, ORG/NAME[@REVISION] (e.g. facebook/dinov2-small). It is downloaded into the\n"
           "Hugging Face cache (HF_HUB_CACHE), shared with Python; HF_TOKEN opens gated models."),
        QLineEdit::Normal, QSettings().value("hubModel").toString(), &ok);
    return ok ? id.trimmed() : QString();
}

void HubDialog::startDownload(const QString& id) {
    // the endpoint as typed in HF_ENDPOINT, credentials hidden; the worker reports a bad setting
    const char* endpoint = std::getenv("HF_ENDPOINT");
    const std::string shown = redact(endpoint && *endpoint ? endpoint : "https://huggingface.co");
    setLabelText(tr("Asking %1 for %2 ...").arg(QString::fromStdString(shown), id));
    setValue(0);
    show();
}

void HubDialog::showProgress(const QString& file, qint64 done, qint64 total, int index, int count) {
    setLabelText(tr("Downloading %1 (file %2 of %3): %4 of %5 MB")
                     .arg(file).arg(index).arg(count)
                     .arg(done / 1e6, 0, 'f', 1).arg(total / 1e6, 0, 'f', 1));
    setValue(total > 0 ? int(1000.0 * double(done) / double(total)) : 0);
}

}  // namespace vitlens::gui
