# Command substitution, subshells and $?.
x=$(echo hello); echo "x=$x"
n=$(seq 1 10 | wc -l); echo "twice: $((n * 2))"
echo "nested: $(echo $(echo $(echo deep)))"
old=`echo backquotes`; echo "$old"
lines=$(printf 'a\nb\n\n\n'); echo "[$lines]"
(exit 3); echo "subshell exit: $?"
false; echo "false: $?"
true; echo "true: $?"
/bin/false; echo "/bin/false: $?"
sh -c 'exit 7'; echo "sh -c exit 7: $?"
sh -c 'kill -9 $$'; echo "killed by SIGKILL: $?"
nosuchcommand 2>/dev/null; echo "not found: $?"
a=1; (a=2; echo "inside: $a"); echo "outside: $a"
(cd /tmp && pwd); pwd
{ echo a; echo b; } | wc -l
v=$(exit 4); echo "substitution status: $?"
echo "$(echo out; echo err >&2)" 2>/dev/null
r=$( (echo sub; exit 2) ); echo "$r $?"
count=0; for w in $(echo a b c d); do count=$((count + 1)); done; echo "words: $count"
f() { echo "in f: $1"; return 5; }; f arg; echo "f returned $?"
