# Redirections into files under /tmp, read back with cat, md5sum and cmp.
cd /tmp || exit 1
echo one > a
echo two >> a
cat a
printf 'x\ny\n' > b
cat a b > c
wc -l < c
md5sum a b c
cp c d
cmp c d && echo "c and d are the same"
echo z >> d
cmp c d > /dev/null 2>&1; echo "cmp after append: $?"
cmp c d 2>&1
exec 3> e
echo "written through fd 3" >&3
exec 3>&-
cat e
exec 4< a
read -r first <&4
read -r second <&4
exec 4<&-
echo "read: $first, $second"
cat < a > f; cmp a f && echo "a copied through stdin and stdout"
: > a; wc -c < a
echo "appended" >> a; cat a
{ echo out; echo err >&2; } > g 2>&1; cat g
{ echo out; echo err >&2; } 2> h > /dev/null; cat h
cat nosuch 2> err; echo "cat status $?"; cat err
cat <<END > here
here document line 1
  indented $((6 * 7))
END
cat here
cat <<'END'
quoted $HOME stays
END
seq 1 1000 > big; md5sum big; wc -c big
tr '0-9' 'a-j' < big | md5sum
sort -r big | sort -n | cmp - big && echo "sorted back"
echo hello > /dev/null; echo "null: $?"
head -c 16 /dev/zero | od -An -tx1
rm a b c d e f g h err here big
ls /tmp | wc -l
