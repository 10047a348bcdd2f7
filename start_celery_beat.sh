#!/usr/bin/env bash
# Start Celery beat in the background, the same way Beat Panel does: its own session,
# a pidfile, output appended to a log file, and a check that it stayed up.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: start_celery_beat.sh --app APP [options] [-- extra celery beat arguments]

Starts `celery -A APP beat` in the background in its own session, with a pidfile and a
log file, and checks that it is still running a moment later. Refuses to start a second
beat while the pidfile names a running one (two beats send every task twice).

Options:
  -A, --app APP       the Celery app (the -A value); default: $CELERY_APP
  -d, --workdir DIR   folder to run beat in (default: the current folder)
  -p, --pidfile FILE  pidfile (default: WORKDIR/celerybeat.pid)
  -l, --logfile FILE  log file, appended to (default: WORKDIR/celerybeat.log)
  -c, --celery CMD    the celery command (default: $CELERY, else `celery` on PATH)
  -f, --schedule-file FILE
                      run this Beat Panel schedule file with the panel's scheduler
                      (beat_panel.plugin:PanelScheduler); edits apply without a restart
  -s, --settle SECS   how long beat must stay up to count as started (default: 2)
  -h, --help          show this help

Exit codes: 0 started, 1 failed to start, 2 bad usage, 5 already running.
EOF
}

die_usage() { echo "start_celery_beat.sh: $1" >&2; echo "Try --help." >&2; exit 2; }

app="${CELERY_APP:-}"
workdir="."
pidfile=""
logfile=""
celery_cmd="${CELERY:-celery}"
schedule_file=""
settle=2
extra=()

while [ $# -gt 0 ]; do
    case "$1" in
        -A|--app) [ $# -ge 2 ] || die_usage "$1 needs a value"; app="$2"; shift 2 ;;
        -d|--workdir) [ $# -ge 2 ] || die_usage "$1 needs a value"; workdir="$2"; shift 2 ;;
        -p|--pidfile) [ $# -ge 2 ] || die_usage "$1 needs a value"; pidfile="$2"; shift 2 ;;
        -l|--logfile) [ $# -ge 2 ] || die_usage "$1 needs a value"; logfile="$2"; shift 2 ;;
        -c|--celery) [ $# -ge 2 ] || die_usage "$1 needs a value"; celery_cmd="$2"; shift 2 ;;
        -f|--schedule-file) [ $# -ge 2 ] || die_usage "$1 needs a value"
            schedule_file="$2"; shift 2 ;;
        -s|--settle) [ $# -ge 2 ] || die_usage "$1 needs a value"; settle="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        *) die_usage "unknown option: $1" ;;
    esac
done

[ -n "$app" ] || die_usage "no Celery app given: use --app APP (or set CELERY_APP)"
[ -d "$workdir" ] || die_usage "workdir $workdir does not exist"
workdir="$(cd "$workdir" && pwd)"
pidfile="${pidfile:-$workdir/celerybeat.pid}"
logfile="${logfile:-$workdir/celerybeat.log}"
case "$settle" in ''|*[!0-9.]*) die_usage "--settle takes a number of seconds" ;; esac

# The celery command may carry words of its own (`python -m celery`).
read -r -a celery_argv <<<"$celery_cmd"
if ! command -v "${celery_argv[0]}" >/dev/null 2>&1; then
    echo "Cannot start beat: '${celery_argv[0]}' was not found." >&2
    echo "Activate the project's virtual environment, or pass --celery /path/to/celery." >&2
    exit 1
fi

# Is the pid in the pidfile a running celery beat? (Not just any process: a stale
# pidfile may name a pid that now belongs to something else.)
pid_is_beat() {
    local pid="$1" args
    [ -r "/proc/$pid/cmdline" ] || return 1
    args="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
    case " $args " in
        *"[celery beat]"*) return 0 ;;
        *celery*" beat "*) return 0 ;;
    esac
    return 1
}

if [ -f "$pidfile" ]; then
    old_pid="$(head -n 1 "$pidfile" | tr -dc '0-9')"
    if [ -n "$old_pid" ] && pid_is_beat "$old_pid"; then
        echo "Beat is already running (pid $old_pid, pidfile $pidfile); not starting a second copy."
        exit 5
    fi
    echo "Removing stale pidfile $pidfile (it named pid ${old_pid:-?}, which is not beat)."
    rm -f "$pidfile"
fi

scheduler=()
if [ -n "$schedule_file" ]; then
    case "$schedule_file" in /*) ;; *) schedule_file="$PWD/$schedule_file" ;; esac
    scheduler=(-S beat_panel.plugin:PanelScheduler)
    export BEAT_PANEL_SCHEDULE="$schedule_file"
    # Let the project's Python import the plugin, and nothing else of the panel's: put on
    # PYTHONPATH the panel's folder that holds only a link to its package (never the
    # checkout, whose tests/ and packaging/ would shadow the project's own modules).
    # The package is beside this script in a checkout, above it when installed
    # (beat_panel/resources/start_celery_beat.sh).
    script_dir="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
    package=""
    for candidate in "$script_dir/beat_panel" "$script_dir/.."; do
        if [ -f "$candidate/plugin.py" ] && [ -f "$candidate/paths.py" ]; then
            package="$(cd "$candidate" && pwd -P)"
            break
        fi
    done
    if [ -z "$package" ]; then
        echo "Cannot run the schedule file: Beat Panel's package was not found beside" >&2
        echo "$script_dir. Run the start_celery_beat.sh that came with Beat Panel." >&2
        exit 1
    fi
    if ! import_dir="$(python3 -I "$package/paths.py" plugin-import-dir)"; then
        echo "Cannot run the schedule file: python3 could not prepare the folder that" >&2
        echo "lets beat import Beat Panel's scheduler (see the error above)." >&2
        exit 1
    fi
    export PYTHONPATH="$import_dir${PYTHONPATH:+:$PYTHONPATH}"
fi

mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
log_start=$(stat -c %s "$logfile" 2>/dev/null || echo 0)

cd "$workdir"
setsid "${celery_argv[@]}" -A "$app" beat --pidfile="$pidfile" "${scheduler[@]}" "${extra[@]}" \
    </dev/null >>"$logfile" 2>&1 &
pid=$!

echo "Started: ${celery_argv[*]} -A $app beat --pidfile=$pidfile ${scheduler[*]} ${extra[*]}"
echo "  in $workdir, pid $pid, log $logfile"

# A start counts only if beat is still up after the settle time.
waited=0
step=0.1
while awk -v w="$waited" -v s="$settle" 'BEGIN { exit !(w < s) }'; do
    if ! kill -0 "$pid" 2>/dev/null; then
        break
    fi
    sleep "$step"
    waited=$(awk -v w="$waited" -v s="$step" 'BEGIN { print w + s }')
done

if kill -0 "$pid" 2>/dev/null; then
    echo "Beat is running (pid $pid)."
    exit 0
fi
wait "$pid" 2>/dev/null && code=0 || code=$?
echo "Beat failed to start (exit code $code). Last lines of $logfile:" >&2
tail -c +"$((log_start + 1))" "$logfile" | tail -n 20 >&2
exit 1
