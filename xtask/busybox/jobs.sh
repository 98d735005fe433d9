# Background jobs and wait: statuses through wait $!, several jobs at once,
# a job killed by a signal. The shell says "Terminated" for a killed job
# only when `wait` itself reaps it, not when it was reaped before (after
# `kill`, on SIGCHLD): that depends on timing, on Linux too, so `wait`'s
# stderr is dropped there and only the status is printed.
sleep 0.1 &
wait $!; echo "sleep: $?"
(exit 5) &
wait $!; echo "exit 5: $?"
sh -c 'kill -TERM $$' &
wait $! 2>/dev/null; echo "killed by TERM: $?"
sleep 10 &
kill $!
wait $! 2>/dev/null; echo "sleep 10 killed: $?"
for i in 1 2 3; do (sleep 0.$i; echo "job $i" > /tmp/j$i) & done
wait
cat /tmp/j1 /tmp/j2 /tmp/j3
rm /tmp/j1 /tmp/j2 /tmp/j3
seq 1 1000 > /tmp/n & wait
wc -l < /tmp/n
(seq 1 3; sleep 0.1; seq 4 6) | (sleep 0.05; wc -l) &
wait
rm /tmp/n
wait; echo "wait with no jobs: $?"
