#!/bin/bash
# monitor.sh SOCKET "COMMAND": send one command to a QEMU human monitor on a
# unix socket (vmtest.sh boot --monitor SOCKET) and print its reply.
# Exits 1 if the reply has a line starting with "Error:".
# Transport: socat if present, else python3. Waits up to IVS_MONITOR_WAIT
# (120) seconds for the socket (QEMU may still be starting on a loaded host)
# and up to IVS_MONITOR_TIMEOUT (30) seconds for each prompt.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 SOCKET COMMAND" >&2; exit 2; }
SOCK=$1 CMD=$2 TMO=${IVS_MONITOR_TIMEOUT:-30}

end=$((SECONDS + ${IVS_MONITOR_WAIT:-120}))
until [ -S "$SOCK" ]; do
	[ "$SECONDS" -lt "$end" ] ||
		{ echo "monitor: no socket $SOCK after ${IVS_MONITOR_WAIT:-120} s" >&2; exit 1; }
	sleep 0.1
done

if command -v socat >/dev/null; then
	relay=(socat - "UNIX-CONNECT:$SOCK")
elif command -v python3 >/dev/null; then
	relay=(python3 -c '
import os, socket, sys, threading
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def up():
    while (d := os.read(0, 4096)):
        s.sendall(d)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while (d := s.recv(4096)):
    os.write(1, d)' "$SOCK")
else
	echo "monitor: need socat or python3 (run deps.sh)" >&2; exit 1
fi

coproc MON { "${relay[@]}"; }
# (bash unsets MON and MON_PID once the relay exits: keep copies)
# shellcheck disable=SC2153 # MON_PID comes from coproc
mon_pid=$MON_PID from_mon=${MON[0]} to_mon=${MON[1]}

# read the monitor's output up to and including the next "(qemu) " prompt
until_prompt() {
	local buf="" chunk
	while IFS= read -r -d ')' -t "$TMO" chunk <&"$from_mon"; do
		buf+="$chunk)"
		if [[ $buf == *"(qemu)" ]]; then
			IFS= read -r -N 1 -t "$TMO" chunk <&"$from_mon" || true
			REPLY=${buf%"(qemu)"}
			return 0
		fi
	done
	echo "monitor: no prompt from $SOCK" >&2
	return 1
}

until_prompt
printf '%s\n' "$CMD" >&"$to_mon"
until_prompt
exec {to_mon}>&-
wait "$mon_pid" 2>/dev/null || true
# the first line is the monitor echoing the command (with terminal escapes)
reply=${REPLY//$'\r'/}
reply=${reply#*$'\n'}
[[ $REPLY == *$'\n'* ]] || reply=""
printf '%s' "$reply"
# HMP has no status: treat an "Error: ..." line as failure
[[ $'\n'$reply != *$'\n'Error:* ]]
