# demo-pair.sh: guest side of `make demo`, part 2 (busybox sh). Guest A
# writes messages into shared memory and rings guest B's doorbell; B wakes
# on its eventfd (through `ivshmem wait`), prints the message and
# acknowledges it in shared memory. A rings again if no acknowledgement
# comes, since a ring that arrives before B listens is not seen.
# Shared memory: "B=<id>;" at 0, "ACK=<n>;" at 2048, message at 4096.
P=/payload
export LD_LIBRARY_PATH=$P/lib
insmod $P/ivshmem.ko || exit 1
me=$(cat /sys/class/ivshmem/ivshmem0/peer_id)
say() { echo "guest $IVS_ROLE (peer $me): $*"; }
field() { # OFFSET KEY: the number after KEY= at OFFSET
	$P/ivshmem read 0 "$1" 32 | tr -d '\000' | sed -n "s/^$2=\([0-9]*\);.*/\1/p"
}
n=${IVS_COUNT:-5}

if [ "$IVS_ROLE" = B ]; then
	printf 'B=%s;' "$me" | $P/ivshmem write 0 0
	say "waiting for $n messages"
	last=0
	while [ "$last" -lt "$n" ]; do
		$P/ivshmem wait 0 0 --timeout 60000 >/dev/null || { say "no ring"; exit 1; }
		msg=$($P/ivshmem read 0 4096 80 | tr -d '\000' | sed 's/ *$//')
		num=${msg#message }
		num=${num%% *}
		[ "$num" = "$last" ] && continue
		say "woken by a doorbell, read: $msg"
		last=$num
		printf 'ACK=%s;' "$last" | $P/ivshmem write 0 2048
	done
else
	b=
	while [ -z "$b" ]; do
		b=$(field 0 B)
		[ -n "$b" ] || sleep 0.2
	done
	say "found guest B as peer $b"
	i=1
	while [ "$i" -le "$n" ]; do
		msg="message $i of $n from peer $me at $(date +%T)"
		printf '%-79s' "$msg" | $P/ivshmem write 0 4096
		say "wrote '$msg', ringing peer $b"
		tries=0
		while [ "$(field 2048 ACK)" != "$i" ]; do
			[ $((tries % 10)) = 0 ] && $P/ivshmem ring 0 "$b" 0
			tries=$((tries + 1))
			[ "$tries" -lt 300 ] || { say "no acknowledgement"; exit 1; }
			sleep 0.2
		done
		i=$((i + 1))
	done
	say "all $n messages acknowledged"
fi
rmmod ivshmem
