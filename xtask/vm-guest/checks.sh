#!/bin/sh
# The checks of one boot, run by the cgroupfs boot's PID 1 or by the systemd boot's unit. The
# host judges them: everything it needs comes back as files in its share, each named
# <driver>-<what>; the console only says how far the run got.
set -u
driver=$1
share=/mnt/host
cgbench=$share/guest/cgbench
# iterations, methods (each an --attach value), loads and faults, as the host asked.
. $share/guest/plan
out=$share/$driver
# Every route this cgbench has: the table of each method then covers them all.
routes=cli,api,raw,raw-open

say() { echo "cgbench-vm: $driver: $*"; }

# Seconds since the kernel started: the one clock of the step timings.
now() { cut -d' ' -f1 /proc/uptime; }

# A step's time limit: the slowest takes ~35 s here under TCG. One that outlives it is stuck, and
# what every process waits on then is what the host needs to see, not a boot that times out.
step_limit=300

# What each process waits on (its state, wchan, and the kernel stacks of cgbench's and Docker's
# tasks), and the kernel's list of blocked tasks (SysRq w).
waits() {
    ps -eo pid,ppid,stat,wchan:32,etimes,args
    for proc in /proc/[0-9]*; do
        case "$(cat $proc/comm 2> /dev/null)" in
            cgbench | docker | dockerd | containerd* | runc | systemd) ;;
            *) continue ;;
        esac
        for task in $proc/task/*; do
            echo "--- ${task#/proc/} $(cat $task/comm 2> /dev/null) $(cut -d' ' -f3 $task/stat 2> /dev/null)"
            cat $task/stack 2> /dev/null
        done
    done
    echo w > /proc/sysrq-trigger
    dmesg | tail -n 120
}

# watchdog NAME: once the step NAME has run for step_limit seconds, what everything waits on goes
# to <driver>-hung.txt; then cgbench is interrupted (it cleans up), and killed 30 s later with
# any docker CLI still waiting, so that the boot's remaining steps still run.
watchdog() {
    sleep $step_limit
    say "$1: still running after $step_limit s; what each process waits on is in $driver-hung.txt"
    { echo "=== $1: still running after $step_limit s"; waits; } >> $out-hung.txt 2>&1
    pkill -INT -x cgbench
    sleep 30
    { echo "=== $1: 30 s after SIGINT"; waits; } >> $out-hung.txt 2>&1
    pkill -KILL -x cgbench
    pkill -KILL -x docker
}

# step NAME COMMAND...: runs it and appends its duration and exit code to <driver>-steps.jsonl.
step() {
    local name=$1 started=$(now) code seconds watching
    shift
    watchdog "$name" &
    watching=$!
    "$@"
    code=$?
    kill $watching 2> /dev/null
    seconds=$(echo "$started $(now)" | awk '{printf "%.1f", $2 - $1}')
    echo "{\"step\":\"$name\",\"seconds\":$seconds,\"exit_code\":$code}" >> $out-steps.jsonl
    say "$name: exit $code after $seconds s"
}

dockerd_answers() {
    tries=0
    until docker version > /dev/null 2>&1; do
        tries=$((tries + 1))
        [ $tries -gt 400 ] && return 1
        sleep 0.5
    done
}

doctor() {
    $cgbench doctor --json > $out-doctor.json
    $cgbench doctor > $out-doctor.txt
}

# One line of what a run may leave behind: cgbench's containers, journal entries, tracefs mounts.
leftovers() {
    printf '{"containers":"%s","journal":"%s","tracefs_mounts":%s}\n' \
        "$(docker ps -aq --filter label=org.cgbench.owner | tr '\n' ' ')" \
        "$(ls /var/lib/cgbench/journal 2> /dev/null | tr '\n' ' ')" \
        "$(grep -c ' tracefs ' /proc/mounts)"
}

# compare_run NAME ROUTES ARGS...: `cgbench compare` on ROUTES; its report, table, stderr, exit
# code and what it left before and after, as <driver>-NAME.*.
compare_run() {
    local name=$1 routes=$2 code
    shift 2
    leftovers > $out-$name.left
    $cgbench compare --iterations $iterations --routes $routes --quiet --json $out-$name.json "$@" \
        > $out-$name.txt 2> $out-$name.stderr
    code=$?
    echo $code > $out-$name.exit
    leftovers >> $out-$name.left
    return $code
}

# load_run LOAD METHOD: `cgbench compare --load LOAD --attach METHOD` on cgbench's own container,
# the raw and API routes, as <driver>-load-LOAD.*. Memory values small enough for the workload
# to fill them quickly under TCG; no warm-up, so that the report holds every trial and each
# direction can be replayed from the starting limits (the recordings in analysis/pairing).
load_run() {
    compare_run load-$1 api,raw --warmup 0 --load $1 --attach $2 --memory-values 64m,128m \
        --events $out-load-$1.events
}

# The container --container runs measure, made as a user would make it; its limit files and
# Docker's (and systemd's) record of them are read before and after each run.
target_container() {
    image=$($cgbench image) || return 1
    # In a cgroup namespace of its own, Docker's default on cgroup v2.
    target=$(docker run -d --name cgbench-vm-target --network none --memory 256m --memory-swap 1g \
        --cpus 0.5 "$image") || return 1
    pid=$(docker inspect -f '{{.State.Pid}}' $target)
    cgroup=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/$pid/cgroup)
}

remove_target() {
    docker rm -f $target > /dev/null
}

limits() {
    for file in memory.max memory.swap.max memory.high memory.low memory.min cpu.max cpu.weight pids.max; do
        echo "$file $(cat $cgroup/$file)"
    done
    docker inspect -f 'docker: memory {{.HostConfig.Memory}} swap {{.HostConfig.MemorySwap}} nano_cpus {{.HostConfig.NanoCpus}}' $target
    if [ $driver = systemd ]; then
        systemctl show docker-$target.scope -p MemoryMax -p MemorySwapMax -p CPUQuotaPerSecUSec
    fi
}

on_target() {
    local name=$1 code
    shift
    limits > $out-$name.limits-before
    compare_run $name $routes --container $target "$@"
    code=$?
    limits > $out-$name.limits-after
    return $code
}

# fault NAME COMMAND...: a run on cgbench's own container, broken by COMMAND once its trials
# are under way.
fault() {
    local name=$1 run code
    shift
    leftovers > $out-$name.left
    $cgbench compare --iterations $iterations --routes api,raw-open --json $out-$name.json \
        > $out-$name.txt 2> $out-$name.stderr &
    run=$!
    # Off a terminal, progress comes as a line per tenth of the run: the first says trials run.
    until grep -q '^cgbench: ' $out-$name.stderr || ! kill -0 $run 2> /dev/null; do
        sleep 0.2
    done
    "$@"
    wait $run
    code=$?
    echo $code > $out-$name.exit
    leftovers >> $out-$name.left
    return $code
}

kill_container() {
    docker kill $(docker ps -q --filter label=org.cgbench.owner) > /dev/null
}

echo "{\"step\":\"kernel start to checks\",\"seconds\":$(now),\"exit_code\":0}" >> $out-steps.jsonl
say "checks start $(now) s after the kernel"
step "dockerd answers" dockerd_answers
step doctor doctor
for method in $methods; do
    case $method in
        # auto runs on cgbench's own container, with every kernel event kept as a fixture.
        auto) step "compare --attach auto" compare_run auto $routes --attach auto --events $out-auto.events ;;
        *)
            [ -n "${target:-}" ] || step "target container" target_container
            step "compare --attach $method" on_target $method --attach $method
            ;;
    esac
done
# A step too: the watchdog covers a dockerd stuck removing it.
[ -n "${target:-}" ] && step "target container removed" remove_target
for load in $loads; do
    # Where the write probes are fentry/fexit (auto) and kprobes: the effect probes beside each.
    case $load in
        cpu) step "compare --load cpu --attach auto" load_run cpu auto ;;
        memory) step "compare --load memory --attach kprobe" load_run memory kprobe ;;
    esac
done
for fault in $faults; do
    case $fault in
        kill) step "container killed mid-run" fault kill kill_container ;;
        restart) step "docker restarted mid-run" fault restart systemctl restart docker ;;
    esac
done
say "done $(now) s after the kernel"
touch $out.done
