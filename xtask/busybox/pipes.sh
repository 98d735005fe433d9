# Pipelines of many stages: data through 2 to 8 processes joined by pipes,
# more than a pipe's 64 KiB in flight, and the status of the last stage.
seq 1 1000 | grep 7 | sort -r | head -5 | wc -l
seq 1 1000 | grep 7 | sort -rn | head -5
seq 1 1000 | grep 7 | wc -l
seq 1 10000 | awk '{ s += $1 } END { print s }'
seq 1 200 | sed 's/1/one/g' | grep one | tr a-z A-Z | sort | uniq | tail -3
seq 1 50000 | cat | cat | cat | cat | cat | cat | wc -c
seq 1 100000 | tail -1
yes abcdefgh | head -n 20000 | md5sum
seq 1 30 | tac | head -3 | tr '\n' ' '; echo
seq 1 5 | paste -s -d+
echo one two three | tr ' ' '\n' | sort | head -1
seq 1 10 | false | true; echo "status of true at the end: $?"
seq 1 10 | true | false; echo "status of false at the end: $?"
! seq 1 3 | grep -q 4; echo "negated: $?"
