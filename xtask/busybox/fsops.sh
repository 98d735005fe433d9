# ls, mkdir -p, touch, mv, rm, ln (hard and symbolic), find, stat: the
# names, types, sizes and link counts they show (no times, inodes).
cd /tmp || exit 1
mkdir -p d/e/f
touch d/e/f/x d/y
echo data > d/z
ls d
ls -R d
mv d/y d/e/y2
ls d d/e
mv d/e d/moved
ls d
ln -s moved/y2 d/link
readlink d/link
ls -l d/link | awk '{ print $1, $9, $10, $11 }'
[ -L d/link ] && echo "d/link is a symbolic link"
ln -s nowhere d/dangling
[ -e d/dangling ] || echo "dangling link does not resolve"
cat d/dangling 2>&1
ln d/z d/z2
stat -c '%n %s %h %F' d/z d/z2 d/link
stat -c '%n %h %F' d/moved
echo more >> d/z2
cat d/z
find d | sort
find d -type f | sort
find d -type l | sort
rm d/link d/dangling
rm d/z
stat -c '%n %h' d/z2
mkdir d/empty
rmdir d/empty
rmdir d 2>&1 || echo "d is not empty"
rm -r d
[ -e d ] || echo "d is gone"
mkdir -p a/b && mkdir -p a/b && echo "mkdir -p twice"
mkdir a 2>&1
cd a/b && pwd && cd ../.. && rm -r a
ls -A /tmp | wc -l
