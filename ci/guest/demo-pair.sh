# demo-pair.sh: guest side of `make demo`, part 2 (busybox sh). Guest A
# writes messages into shared memory and rings guest B's doorbell once per
# message; B wakes on its eventfd (through `ivshmem wait`), prints the
# message and acknowledges it in shared memory. A ring that arrives before
# B listens is not seen, so B announces itself and acknowledges each
# message only once its next `ivshmem wait` listens (--ready), and A rings
# only after that.
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
# wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds (polled every
# 0.1 s); after SECONDS say what did not happen, and fail
wait_for() {
	wf_end=$(($(date +%s) + $1)) wf_s=$1 wf_what=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$wf_end" ] ||
			{ say "timed out after $wf_s s waiting for $wf_what"; return 1; }
		sleep 0.1
	done
}
has_field() { [ -n "$(field "$1" "$2")" ]; }
field_is() { [ "$(field "$1" "$2")" = "$3" ]; }

if [ "$IVS_ROLE" = B ]; then
	say "waiting for $n messages"
	last=0
	while [ "$last" -lt "$n" ]; do
		rm -f /tmp/ready
		$P/ivshmem wait 0 0 --timeout 120000 --ready /tmp/ready >/dev/null &
		wp=$!
		wait_for 120 "'ivshmem wait' to listen" [ -e /tmp/ready ] || exit 1
		# listening: now A may ring
		if [ "$last" = 0 ]; then
			printf 'B=%s;' "$me" | $P/ivshmem write 0 0
		else
			printf 'ACK=%s;' "$last" | $P/ivshmem write 0 2048
		fi
		wait $wp || { say "no ring"; exit 1; }
		msg=$($P/ivshmem read 0 4096 80 | tr -d '\000' | sed 's/ *$//')
		num=${msg#message }
		num=${num%% *}
		[ "$num" = "$last" ] && continue
		say "woken by a doorbell, read: $msg"
		last=$num
	done
	printf 'ACK=%s;' "$last" | $P/ivshmem write 0 2048
else
	# B boots beside A: as long as a guest may take to boot on a busy host
	wait_for 600 "guest B to announce itself at 0" has_field 0 B || exit 1
	b=$(field 0 B)
	say "found guest B as peer $b"
	i=1
	while [ "$i" -le "$n" ]; do
		msg="message $i of $n from peer $me at $(date +%T)"
		printf '%-79s' "$msg" | $P/ivshmem write 0 4096
		say "wrote '$msg', ringing peer $b"
		$P/ivshmem ring 0 "$b" 0 || exit 1
		wait_for 120 "guest B to acknowledge message $i" field_is 2048 ACK "$i" ||
			{ say "no acknowledgement"; exit 1; }
		i=$((i + 1))
	done
	say "all $n messages acknowledged"
fi
rmmod ivshmem
