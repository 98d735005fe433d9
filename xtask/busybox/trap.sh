# Traps: EXIT in the shell, in a subshell and in a child shell; a signal
# caught by the shell itself; the status seen by the EXIT trap.
trap 'echo "exit trap, status $?"' EXIT
(trap 'echo "subshell exit trap"' EXIT; echo "in subshell")
sh -c 'trap "echo child exit trap" EXIT; exit 4'; echo "child status $?"
sh -c 'trap "echo child trap sees \$?" EXIT; false'; echo "child status $?"
trap 'echo "caught USR1"' USR1
kill -USR1 $$
echo "after USR1"
trap - USR1
sh -c 'trap "echo TERM in child; exit 9" TERM; kill -TERM $$; echo not reached'; echo "child status $?"
sh -c 'trap "" INT; kill -INT $$; echo INT ignored'; echo "child status $?"
trap 'echo "HUP in trap"' HUP
sh -c 'kill -HUP $PPID'
echo "after HUP"
