#!/usr/bin/env bash
# Set up Beat Panel from a checkout on Debian/Ubuntu, then run it or its tests.
#   bash packaging/setup.sh run [beat-panel arguments]   the panel (demo project if unconfigured)
#   bash packaging/setup.sh test [pytest arguments]      lint, import contracts + the whole
#                                                        test suite
# It installs what is missing and nothing else: Debian packages (through apt, with sudo
# when not root), a virtual environment in .venv, and the Python packages.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BEAT_PANEL_VENV:-$repo/.venv}"
mode="${1:-}"
[ $# -gt 0 ] && shift

case "$mode" in
    run|test) ;;
    *) echo "Usage: bash packaging/setup.sh run|test [arguments]" >&2; exit 2 ;;
esac

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Qt's xcb platform and the libraries PySide6 wheels load at run time.
run_packages=(python3-venv libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0
    libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0
    libxcb-xkb1 libegl1 libgl1 libfontconfig1 libdbus-1-3 libglib2.0-0 fonts-dejavu-core)
# A virtual X server, a window manager, a tray host, real input, Redis, and the tools the
# tests drive.
test_packages=(xvfb x11-utils openbox trayer xdotool redis-server procps util-linux shellcheck
    # and what packaging/build.sh builds the .deb with, which the installer tests install.
    dpkg-dev desktop-file-utils lintian chrpath)

missing_packages() {
    local pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            printf '%s\n' "$pkg"
        fi
    done
}

install_packages() {
    local missing
    mapfile -t missing < <(missing_packages "$@")
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "These system packages are missing and there is no apt-get: ${missing[*]}" >&2
        echo "Install their equivalents with your package manager, then run this again." >&2
        exit 1
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "Missing system packages: ${missing[*]}; run as root or install sudo." >&2
            exit 1
        fi
        sudo=(sudo)
    fi
    say "Installing system packages: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

packages=("${run_packages[@]}")
[ "$mode" = test ] && packages+=("${test_packages[@]}")
if command -v dpkg-query >/dev/null 2>&1; then
    install_packages "${packages[@]}"
fi

python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    say "Creating the virtual environment in $venv"
    "$python" -m venv "$venv"
fi

# Reinstall only when the project's dependencies changed.
extras=""
[ "$mode" = test ] && extras="[test]"
stamp="$venv/.beat-panel-installed"
want="$(sha256sum "$repo/pyproject.toml" | cut -d' ' -f1)$extras"
# A test install has everything a run needs.
if [ ! -f "$stamp" ] || ! grep -qxF -e "$want" -e "${want%"[test]"}[test]" "$stamp"; then
    say "Installing Beat Panel and its Python packages into $venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e "$repo$extras"
    printf '%s\n' "$want" >"$stamp"
fi

if [ "$mode" = run ]; then
    exec "$venv/bin/beat-panel" "$@"
fi

cd "$repo"
say "ruff"
"$venv/bin/ruff" check .
say "lint-imports"
"$venv/bin/lint-imports"
say "shellcheck"
shellcheck start_celery_beat.sh packaging/*.sh .ci/run
say "pytest"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
exec "$venv/bin/python" -m pytest "$@"
