# Many processes: 200 fork+exec of /bin/true in a loop, and loops feeding
# pipes and subshells.
i=0
while [ $i -lt 200 ]; do
	/bin/true
	i=$((i + 1))
done
echo $i
n=0
for x in $(seq 1 50); do n=$((n + $(echo $x))); done
echo "sum of 1..50 through 50 substitutions: $n"
seq 1 100 | while read -r x; do echo $((x * x)); done | tail -1
i=0; ok=0
while [ $i -lt 20 ]; do
	if sh -c "exit $((i % 3))"; then ok=$((ok + 1)); fi
	i=$((i + 1))
done
echo "children that exited 0: $ok of $i"
for i in 1 2 3 4 5 6 7 8 9 10; do echo $i | cat | cat; done | wc -l
