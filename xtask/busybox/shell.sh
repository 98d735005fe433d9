# The shell's own language: variables and their expansions, arithmetic,
# case, functions with local variables, positional parameters, read, eval.
x=abcdef
echo "${#x} ${x#ab} ${x%ef} ${x:-unset} ${y:-default} ${y:=assigned} $y"
echo "$((7 * 6)) $((100 / 7)) $((100 % 7)) $((1 << 10)) $(( (3 + 4) * 2 ))"
i=5; i=$((i - 1)); echo "$i"
for w in apple banana cherry; do
	case $w in
	a*) echo "$w starts with a" ;;
	*an*) echo "$w has an" ;;
	*) echo "$w: other" ;;
	esac
done
f() { local v=inner; echo "$# args: $*"; shift; echo "after shift: $1"; }
v=outer; f one two three; echo "v=$v"
set -- p q r; echo "$# $2 $@"
IFS=: read -r a b c <<END
1:2:3
END
echo "$c $b $a"
cmd='echo evaluated'; eval "$cmd"
n=0; until [ $n -ge 3 ]; do n=$((n + 1)); done; echo "until: $n"
[ 3 -gt 2 ] && [ abc != abd ] && echo "tests pass"
[ -z "" ] && [ -n x ] && echo "string tests"
test -d /tmp && test ! -f /tmp && echo "/tmp is a directory"
printf '%s\n' "quoted  spaces" 'single $x' "double $x"
echo $(( 0x10 + 010 ))
s=""; for i in 1 2 3; do s="$s$i"; done; echo "$s"
type cd | head -1
