#!/usr/bin/env bash
# What an agent harness does with tmux, unchanged for both backends: make a session, run commands
# by typing them, poll capture-pane for a done marker, cut each command's output out of the
# capture, interrupt a long command, ask for the cwd, list, kill. Prints what it extracted.
set -euo pipefail
session="harness-$$"
tmux new-session -d -s "$session" -x 120 -y 40 -c "$HARNESS_DIR"
tmux has-session -t "$session"

run() {
    tmux send-keys -t "$session" "echo __BEGIN_${1}__; ${2}; echo __END_${1}__\$?" Enter
    collect "$1" "$2"
}

collect() {
    local id=$1 cmd=$2 out=""
    for _ in $(seq 1000); do
        out=$(tmux capture-pane -p -t "$session" -S -300)
        if grep -q "^__END_${id}__" <<<"$out"; then break; fi
        sleep 0.01
    done
    echo "== $id: $cmd"
    awk -v begin="__BEGIN_${id}__" -v end="__END_${id}__" '
        $0 == begin { on = 1; next }
        index($0, end) == 1 { print "exit=" substr($0, length(end) + 1); on = 0 }
        on' <<<"$out"
}

run 1 'printf "alpha\tbeta\n"; ls -1 /'
run 2 'cd /tmp && pwd'
run 3 'false'
run 4 'seq 1 60'
run 5 '(exit 7)'
echo "cwd=$(tmux display-message -p -t "$session" '#{pane_current_path}')"
tmux send-keys -t "$session" 'sleep 30' Enter
sleep 0.2
tmux send-keys -t "$session" C-c
run 6 'echo after-interrupt'
tmux send-keys -t "$session:0.0" -l 'echo __BEGIN_7__; echo literal-keys Enter; echo __END_7__$?'
tmux send-keys -t "$session" Enter
collect 7 'literal keys'
echo "listed=$(tmux list-sessions -F '#{session_name}' | grep -c "^${session}\$")"
tmux kill-session -t "$session"
if tmux has-session -t "$session" 2>/dev/null; then echo "after-kill=present"; else echo "after-kill=gone"; fi
