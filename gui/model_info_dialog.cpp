#include "model_info_dialog.h"

#include <QDialogButtonBox>
#include <QPlainTextEdit>
#include <QVBoxLayout>

namespace vitlens::gui {

ModelInfoDialog::ModelInfoDialog(const QString& text, QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Model info"));
    auto* v = new QVBoxLayout(this);
    auto* t = new QPlainTextEdit(text);
    t->setReadOnly(true);
    t->setMinimumSize(560, 320);
    v->addWidget(t);
    auto* bb = new QDialogButtonBox(QDialogButtonBox::Close);
    connect(bb, &QDialogButtonBox::rejected, this, &QDialog::reject);
    v->addWidget(bb);
}

}  // namespace vitlens::gui
