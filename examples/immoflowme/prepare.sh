#!/bin/sh
# Make a user's repository of the example: copy it to DEST, put Debian's static busybox into
# the build context, and commit it, so that `shipflow build` has a source revision.
#
#   examples/immoflowme/prepare.sh DEST [VERSION]
#
# The commit's author, committer and dates are fixed, so the same example always gets the same
# revision (and build-once finds earlier builds of it). The remote `origin` is set (never
# fetched) so that builds record a source URL. With VERSION, the commit is tagged
# vVERSION. Prints the revision. Needs git and /bin/busybox (apt-get install -y busybox-static).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 DEST [VERSION]" >&2; exit 2; }
src="$(cd "$(dirname "$0")" && pwd)"
dest="$1"
version="${2:-}"
[ -x /bin/busybox ] || { echo "prepare: /bin/busybox is missing: apt-get install -y busybox-static" >&2; exit 2; }
if [ -e "$dest" ] && [ -n "$(ls -A "$dest")" ]; then
  echo "prepare: $dest exists and is not empty" >&2
  exit 2
fi
mkdir -p "$dest"
(cd "$src" && tar cf - --exclude=./busybox --exclude=./.git .) | (cd "$dest" && tar xf -)
cp /bin/busybox "$dest/busybox"
chmod 0755 "$dest/busybox"
export GIT_AUTHOR_NAME="immoflowme example" GIT_AUTHOR_EMAIL="example@immoflowme.invalid"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export GIT_AUTHOR_DATE="2026-01-15T09:00:00Z" GIT_COMMITTER_DATE="2026-01-15T09:00:00Z"
cd "$dest"
git init -q -b main .
# Where the source would live: recorded as the image's org.opencontainers.image.source label.
git remote add origin https://github.com/immoflowme/app.git
git add -A .
git -c commit.gpgsign=false commit -q -m "immoflowme example"
if [ -n "$version" ]; then
  git -c tag.gpgsign=false tag "v$version"
fi
git rev-parse HEAD
