// File > Open Recent: the last ten images opened, kept in QSettings
// ("recent"), newest first; choosing one emits chosen(path).
#pragma once

#include <QMenu>
#include <QString>

namespace vitlens::gui {

class RecentMenu : public QMenu {
    Q_OBJECT
public:
    RecentMenu(const QString& title, QWidget* parent);
    // Puts `path` first (once) and rebuilds the menu.
    void add(const QString& path);

signals:
    void chosen(const QString& path);

private:
    void rebuild();  // from the settings; disabled while empty
};

}  // namespace vitlens::gui
