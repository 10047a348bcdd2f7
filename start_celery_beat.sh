#!/usr/bin/env bash
# Start Celery beat in the background, the same way Beat Panel does: its own session,
# a pidfile, output appended to a log file, and a start counted on beat's own sign of
# life, then a short watch.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: start_celery_beat.sh --app APP [options] [-- extra celery beat arguments]

Starts `celery -A APP beat` in the background in its own session, with a pidfile and a
log file. The start counts once beat shows its own sign of life and then stays up for a
short watch: with --schedule-file, the panel's scheduler reports that it loaded the file
and ticked; otherwise beat logs "beat: Starting...". A beat that dies before that, or
during the watch, is a failed start, shown with the end of its log. Refuses to start a
second beat while this project's beat runs (two beats send every task twice): a beat is
this project's, as Beat Panel counts it, when its pidfile is this one or it runs APP in
WORKDIR. A pidfile naming any other process is stale, and removed.

Options:
  -A, --app APP       the Celery app (the -A value); default: $CELERY_APP
  -d, --workdir DIR   folder to run beat in (default: the current folder)
  -p, --pidfile FILE  pidfile (default: WORKDIR/celerybeat.pid)
  -l, --logfile FILE  log file, appended to (default: WORKDIR/celerybeat.log)
  -c, --celery CMD    the celery command (default: $CELERY, else `celery` on PATH)
  -f, --schedule-file FILE
                      run this Beat Panel schedule file with the panel's scheduler
                      (beat_panel.plugin:PanelScheduler); edits apply without a restart
  -t, --timeout SECS  how long to wait for beat's sign of life (default: 30); a beat
                      still running without one is reported as started, with a warning
  -s, --settle SECS   how long beat must then stay up to count as started (default: 2,
                      or 0.05 after the panel's scheduler has ticked)
  -h, --help          show this help

Exit codes: 0 started, 1 failed to start (or could not tell whether a process the
pidfile names is this project's beat), 2 bad usage, 5 already running.
EOF
}

die_usage() { echo "start_celery_beat.sh: $1" >&2; echo "Try --help." >&2; exit 2; }

app="${CELERY_APP:-}"
workdir="."
pidfile=""
logfile=""
celery_cmd="${CELERY:-celery}"
schedule_file=""
settle=""
timeout=30
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
        -t|--timeout) [ $# -ge 2 ] || die_usage "$1 needs a value"; timeout="$2"; shift 2 ;;
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
# Relative paths are the caller's, as for any command; beat runs in WORKDIR, so it is
# given them absolute.
case "$pidfile" in /*) ;; *) pidfile="$PWD/$pidfile" ;; esac
case "$logfile" in /*) ;; *) logfile="$PWD/$logfile" ;; esac
is_seconds() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?$|^\.[0-9]+$ ]]; }
[ -z "$settle" ] || is_seconds "$settle" || die_usage "--settle takes a number of seconds"
is_seconds "$timeout" || die_usage "--timeout takes a number of seconds"

# The celery command may carry words of its own (`python -m celery`).
read -r -a celery_argv <<<"$celery_cmd"
if ! found="$(command -v -- "${celery_argv[0]}" 2>/dev/null)"; then
    echo "Cannot start beat: '${celery_argv[0]}' was not found." >&2
    echo "Activate the project's virtual environment, or pass --celery /path/to/celery." >&2
    exit 1
fi
# A bare name found through a relative PATH entry ('.', '' or 'bin') would run whatever
# the current folder holds: the panel never searches those, and neither does this script.
case "${celery_argv[0]}" in
    */*) ;;
    *) case "$found" in
        /*) ;;
        *) echo "Cannot start beat: '${celery_argv[0]}' was found only through a relative" \
                "PATH entry (as $found), which is not searched; pass --celery" \
                "/path/to/celery." >&2
           exit 1 ;;
       esac ;;
esac

# Beat's output is appended to the log and beat writes the pidfile: never through a link,
# into a FIFO or a folder, or into another user's file (the panel refuses the same).
for spot in "log:$logfile:--logfile" "pidfile:$pidfile:--pidfile"; do
    what="${spot%%:*}"; rest="${spot#*:}"; path="${rest%:*}"; option="${rest##*:}"
    if [ -L "$path" ]; then
        problem="is a symbolic link (to $(readlink -- "$path")), and links are not followed"
    elif [ -e "$path" ] && [ ! -f "$path" ]; then
        problem="is not a regular file"
    elif [ -f "$path" ] && [ "$(stat -c %u -- "$path")" != "$(id -u)" ] \
            && [ "$(stat -c %u -- "$path")" != 0 ]; then
        problem="belongs to $(stat -c %U -- "$path"), not to you"
    else
        continue
    fi
    echo "Cannot start beat: its $what $path $problem. Remove it, or pass $option with" \
         "another path." >&2
    exit 1
done

# Beat Panel's package: beside this script in a checkout, above it when installed
# (beat_panel/resources/start_celery_beat.sh).
script_dir="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
package=""
for candidate in "$script_dir/beat_panel" "$script_dir/.."; do
    if [ -f "$candidate/plugin.py" ] && [ -f "$candidate/paths.py" ]; then
        package="$(cd "$candidate" && pwd -P)"
        break
    fi
done

# Which beats are this project's: the rule Beat Panel itself uses (its pidfile, or APP
# running in WORKDIR), from the panel's own file beat_panel/process/identity.py. It needs
# only the standard library, so it runs with the Python the celery command runs on (there
# wherever beat can run, and where Beat Panel need not be installed), else with python3.
celery_python() {
    local first="${celery_argv[0]}" path line
    local -a words
    case "$(basename -- "$first")" in
        python|python[0-9]*|pypy|pypy[0-9]*) command -v -- "$first"; return ;;
    esac
    path="$(command -v -- "$first")" || return 1
    [ -f "$path" ] && [ "$(head -c 2 -- "$path" | tr -d '\0')" = '#!' ] || return 1
    IFS= read -r line <"$path" || return 1
    read -r -a words <<<"${line#??}"
    if [ "${#words[@]}" -gt 1 ] && [ "$(basename -- "${words[0]}")" = env ]; then
        words=("${words[@]:1}")
        [ "${words[0]}" != -S ] || words=("${words[@]:1}")
    fi
    [ "${#words[@]}" -gt 0 ] || return 1
    case "$(basename -- "${words[0]}")" in
        python|python[0-9]*|pypy|pypy[0-9]*) command -v -- "${words[0]}" ;;
        *) return 1 ;;
    esac
}
# Prints the checker's findings: `ours PID ...` for each beat of this project, `note ...`
# to pass on, `pidfile ...` when the pidfile names no beat of this project.
project_beats() {
    local checker="$package/process/identity.py" python
    [ -n "$package" ] && [ -f "$checker" ] || return 1
    for python in "$(celery_python || true)" python3; do
        [ -n "$python" ] || continue
        if "$python" -I "$checker" running --app "$app" --workdir "$workdir" \
                --pidfile "$pidfile" 2>/dev/null; then
            return 0
        fi
    done
    return 1
}

if findings="$(project_beats)"; then
    ours="$(sed -n 's/^ours [0-9]* //p' <<<"$findings" | head -n 1)"
    if [ -n "$ours" ]; then
        echo "Beat is already running ($ours); not starting a second copy: two beats send" \
             "every task twice."
        exit 5
    fi
    sed -n 's/^note /Warning: /p' <<<"$findings"
    stale="$(sed -n 's/^pidfile //p' <<<"$findings")"
    if [ -n "$stale" ] && { [ -e "$pidfile" ] || [ -L "$pidfile" ]; }; then
        echo "Removing stale pidfile $pidfile ($stale)."
        rm -f -- "$pidfile" || exit 1
    fi
elif [ -e "$pidfile" ] || [ -L "$pidfile" ]; then
    # Without Beat Panel's checker beside this script (a copy of the script alone), a
    # pidfile naming a live process cannot be judged: say so rather than guess.
    if [ -L "$pidfile" ] || [ ! -f "$pidfile" ]; then
        echo "The pidfile $pidfile is not a regular file; remove it and run this again." >&2
        exit 1
    fi
    old_pid="$(head -c 64 -- "$pidfile" | head -n 1 | tr -dc '0-9')"
    if [ -n "$old_pid" ] && [ -e "/proc/$old_pid" ]; then
        echo "Cannot tell whether pid $old_pid, which the pidfile $pidfile names, is this" \
             "project's beat: Beat Panel's checker (beat_panel/process/identity.py) was not" \
             "found beside this script, or no Python could run it. If it is not beat," \
             "remove the pidfile and run this again." >&2
        exit 1
    fi
    echo "Removing stale pidfile $pidfile (it names pid ${old_pid:-?}, which is gone)."
    rm -f -- "$pidfile"
fi

# Never give beat the folder the package is in (a checkout's root, whose packaging/ would
# stand in for the `packaging` distribution and whose tests/ would shadow the project's
# modules): the panel's folder that holds only a link to its package takes its place.
needs_link=0
if [ -n "$package" ] && [ -n "${PYTHONPATH:-}" ]; then
    home="$(dirname "$package")"
    kept=""
    IFS=: read -r -a entries <<<"$PYTHONPATH"
    for entry in "${entries[@]}"; do
        if [ -n "$entry" ] && [ "$(readlink -f -- "$entry" 2>/dev/null)" = "$home" ]; then
            needs_link=1
        else
            kept="${kept:+$kept:}$entry"
        fi
    done
    if [ -n "$kept" ]; then export PYTHONPATH="$kept"; else unset PYTHONPATH; fi
fi

scheduler=()
report=""
if [ -n "$schedule_file" ]; then
    case "$schedule_file" in /*) ;; *) schedule_file="$PWD/$schedule_file" ;; esac
    scheduler=(-S beat_panel.plugin:PanelScheduler)
    export BEAT_PANEL_SCHEDULE="$schedule_file"
    # Where the panel's scheduler reports, inside beat, that it loaded the file and ticked.
    report="$(dirname "$schedule_file")/.$(basename "$schedule_file").beat-state.json"
    needs_link=1
    if [ -z "$package" ]; then
        echo "Cannot run the schedule file: Beat Panel's package was not found beside" >&2
        echo "$script_dir. Run the start_celery_beat.sh that came with Beat Panel." >&2
        exit 1
    fi
fi
if [ "$needs_link" = 1 ]; then
    # Let the project's Python import the plugin, and nothing else of the panel's.
    if ! import_dir="$(python3 -I "$package/paths.py" plugin-import-dir)"; then
        echo "Cannot run the schedule file: python3 could not prepare the folder that" >&2
        echo "lets beat import Beat Panel's scheduler (see the error above)." >&2
        exit 1
    fi
    export PYTHONPATH="$import_dir${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -z "$settle" ]; then
    if [ -n "$report" ]; then settle=0.05; else settle=2; fi
fi

mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
log_start=$(stat -c %s "$logfile" 2>/dev/null || echo 0)

cd "$workdir"
setsid "${celery_argv[@]}" -A "$app" beat --pidfile="$pidfile" "${scheduler[@]}" "${extra[@]}" \
    </dev/null >>"$logfile" 2>&1 &
pid=$!

echo "Started: ${celery_argv[*]} -A $app beat --pidfile=$pidfile ${scheduler[*]} ${extra[*]}"
echo "  in $workdir, pid $pid, log $logfile"

now_ms() {
    local t="${EPOCHREALTIME:-}"
    if [ -n "$t" ]; then t="${t//[!0-9]/}"; echo $((10#$t / 1000)); else date +%s%3N; fi
}
to_ms() { awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }'; }

# Has the new beat (pid $1, or a process it started) shown its sign of life?
TICKED='
import json, sys
path, pid = sys.argv[1], int(sys.argv[2])
try:
    with open(path, encoding="utf-8") as fh:
        applied = json.load(fh).get("applied") or {}
    seen = applied.get("pid")
except (OSError, ValueError, AttributeError):
    sys.exit(1)
if not isinstance(seen, int) or applied.get("ticked_at") is None:
    sys.exit(1)
while seen > 1 and seen != pid:  # the reporting beat may be a child of the one started
    try:
        with open(f"/proc/{seen}/stat") as fh:
            seen = int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        sys.exit(1)
sys.exit(0 if seen == pid else 1)
'
sign_of_life() {
    if [ -n "$report" ]; then
        python3 -I -c "$TICKED" "$report" "$pid" 2>/dev/null &&
            echo "loaded the schedule and ticked"
    else
        tail -c +"$((log_start + 1))" "$logfile" 2>/dev/null | grep -qF "beat: Starting..." &&
            echo "logged that it started"
    fi
}
alive() { kill -0 "$pid" 2>/dev/null; }

# A start counts on beat's own sign of life (within --timeout), and then only if beat
# stays up for the watch (--settle): not because a timer ran out.
said=""
began=$(now_ms)
limit=$(to_ms "$timeout")
while alive && [ $(($(now_ms) - began)) -lt "$limit" ]; do
    if said="$(sign_of_life)"; then break; fi
    said=""
    sleep 0.05
done
if [ -n "$said" ]; then
    watched=$(now_ms)
    window=$(to_ms "$settle")
    while alive && [ $(($(now_ms) - watched)) -lt "$window" ]; do
        sleep 0.05
    done
fi

if alive; then
    if [ -n "$said" ]; then
        echo "Beat is running (pid $pid): it $said."
    else
        echo "Beat is running (pid $pid), but it has not shown that it works within" \
             "${timeout} s (no start line in its log); look at $logfile if tasks are not sent."
    fi
    exit 0
fi
wait "$pid" 2>/dev/null && code=0 || code=$?
if [ -n "$said" ]; then
    when="after it $said, within the ${settle} s it was watched"
else
    when="before it showed that it had started"
fi
if [ "$code" = 73 ]; then
    echo "Beat failed to start (exit code 73): celery found its pidfile $pidfile held by" \
         "another process; another beat may be running under that pidfile." >&2
else
    echo "Beat failed to start (exit code $code) $when." >&2
fi
echo "Last lines of $logfile:" >&2
tail -c +"$((log_start + 1))" "$logfile" | tail -n 20 >&2
exit 1
