"""test_install.py — `cmake --install` (what `make install` runs) into a temporary DESTDIR, then
the installed tree used the way a user would, with nothing from the build tree:

- the layout: bin/eddyd, bin/eddy, lib/libeddy.so.0.1.0 with soname libeddy.so.0 (+ the two
  links), lib/libeddy.a, include/eddy/*.h, lib/pkgconfig/eddy.pc, lib/cmake/Eddy/*.cmake;
- `eddy --version` / `eddyd --version` (installed) print the version and the git commit;
- examples/publisher.c compiled with only `pkg-config --cflags --libs eddy` (PKG_CONFIG_PATH at
  the staged tree), examples/consumer.c through CMake find_package(Eddy) against the static
  library, and the program in docs/sdk.md's quick start with the compile line the doc shows;
- all three run against the installed eddyd: the publisher's events reach the consumer and
  the doc's program publishes its event.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ["EDDY_SOURCE_DIR"]
BUILD = os.environ["EDDY_BUILD_DIR"]
PREFIX = "/usr/local"
sys.path.insert(0, os.path.join(SRC, "tests/harness"))


def run(args, env=None, cwd=None, timeout=120, check=True, shell=False):
    p = subprocess.run(args, env=env, cwd=cwd, timeout=timeout, shell=shell,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d:\n%s" % (args, p.returncode, p.stdout))
    return p


def main():
    tmp = tempfile.mkdtemp(prefix="eddy-install-")
    try:
        dest = os.path.join(tmp, "stage")
        env = dict(os.environ, DESTDIR=dest)
        run(["cmake", "--install", BUILD, "--prefix", PREFIX], env=env)
        root = dest + PREFIX
        # the library directory GNUInstallDirs chose (lib, or lib/<multiarch> for /usr)
        pcs = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f == "eddy.pc"]
        assert len(pcs) == 1, pcs
        libdir = os.path.dirname(os.path.dirname(pcs[0]))
        for f in ["bin/eddyd", "bin/eddy", "include/eddy/eddy.h", "include/eddy/schema.h",
                  "share/bash-completion/completions/eddy"]:
            assert os.path.isfile(os.path.join(root, f)), f
        for f in ["libeddy.so.0.1.0", "libeddy.a", "cmake/Eddy/EddyConfig.cmake",
                  "cmake/Eddy/EddyConfigVersion.cmake"]:
            assert os.path.isfile(os.path.join(libdir, f)), f
        assert os.readlink(os.path.join(libdir, "libeddy.so.0")) == "libeddy.so.0.1.0"
        assert os.readlink(os.path.join(libdir, "libeddy.so")) == "libeddy.so.0"
        dyn = run(["readelf", "-d", os.path.join(libdir, "libeddy.so.0.1.0")]).stdout
        assert "Library soname: [libeddy.so.0]" in dyn, dyn

        run(["bash", "-n", os.path.join(root, "share/bash-completion/completions/eddy")])
        ver = re.compile(r"^%s 0\.1\.0 \(commit ([0-9a-f]{12}(-dirty)?|unknown)\)$")
        out = run([os.path.join(root, "bin/eddy"), "--version"]).stdout.splitlines()
        assert re.match(ver.pattern % "eddy", out[0]), out
        assert out[1].startswith("librdkafka "), out
        out = run([os.path.join(root, "bin/eddyd"), "--version"]).stdout.strip()
        assert re.match(ver.pattern % "eddyd", out), out

        # pkg-config only
        penv = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"))
        assert run(["pkg-config", "--modversion", "eddy"], env=penv).stdout.strip() == "0.1.0"
        cflags = run(["pkg-config", "--cflags", "--libs", "eddy"], env=penv).stdout.strip()
        assert "-I" + dest in cflags.replace("//", "/") or dest in cflags, cflags
        work = os.path.join(tmp, "work")
        os.makedirs(work)
        rpath = "-Wl,-rpath," + libdir
        run("cc %s/examples/publisher.c $(pkg-config --cflags --libs eddy) %s -o publisher"
            % (SRC, rpath), env=penv, cwd=work, shell=True)
        ldd = run(["ldd", os.path.join(work, "publisher")]).stdout
        assert os.path.join(libdir, "libeddy.so.0") in ldd, ldd  # the installed one

        # CMake find_package(Eddy), static library
        cm = os.path.join(tmp, "cmake-ex")
        run(["cmake", "-S", os.path.join(SRC, "examples"), "-B", cm,
             "-DCMAKE_PREFIX_PATH=" + root, "-DEDDY_EXAMPLES_STATIC=ON"], env=penv)
        run(["cmake", "--build", cm], env=penv)
        consumer = os.path.join(cm, "eddy-example-consumer")
        assert "libeddy" not in run(["ldd", consumer]).stdout  # linked statically

        # docs/sdk.md: the quick start's program and compile line, exactly as shown
        doc = open(os.path.join(SRC, "docs/sdk.md")).read()
        qs = doc[doc.index("## Quick start"):]
        qs = qs[:qs.index("\n## ", 4)]
        prog = re.search(r"```c\n(.*?)```", qs, re.S).group(1)
        cc_line = [l for l in re.findall(r"```sh\n(.*?)```", qs, re.S)[1].splitlines()
                   if l.startswith("cc ")][0]
        with open(os.path.join(work, "hello.c"), "w") as f:
            f.write(prog)
        run(cc_line + " " + rpath, env=penv, cwd=work, shell=True)

        # run everything against the installed eddyd
        os.environ["EDDYD"] = os.path.join(root, "bin/eddyd")
        from eddyd import Eddyd
        b = Eddyd()
        renv = dict(os.environ, EDDY_BOOTSTRAP_SERVERS=b.bootstrap)
        renv.pop("EDDY_STORE", None)
        out = run([os.path.join(work, "publisher"), "4"], env=renv, cwd=work).stdout
        assert "published 4 greeting(s) to example.greetings" in out, out
        out = run([consumer, "4"], env=renv, cwd=work).stdout
        names = sorted(re.findall(r"hello, (guest-\d+)", out))
        assert names == ["guest-1", "guest-2", "guest-3", "guest-4"], out
        assert "welcomed 4 guest(s)" in out, out
        out = run([os.path.join(work, "hello")], env=renv, cwd=work).stdout
        assert "published 1 event(s)" in out, out
        eddy = os.path.join(root, "bin/eddy")
        out = run([eddy, "-b", b.bootstrap, "consume", "hello.events", "--from-beginning",
                   "--json"], env=renv).stdout
        assert '"hello.said"' in out, out
        b.stop()
        print("ok: installed into DESTDIR, built with pkg-config / find_package / the doc's line, "
              "ran against the installed eddyd")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
