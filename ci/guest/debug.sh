# debug.sh: guest side of the debug lane (busybox sh). Runs the payload
# scripts named in IVS_INNER (comma separated, e.g. "plain.sh"), unloads
# the module if they left it loaded, then asks kmemleak for a scan and
# fails on any leak it reports. One TAP plan of its own (2 results), after
# the inner scripts' plans.
#
# IVS_KMEMLEAK_ROUNDS: scans to run (default 2: an object is reported only
# when a scan finds it unreferenced and unchanged since the previous one).

P=/payload
rc=0
KL=/sys/kernel/debug/kmemleak

IFS=,
for s in $IVS_INNER; do
	unset IFS
	sh "$P/$s" || rc=1
done
unset IFS

echo "1..2"
# Unload what the scripts left loaded: the scan must see the module gone.
grep -q '^ivshmem_ptecheck ' /proc/modules && rmmod ivshmem_ptecheck
if ! grep -q '^ivshmem ' /proc/modules; then
	echo "ok 1 debug: the module is unloaded at the end"
elif rmmod ivshmem; then
	echo "ok 1 debug: the module is unloaded at the end (by this script)"
else
	echo "not ok 1 debug: the module is unloaded at the end (rmmod failed)"
	rc=1
fi

if [ ! -e $KL ]; then
	echo "ok 2 debug: kmemleak reports nothing # SKIP no $KL (not a debug kernel)"
	exit $rc
fi
start=$(date +%s)
n=0
while [ $n -lt "${IVS_KMEMLEAK_ROUNDS:-2}" ]; do
	echo scan >$KL
	n=$((n + 1))
done
leaks=$(cat $KL)
took=$(($(date +%s) - start))
if [ -z "$leaks" ]; then
	echo "ok 2 debug: kmemleak reports nothing ($n scans, $took s)"
else
	echo "$leaks" | sed 's/^/# /'
	echo "not ok 2 debug: kmemleak reports nothing ($n scans, $took s)"
	rc=1
fi
exit $rc
