"""Render the panel's SVG icon as the PNG sizes of the hicolor theme, for the package.

    python packaging/render_icons.py SVG OUT_DIR NAME

writes OUT_DIR/<size>x<size>/apps/NAME.png for each size in SIZES, with Qt's own SVG
renderer (offscreen: no display needed). The same Qt renders the same bytes, so two
builds of one commit ship the same icons.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SIZES = (16, 24, 32, 48, 64, 128, 256)


def render(svg: Path, out_dir: Path, name: str) -> list[Path]:
    """Write one PNG per size under out_dir; return their paths."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QGuiApplication, QImageReader

    app = QGuiApplication.instance() or QGuiApplication(["render_icons"])
    written = []
    for size in SIZES:
        reader = QImageReader(str(svg))
        reader.setScaledSize(QSize(size, size))
        image = reader.read()
        if image.isNull():
            raise SystemExit(f"cannot render {svg}: {reader.errorString()}")
        target = out_dir / f"{size}x{size}" / "apps" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(target), "PNG"):
            raise SystemExit(f"cannot write {target}")
        written.append(target)
    del app
    return written


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: render_icons.py SVG OUT_DIR NAME")
    for path in render(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]):
        print(path)
