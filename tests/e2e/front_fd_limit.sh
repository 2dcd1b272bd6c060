# The collector out of file descriptors: more clients connect than its
# RLIMIT_NOFILE lets it accept. The connections waiting in the listen queue
# keep the socket readable; the front must stop watching it until the next
# tick rather than spin on EMFILE (a core a thread, for as long as the
# clients stay), and serve again once they leave.
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/front_fd_limit.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export STS_NOW_DAY=2026-11-20
sts_keygen

# A soft limit only: the clients below raise theirs back.
ulimit -S -n 64 || sts_die "cannot lower the descriptor limit"
sts_start "$STS_TMP/err" --db "sqlite:$STS_TMP/db" --key "$STS_TMP/key" --header-timeout 30
python3 - "$SRV_PORT" "$SRV_PID" <<'PY' || sts_die "the collector spun or stopped serving"
import os, resource, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
tick = os.sysconf("SC_CLK_TCK")

def cpu():
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick

held = []
for _ in range(150): # over the 64 descriptors: the rest wait in the queue
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    held.append(s)
time.sleep(0.5)
before = cpu()
time.sleep(3)
used = cpu() - before
print("collector CPU with %d connections held: %.2f s in 3 s" % (len(held), used))
for s in held:
    s.close()
# A spinning thread uses about 3 s here; an idle collector next to nothing.
if used > 1.0:
    print("FAIL: the collector used %.2f s of CPU in 3 s while out of descriptors" % used)
    sys.exit(1)
# Served again once the connections are gone.
for _ in range(50):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.settimeout(2)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        if s.recv(100).startswith(b"HTTP/1.1 200 "):
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
print("FAIL: /healthz not answered after the connections closed")
sys.exit(1)
PY
kill -0 "$SRV_PID" 2>/dev/null || sts_die "the collector exited"
sts_stop "$SRV_PID"
echo "front fd limit: no spin while out of descriptors, served again after"
