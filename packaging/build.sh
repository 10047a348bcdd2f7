#!/usr/bin/env bash
# Build Beat Panel's installer from a checkout, with Debian's own tools (no Docker, no
# download at install or run time):
#   dist/beat-panel_<version>_<arch>.deb
#       the app as a PyInstaller bundle in /usr/lib/beat-panel, /usr/bin/beat-panel, the menu
#       entry and hicolor icons;
#   dist/beat_panel_scheduler-<version>-py3-none-any.whl
#       the scheduler a project's own beat loads, celery its only dependency.
# The version is beat_panel/__init__.py's __version__. File dates are the last commit's
# (SOURCE_DATE_EPOCH), so two builds of one commit hold the same files.
#
# Environment: BEAT_PANEL_VENV (default .venv; created, and given PyInstaller, when it
# lacks it), DEB_COMPRESSION (xz, the default, or zstd, gzip, none) and DEB_LEVEL
# (xz -6: some 30 s on two cores; zstd is faster and larger, and lintian on Debian 12 takes
# it for a malformed archive).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BEAT_PANEL_VENV:-$repo/.venv}"
compression="${DEB_COMPRESSION:-xz}"
case "$compression" in
    zstd) level="${DEB_LEVEL:-9}" ;;
    xz) level="${DEB_LEVEL:-6}" ;;
    gzip) level="${DEB_LEVEL:-9}" ;;
    none) level=0 ;;
    *) echo "DEB_COMPRESSION must be zstd, xz, gzip or none" >&2; exit 2 ;;
esac

prefix=/usr/lib/beat-panel
app_id=io.github.beatpanel.BeatPanel
packaging="$repo/packaging"
work="$repo/build/package"
started=$SECONDS

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Debian's tools this needs: `bash packaging/setup.sh test` installs them.
missing=()
for pair in dpkg-deb:dpkg dpkg-shlibdeps:dpkg-dev desktop-file-validate:desktop-file-utils \
    chrpath:chrpath; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Missing Debian packages: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
fi

if [ ! -x "$venv/bin/pyinstaller" ]; then
    say "Installing the build's Python packages into $venv"
    [ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e "${repo}[package]"
fi
python="$venv/bin/python"

cd "$repo"
version="$("$python" -I -c 'import ast, sys
tree = ast.parse(open("beat_panel/__init__.py").read())
print(next(n.value.value for n in tree.body if isinstance(n, ast.Assign)
           and n.targets[0].id == "__version__"))')"
arch="$(dpkg --print-architecture)"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH="$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)"
fi
export SOURCE_DATE_EPOCH
# The project's own identity, as the last commit records it.
maintainer="${DEB_MAINTAINER:-$(git -C "$repo" log -1 --format='%cn <%ce>' 2>/dev/null || true)}"
maintainer="${maintainer:-Beat Panel maintainers <beat-panel@localhost>}"
deb="dist/beat-panel_${version}_${arch}.deb"
wheel="dist/beat_panel_scheduler-${version}-py3-none-any.whl"

rm -rf "$work"
mkdir -p "$work" dist
rm -f "$deb" "$wheel"

# The files packaging/parts.py names, one a line.
part_files() {
    "$python" -I -c "import sys; sys.path.insert(0, 'packaging'); import parts
print('\n'.join(getattr(parts, '$1')))"
}

say "The scheduler wheel $wheel"
stage="$work/scheduler"
mkdir -p "$stage"
cp "$packaging/scheduler/pyproject.toml" "$packaging/scheduler/README.md" "$stage/"
while read -r name; do
    install -D -m 0644 "beat_panel/$name" "$stage/beat_panel/$name"
done < <(part_files SCHEDULER)
"$python" -m pip wheel -q --no-deps -w "$work/wheel" "$stage"
mv "$work/wheel/$(basename "$wheel")" "$wheel"

say "The bundle (PyInstaller)"
"$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath "$work/pyinstaller" --workpath "$work/pyinstaller-work" \
    "$packaging/beat-panel.spec"

say "The package's files"
root="$work/root"
mkdir -p "$root$prefix"
cp -a "$work/pyinstaller/beat-panel/." "$root$prefix/"
# The bundle's program is also a Python for the panel's helpers, by this name, and the
# celery script beside it is the default [beat] command (packaging/entry.py).
ln -s beat-panel "$root$prefix/python"
cat >"$root$prefix/celery" <<EOF
#!$prefix/python
# The celery of Beat Panel's bundle: the default [beat] command, when none is configured.
import sys

from celery.__main__ import main

sys.exit(main())
EOF
mkdir -p "$root/usr/bin"
ln -s "../lib/beat-panel/beat-panel" "$root/usr/bin/beat-panel"
install -D -m 0644 "resources/$app_id.desktop" "$root/usr/share/applications/$app_id.desktop"
desktop-file-validate "$root/usr/share/applications/$app_id.desktop"
icons="$root/usr/share/icons/hicolor"
install -D -m 0644 resources/icons/beat-panel.svg "$icons/scalable/apps/$app_id.svg"
QT_QPA_PLATFORM=offscreen "$python" "$packaging/render_icons.py" resources/icons/beat-panel.svg \
    "$icons" "$app_id" >/dev/null
doc="$root/usr/share/doc/beat-panel"
install -D -m 0644 "$packaging/debian/copyright" "$doc/copyright"
changelog_date="$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
printf 'beat-panel (%s) unstable; urgency=medium\n\n  * Built from the Beat Panel repository.\n\n -- %s  %s\n' \
    "$version" "$maintainer" "$changelog_date" |
    gzip -9n >"$doc/changelog.gz"
mkdir -p "$root/usr/share/man/man1"
gzip -9n <"$packaging/debian/beat-panel.1" >"$root/usr/share/man/man1/beat-panel.1.gz"
install -D -m 0644 "$packaging/debian/lintian-overrides" \
    "$root/usr/share/lintian/overrides/beat-panel"

# Modes as Debian wants them: 0755 for folders and programs, 0644 for everything else
# (shared libraries too).
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -exec chmod 0644 {} +
chmod 0755 "$root$prefix/beat-panel" "$root$prefix/celery" \
    "$root$prefix/_internal/beat_panel/resources/start_celery_beat.sh"

mapfile -t elves < <(find "$root$prefix" -type f \( -name '*.so*' -o -name beat-panel \) |
    LC_ALL=C sort)
# Python's own extension modules carry the build machine's library folder as their
# RUNPATH (a pyenv's lib/): the bundle's libpython is found without it, so it goes.
for elf in "${elves[@]}"; do
    if chrpath -l "$elf" 2>/dev/null | grep -q 'PATH=/'; then
        chrpath -d "$elf" >/dev/null
    fi
done

say "Depends (dpkg-shlibdeps)"
mkdir -p "$root/DEBIAN"  # so that dpkg-shlibdeps knows the tree's root
shlibs="$work/shlibs"
mkdir -p "$shlibs/debian"
printf 'Source: beat-panel\n\nPackage: beat-panel\nArchitecture: any\n' >"$shlibs/debian/control"
mapfile -t libdirs < <(for elf in "${elves[@]}"; do dirname "$elf"; done | LC_ALL=C sort -u)
depends="$(cd "$shlibs" && dpkg-shlibdeps -O --ignore-missing-info "${libdirs[@]/#/-l}" \
    -e "${elves[@]}" 2>"$work/shlibdeps.log" | sed -n 's/^shlibs:Depends=//p')"
# Zone data for the schedule's time zones (zoneinfo reads the system's).
depends="$depends, tzdata"

# Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up, 1 per other entry.
installed_size="$(find "$root" -mindepth 1 -not -path "$root/DEBIAN*" -printf '%y %s\n' |
    awk '$1 == "f" { n += int(($2 + 1023) / 1024); next } { n += 1 } END { print n }')"

cat >"$root/DEBIAN/control" <<EOF
Package: beat-panel
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $depends
Section: devel
Priority: optional
Description: desktop control panel for Celery beat
 Beat Panel tells at a glance whether Celery beat is alive, starts, stops and
 restarts it safely with a clear message for every outcome, edits the schedule
 that the running beat applies live, and sits in the system tray.
 .
 The panel runs on its own bundled Python, in $prefix; a project's
 beat runs in the project's own environment, with the panel's scheduler on its
 path.
EOF
for script in postinst prerm postrm; do
    install -m 0755 "$packaging/debian/$script" "$root/DEBIAN/$script"
done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

say "Building $deb ($compression -$level)"
dpkg-deb --root-owner-group -Z"$compression" -z"$level" --build "$root" "$deb" >/dev/null
say "Done in $((SECONDS - started)) s: $deb ($(du -h "$deb" | cut -f1)," \
    "$installed_size KiB installed), $wheel"
