# sort, uniq, awk, sed, grep, xargs, cut, tr on fixed inputs.
printf 'pear 3\napple 10\nfig 7\nbanana 1\napple 2\n' > /tmp/fruit
sort /tmp/fruit
sort -k2 -n /tmp/fruit
sort -u -k1,1 /tmp/fruit
cut -d' ' -f1 /tmp/fruit | sort | uniq -c
awk '{ n[$1] += $2 } END { for (k in n) print k, n[k] }' /tmp/fruit | sort
awk 'NR % 2 == 1 { printf "%s:%05.1f\n", $1, $2 * 1.5 }' /tmp/fruit
awk -F: '{ print NF, $NF }' <<END
a:b:c
one
x::y
END
sed -n '2,4p' /tmp/fruit
sed 's/a/A/2' /tmp/fruit
sed -e '/fig/d' -e 's/^/> /' /tmp/fruit
sed '1!G;h;$!d' /tmp/fruit
grep -c apple /tmp/fruit
grep -v apple /tmp/fruit
grep -E '^(fig|pear) ' /tmp/fruit
grep -n 'an' /tmp/fruit
grep -q kiwi /tmp/fruit; echo "grep kiwi: $?"
seq 1 10 | xargs echo
seq 1 7 | xargs -n 3 echo
echo c a b | xargs -n 1 | sort -r
printf 'x\ny\nz\n' | xargs -I{} echo "<{}>"
echo "Hello, World" | tr 'a-zA-Z' 'n-za-mN-ZA-M'
echo "a,b,,d" | cut -d, -f2-3
echo "   spaced   words  " | wc -w
seq 1 20 | sort -n -r | head -n 3 | sort | tr '\n' ' '; echo
printf '%s %d %x %o %5s|\n' str 42 255 8 ab
rm /tmp/fruit
