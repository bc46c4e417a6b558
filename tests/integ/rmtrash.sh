#!/bin/sh
# rmtrash.sh DIR: remove a test's directory, first unmounting what a
# nightshift left mounted below it. A daemon that stops keeps the quota
# images of unfinished jobs mounted, for its next start to take over; a
# test's clean-up has no next start, and rm alone fails on them ("Device
# or resource busy") and leaves the mounts and loop devices on the host.
dir=${1:?usage: rmtrash.sh DIR}
[ -d "$dir" ] || exit 0
dir=$(cd "$dir" && pwd -P)
# mountinfo's fifth field is the mount point; the deepest go first.
awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
	while read -r m; do
		umount -l "$m" 2>/dev/null
	done
rm -rf "$dir"
