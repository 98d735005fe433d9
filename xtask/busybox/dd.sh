# 4 MiB through a pipe and into a file, with dd, md5sum, cmp.
dd if=/dev/zero bs=4096 count=1024 2>/dev/null | md5sum
dd if=/dev/zero of=/tmp/f bs=4096 count=1024 2>/dev/null
md5sum /tmp/f
wc -c < /tmp/f
ls -l /tmp/f | awk '{ print $5 }'
dd if=/tmp/f bs=65536 2>/dev/null | md5sum
yes 0123456789abcdef | head -c 4194304 > /tmp/p
md5sum /tmp/p
dd if=/tmp/p of=/tmp/q bs=1000 2>/dev/null
cmp /tmp/p /tmp/q && echo "copied with 1000-byte blocks"
dd if=/tmp/p of=/tmp/r bs=512 skip=3 count=10 2>/dev/null
wc -c < /tmp/r
md5sum /tmp/r
dd if=/tmp/p bs=4096 count=1 skip=1023 2>/dev/null | md5sum
dd if=/dev/zero of=/tmp/f bs=1 count=1 seek=8191 conv=notrunc 2>/dev/null
wc -c < /tmp/f
dd if=/dev/zero of=/tmp/s bs=1 count=1 seek=1048575 2>/dev/null
wc -c < /tmp/s
md5sum /tmp/s
cat /tmp/p /tmp/p | md5sum
rm /tmp/f /tmp/p /tmp/q /tmp/r /tmp/s
