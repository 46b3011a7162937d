#!/usr/bin/env bash
# Stops a fake kube-apiserver started with start.sh DIR and removes its pods'
# containers (the server removes them itself on SIGTERM; this makes sure).
dir=$1
[ -f "$dir/pid" ] || exit 0
pid=$(cat "$dir/pid")
kill "$pid" 2>/dev/null || true
for _ in $(seq 1 100); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -9 "$pid" 2>/dev/null || true
if [ -f "$dir/id" ]; then
	ids=$(docker ps -aq --filter "label=io.kctl.fake=$(cat "$dir/id")" 2>/dev/null || true)
	[ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
fi
rm -f "$dir/pid"
