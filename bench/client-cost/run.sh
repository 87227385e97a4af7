#!/bin/bash
# What one router loop costs per alert at 500/s with each client library (issue #10): an XREADGROUP
# (COUNT 256, BLOCK) and bulk XACK loop through ioredis or hand-written RESP, each entry POSTed by
# nothing, hand-written HTTP/1.1, node:http or undici; CPU (process.cpuUsage) over all but the first
# 1,000 alerts. Needs redis-server and redis-cli.
#   bench/client-cost/run.sh ioredis|raw none|raw|nodehttp|undici [alerts, default 6000]
cd "$(dirname "$0")"
R=$1; H=$2; T=${3:-6000}
RP=$((20000 + RANDOM % 10000)); SP=$((30000 + RANDOM % 10000))
redis-server --port $RP --save '' --appendonly no --daemonize yes --logfile ${TMPDIR:-/tmp}/client-cost-redis-$RP.log >/dev/null
sleep 0.3
node sink.mjs $SP & SINK=$!
sleep 0.3
node consumer.mjs $R $H $RP s $SP $T > ${TMPDIR:-/tmp}/client-cost-out-$RP.txt &
C=$!
until grep -q ready ${TMPDIR:-/tmp}/client-cost-out-$RP.txt 2>/dev/null; do sleep 0.1; done
node producer.mjs $RP s 500 $T
wait $C
grep ms_per ${TMPDIR:-/tmp}/client-cost-out-$RP.txt
kill $SINK; redis-cli -p $RP shutdown nosave >/dev/null 2>&1
