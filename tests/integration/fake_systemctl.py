#!/usr/bin/python3
"""A stand-in for `systemctl` driving Debian 12's etcd.service, for a test
container without systemd as PID 1 (cpr runs it as $CPR_SYSTEMCTL).

    fake_systemctl.py start|stop|is-active [--no-block] etcd

It starts a REAL /usr/bin/etcd as the unit would: Environment=ETCD_NAME=%H
and ETCD_DATA_DIR=/var/lib/etcd/default (under the root), then
EnvironmentFile=-ROOT/etc/default/etcd, read by a shell the way Debian's
init script reads it (`set -a; . /etc/default/etcd`), so the test's oracle
for that file is not CPR's parser; `/usr/bin/etcd $DAEMON_ARGS`. The root
is $FAKE_SYSTEMD_ROOT. etcd's PID goes to ROOT/run/fake-systemd/etcd.pid,
its output to ROOT/var/log/fake-etcd.log, every call to
ROOT/var/log/fake-systemctl.calls. stop: SIGTERM that PID (and wait for it
to exit unless --no-block).
"""
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.environ["FAKE_SYSTEMD_ROOT"]
PIDFILE = os.path.join(ROOT, "run/fake-systemd/etcd.pid")


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def running_pid():
    try:
        with open(PIDFILE) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0
    return pid if pid > 0 and alive(pid) else 0


def unit_env():
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "ETCD_NAME": socket.gethostname(),
           "ETCD_DATA_DIR": os.path.join(ROOT, "var/lib/etcd/default"), "DAEMON_ARGS": ""}
    path = os.path.join(ROOT, "etc/default/etcd")
    if os.path.exists(path):
        out = subprocess.run(["/bin/sh", "-c", 'set -a; . "$1"; exec env -0', "sh", path],
                             capture_output=True, env=env, check=True).stdout
        for item in out.split(b"\0"):
            if b"=" in item:
                k, v = item.split(b"=", 1)
                env[k.decode()] = v.decode()
    return env


def start():
    if running_pid():
        return 0
    env = unit_env()
    os.makedirs(os.path.dirname(PIDFILE), exist_ok=True)
    os.makedirs(os.path.join(ROOT, "var/log"), exist_ok=True)
    log = open(os.path.join(ROOT, "var/log/fake-etcd.log"), "ab")
    p = subprocess.Popen(["/usr/bin/etcd"] + env["DAEMON_ARGS"].split(), env=env, stdout=log,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, cwd="/")
    with open(PIDFILE + ".tmp", "w") as f:
        f.write("%d\n" % p.pid)
    os.rename(PIDFILE + ".tmp", PIDFILE)
    return 0


def stop(block):
    pid = running_pid()
    if not pid:
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 30
    while block and alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    return 0


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    os.makedirs(os.path.join(ROOT, "var/log"), exist_ok=True)
    with open(os.path.join(ROOT, "var/log/fake-systemctl.calls"), "a") as f:
        f.write(" ".join(argv) + "\n")
    if len(args) != 2 or args[1] not in ("etcd", "etcd.service"):
        print("fake systemctl: usage: start|stop|is-active [--no-block] etcd", file=sys.stderr)
        return 2
    if args[0] == "start":
        return start()
    if args[0] == "stop":
        return stop("--no-block" not in argv)
    if args[0] == "is-active":
        return 0 if running_pid() else 3
    print("fake systemctl: unknown verb %s" % args[0], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
