"""Which of the package's source files travel on their own, named once for the build.

`SCHEDULER` is the scheduler a project's own `celery beat` loads
(`beat_panel.plugin:PanelScheduler`) with the schedule model it reads the file with:
celery and the standard library are all it imports. It is the whole of the
`beat_panel_scheduler` wheel, and the bundle keeps it as plain source in its
`beat_panel/` folder, the one a beat started by the installed panel gets on its
PYTHONPATH (through `paths.plugin_import_dir`).

`HELPERS` are the files the bundle's panel runs as scripts, outside its own frozen
Python: the app's introspection and the health probe (in the project's Python), and what
`start_celery_beat.sh` runs with any `python3` (the link folder, which beats are the
project's).
"""

from __future__ import annotations

SCHEDULER: tuple[str, ...] = (
    "__init__.py",
    "py.typed",
    "errors.py",
    "plugin.py",
    "schedule/__init__.py",
    "schedule/model.py",
    "schedule/validation.py",
    "schedule/fileformat.py",
    "schedule/timing.py",
    "schedule/clocked.py",
    "schedule/beat_report.py",
    "files/__init__.py",
    "files/atomic.py",
    "files/owners.py",
    "files/regular.py",
)

HELPERS: tuple[str, ...] = (
    "paths.py",
    "process/identity.py",
    "process/argv.py",
    "celeryapp/introspect.py",
    "health/probe.py",
)

# Qt's plugins the panel loads: the X11 and offscreen platforms, GL integration for xcb,
# SVG icons and images, input methods, and the desktop portal theme. Everything else
# PyInstaller's Qt hooks collect (Wayland, EGLFS, VNC, the GTK theme and its GTK
# libraries, TLS, network information, image formats the panel never reads) is left out.
QT_PLUGINS: tuple[str, ...] = (
    "platforms/libqxcb.so",
    "platforms/libqoffscreen.so",
    "platforms/libqminimal.so",
    "xcbglintegrations/libqxcb-glx-integration.so",
    "xcbglintegrations/libqxcb-egl-integration.so",
    "iconengines/libqsvgicon.so",
    "imageformats/libqsvg.so",
    "imageformats/libqico.so",
    "platforminputcontexts/libcomposeplatforminputcontextplugin.so",
    "platforminputcontexts/libibusplatforminputcontextplugin.so",
    "platformthemes/libqxdgdesktopportal.so",
)

# The Qt modules the panel imports (only beat_panel/ui does); PyInstaller is told to
# leave out every other PySide6 module.
QT_MODULES: tuple[str, ...] = ("QtCore", "QtGui", "QtWidgets", "QtNetwork")
