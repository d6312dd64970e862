#include "recent_files.h"

#include <QSettings>
#include <QStringList>

namespace vitlens::gui {

RecentMenu::RecentMenu(const QString& title, QWidget* parent) : QMenu(title, parent) { rebuild(); }

void RecentMenu::add(const QString& path) {
    QSettings s;
    QStringList r = s.value("recent").toStringList();
    r.removeAll(path);
    r.prepend(path);
    while (r.size() > 10) r.removeLast();
    s.setValue("recent", r);
    rebuild();
}

void RecentMenu::rebuild() {
    clear();
    for (const QString& p : QSettings().value("recent").toStringList())
        addAction(p, this, [this, p] { emit chosen(p); });
    setEnabled(!isEmpty());
}

}  // namespace vitlens::gui
