// Model > Model Info: the loaded model's description, read-only, with Close.
#pragma once

#include <QDialog>
#include <QString>

namespace vitlens::gui {

class ModelInfoDialog : public QDialog {
    Q_OBJECT
public:
    ModelInfoDialog(const QString& text, QWidget* parent);
};

}  // namespace vitlens::gui
