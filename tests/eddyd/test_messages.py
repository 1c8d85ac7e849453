"""test_messages — what eddyd says when it cannot start or is told something it does not know,
against the real binary (tests/harness/eddyd.py finds it; run with /usr/bin/python3).

Each case runs eddyd and asserts its exit code and the message it prints: settings (unknown with
"did you mean", unsupported with why, bad values, in --set and in --config files), --list-settings
(a description and the current value of every setting, loadable back as --config), the data
directory (a file, a path through a file, no permission, locked by a running eddyd with its pid),
ports (a taken Kafka or HTTP port fails before anything is written to disk), the default HTTP port,
and topic configs through a real Kafka client (kafka-python): unknown, unsupported, invalid.
"""
import atexit
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from eddyd import Eddyd, eddyd_bin  # noqa: E402

TMP = tempfile.mkdtemp(prefix="eddy-msg-")
atexit.register(shutil.rmtree, TMP, True)
failures = []


def run(*args, user=None, timeout=30):
    cmd = [eddyd_bin()] + list(args)
    if user is not None:
        cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + cmd
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout, cwd=TMP)
    return p.returncode, p.stdout + p.stderr


def check(name, cond, detail=""):
    print("%s %s" % ("ok  " if cond else "FAIL", name))
    if not cond:
        failures.append(name)
        print("     " + detail.replace("\n", "\n     "))


def expect(name, args, rc, pattern, user=None):
    got, out = run(*args, user=user)
    check(name, got == rc and re.search(pattern, out) is not None,
          "exit %d (want %d), output:\n%s\nwanted /%s/" % (got, rc, out, pattern))
    return out


def free_dir(name):
    return os.path.join(TMP, name)


# ------------------------------------------------------------------ settings ----

expect("unknown setting: did you mean", ["--set", "log.retension.ms=5"], 2,
       r'unknown setting "log\.retension\.ms" \(did you mean "log\.retention\.ms"\?')
expect("unknown setting far from any: no guess", ["--set", "frobnicate=1"], 2,
       r'unknown setting "frobnicate" \(eddyd --list-settings prints every setting\)')
expect("unsupported Kafka setting named as unsupported", ["--set", "default.replication.factor=3"],
       2, r'unsupported setting "default\.replication\.factor": a single node keeps one replica')
expect("log.dirs points at --data-dir", ["--set", "log.dirs=/var/lib/kafka"], 2,
       r'unsupported setting "log\.dirs": use --data-dir DIR')
expect("an ssl.* setting eddyd does not have", ["--set", "ssl.provider=SunJSSE"], 2,
       r'unsupported setting "ssl\.provider" \(eddyd --list-settings prints the ssl\.\* and sasl\.\*')
expect("TLS listener without a usable keystore", ["--http", "off", "--data-dir",
       free_dir("tls"), "--set", "listeners=SSL://127.0.0.1:0", "--set",
       "ssl.keystore.location=/nonexistent/k.pem"], 1,
       r'listener SSL: cannot read the certificate chain from /nonexistent/k\.pem')
expect("listener name without a protocol", ["--http", "off", "--data-dir", free_dir("l2"),
       "--set", "listeners=INTERNAL://127.0.0.1:0"], 1,
       r'INTERNAL is neither a security protocol .* nor a name of '
       r'listener\.security\.protocol\.map')
expect("bad value", ["--set", "num.partitions=many"], 2,
       r'num\.partitions: expected an integer, got "many"')
expect("out of range", ["--set", "num.partitions=0"], 2, r"num\.partitions: 0 is out of range")
cfg = os.path.join(TMP, "bad.properties")
with open(cfg, "w") as f:
    f.write("# a comment\nnum.partitions=3\nlog.segmnet.bytes=100000\n")
expect("unknown setting in --config names file and line", ["--config", cfg], 2,
       re.escape(cfg) + r':3: unknown setting "log\.segmnet\.bytes" \(did you mean '
       r'"log\.segment\.bytes"\?')

# --list-settings: a description line and the current value of every setting
rc, out = run("--set", "num.partitions=7", "--list-settings")
lines = out.splitlines()
pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]
check("--list-settings exits 0", rc == 0, out)
check("--list-settings: every setting has a description line",
      len(lines) % 2 == 0 and len(pairs) >= 20 and
      all(d.startswith("# ") and len(d) > 12 and re.match(r"^[a-z0-9.]+=", kv) for d, kv in pairs),
      out)
check("--list-settings shows current values, and the default when changed",
      "num.partitions=7" in lines and
      any(d.startswith("# ") and 'default "1"' in d and kv == "num.partitions=7"
          for d, kv in pairs), out)
check("--list-settings shows the default HTTP port 127.0.0.1:8081",
      "http.listeners=127.0.0.1:8081" in lines, out)
listed = os.path.join(TMP, "listed.properties")
with open(listed, "w") as f:
    f.write(out)
rc2, out2 = run("--config", listed, "--list-settings")
check("--list-settings output loads back as --config, same values", rc2 == 0 and out2 == out,
      out2)
rc, out = run("--help")
check("--help documents the default HTTP port and off",
      rc == 0 and "127.0.0.1:8081" in out and '"off"' in out, out)

# ------------------------------------------------------------------ data directory ----

afile = os.path.join(TMP, "afile")
with open(afile, "w") as f:
    f.write("not a directory\n")
expect("data dir is a file", ["--data-dir", afile, "--listen", "127.0.0.1:0", "--http", "off"], 1,
       r"data directory %s is not a directory \(it is a file\): pass --data-dir a directory"
       % re.escape(afile))
expect("data dir below a file", ["--data-dir", afile + "/sub", "--listen", "127.0.0.1:0",
                                 "--http", "off"], 1,
       r"cannot create data directory %s/sub: a part of that path is a file, not a directory"
       % re.escape(afile))

# permissions: as root, run eddyd as nobody; as anyone else, a directory of root's does it
os.chmod(TMP, 0o755)
locked = free_dir("private")
os.mkdir(locked, 0o700)
nobody = 65534 if os.geteuid() == 0 else None
if nobody is None:
    os.chmod(locked, 0o000)
expect("data dir without permission names owner, mode and uid",
       ["--data-dir", locked, "--listen", "127.0.0.1:0", "--http", "off"], 1,
       r"data directory %s: no permission to read and write it \(it belongs to uid \d+, mode "
       r"[0-7]{3}; eddyd runs as uid \d+\): fix its owner or mode" % re.escape(locked),
       user=nobody)
expect("data dir in a parent without permission",
       ["--data-dir", os.path.join(locked, "sub"), "--listen", "127.0.0.1:0", "--http", "off"],
       1, r"cannot create data directory %s/sub: no permission to write its parent"
       % re.escape(locked), user=nobody)
os.chmod(locked, 0o700)

# locked by a running eddyd: the message names its pid
b = Eddyd()
try:
    expect("data dir locked by a running eddyd names its pid",
           ["--data-dir", b.data, "--listen", "127.0.0.1:0", "--http", "off"], 1,
           r"data directory %s is locked by another eddyd \(pid %d\): stop that one"
           % (re.escape(os.path.realpath(b.data)), b.proc.pid))

    # a taken Kafka port: refused before the data directory is even created
    fresh = free_dir("fresh-kafka")
    expect("Kafka port taken: says so", ["--data-dir", fresh, "--listen", b.bootstrap,
                                         "--http", "off"], 1,
           r"cannot listen on %s: Address already in use \(another process has this port"
           % re.escape(b.bootstrap))
    check("Kafka port taken: nothing written to disk", not os.path.exists(fresh))
finally:
    b.stop()

s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
taken = "127.0.0.1:%d" % s.getsockname()[1]
fresh = free_dir("fresh-http")
expect("HTTP port taken: says so and how to avoid it",
       ["--data-dir", fresh, "--listen", "127.0.0.1:0", "--http", taken], 1,
       r"HTTP listen on %s: Address already in use \(pass another --http HOST:PORT, or --http "
       r"off\)" % re.escape(taken))
check("HTTP port taken: nothing written to disk", not os.path.exists(fresh))
s.close()

# ------------------------------------------------------------------ topic configs ----

from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402

b = Eddyd()
try:
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=10000)

    def create_error(name, configs):
        try:
            admin.create_topics([NewTopic(name, 1, 1, topic_configs=configs)])
        except Exception as e:  # kafka-python raises with the response (and its message)
            return str(e)
        return ""

    e = create_error("t1", {"retention.msx": "1000"})
    check("unknown topic config named unknown, with did-you-mean",
          "Unknown topic config name: retention.msx (did you mean retention.ms?)" in e, e)
    e = create_error("t2", {"min.compaction.lag.ms": "1000", "message.format.version": "2.8"})
    check("every Kafka topic config is accepted (min.compaction.lag.ms, message.format.version)",
          e == "", e)
    e = create_error("t3", {"retention.ms": "soon"})
    check("invalid topic config value named invalid",
          "Invalid value soon for configuration retention.ms" in e, e)
    e = create_error("t4", {"retention.ms": "1000"})
    check("a good topic config still works", e == "", e)
    admin.close()
finally:
    b.stop()

if failures:
    print("%d failed: %s" % (len(failures), ", ".join(failures)))
    sys.exit(1)
print("all eddyd message checks passed")
