#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The container image (issue 17), run for real with podman: the image container/build made
(its own build directory and podman storage, CONTAINER_BUILDDIR, default build-container; the
tests use it through container/podman and never build it), and the deployment files of
data/deploy/ as they are shipped.

ImageTest: what the image is (non-root, its entry point, health check, labels and volumes, its
size under the 9 MB target, nothing but portmapd and the files it uses).

ContainerLabTest, in the namespace lab (tests/lab/pmlab.py): the image in `lan` with the
replaced tools' environments against the lab's natpmp-http-api fake and PIA fake; `podman kube
play` of the Kubernetes files (under `nsenter --net` with --network host, as podman 4.3 refuses
--network ns: there; its Secrets made with `podman secret create`, which 4.3 needs) and
podman-compose of the Compose files. No image can be pulled: the application containers of
those files (my-app, gluetun, qbittorrent) are images made here from Debian's busybox-static,
and what the lab must change in a file (an application's image and command, gluetun's network
being lan's, the fakes' CA and token URL) is an override, never an edit of the shipped file.

Each test method is one meson test (suite "container")."""

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "lab"))
import pmlab  # noqa: E402
from peer_qbittorrent import QbittorrentPeer  # noqa: E402

PODMAN = os.path.join(TOP, "container", "podman")
COMPOSE_PODMAN = os.path.join(HERE, "compose-podman")
DEPLOY = os.path.join(TOP, "data", "deploy")
BUILDDIR = os.environ.get("CONTAINER_BUILDDIR") or "build-container"
BUILDDIR = BUILDDIR if os.path.isabs(BUILDDIR) else os.path.join(TOP, BUILDDIR)
STAGED = os.path.join(BUILDDIR, "stage", "staged.json")
SIZES = os.path.join(BUILDDIR, "stage", "sizes.json")
IMAGE = "localhost/portmap:latest"
# the replaced natpmp-http-api client's image is "~9 MB": portmap's is no larger (10^6 bytes)
TARGET_BYTES = 9_000_000
BUSYBOX = "/bin/busybox"
BUSYBOX_IMAGE = "localhost/pmtest-busybox:latest"
# the sidecar's application: an echo server on its containerPort
MY_APP_IMAGE = "localhost/my-app:latest"
APP_PORT = 6881
TEST_LABEL = "org.portmap.test=container"
STOP_LIMIT = 10.0
# the pods `kube play` makes of data/deploy/kubernetes/ (removed before and after each test)
KUBE_PODS = ("my-app-pod-0", "pia-portforward-pod-0")


def podman(*args, check=True, timeout=120, **kw):
    cp = subprocess.run([PODMAN, *[str(a) for a in args]], capture_output=True, text=True,
                        timeout=timeout, **kw)
    if check and cp.returncode != 0:
        raise AssertionError(f"podman {' '.join(map(str, args))}: exit {cp.returncode}: "
                             f"{cp.stderr.strip()}")
    return cp


def inspect(name, what="container"):
    return json.loads(podman(what, "inspect", name).stdout)[0]


def image_exists(name):
    return podman("image", "exists", name, check=False).returncode == 0


def build_image(tag, files, containerfile):
    """A small image of @files ({path in image: host file or ("symlink", target)})."""
    ctx = tempfile.mkdtemp(prefix="pmtest-image-")
    try:
        for path, source in files.items():
            dest = os.path.join(ctx, "rootfs", path.lstrip("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if isinstance(source, tuple):
                os.symlink(source[1], dest)
            else:
                shutil.copy2(source, dest)
        with open(os.path.join(ctx, "Containerfile"), "w") as f:
            f.write(containerfile)
        podman("build", "--quiet", "--format", "docker", "--pull=never", "--layers=false",
               "--tag", tag, ctx, timeout=300)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)


def ensure_substitute_images():
    """The application containers' stand-ins, from Debian's busybox-static."""
    if not os.path.exists(BUSYBOX):
        raise AssertionError(f"{BUSYBOX} is missing: install busybox-static (tests/install-deps)")
    if not image_exists(BUSYBOX_IMAGE):
        files = {"/bin/busybox": BUSYBOX}
        for applet in ("sh", "sleep", "cat", "nc"):
            files[f"/bin/{applet}"] = ("symlink", "busybox")
        # PID 1 without a SIGTERM handler: SIGKILL, or every stop would wait 10 s
        build_image(BUSYBOX_IMAGE, files,
                    "FROM scratch\nCOPY rootfs/ /\nSTOPSIGNAL SIGKILL\n"
                    "ENTRYPOINT [\"/bin/busybox\"]\nCMD [\"sleep\", \"3600\"]\n")
    if not image_exists(MY_APP_IMAGE):
        # an echo server: what reaches it through the mapping comes back
        build_image(MY_APP_IMAGE, {}, f"FROM {BUSYBOX_IMAGE}\n"
                    f"ENTRYPOINT [\"/bin/nc\", \"-ll\", \"-p\", \"{APP_PORT}\", \"-e\", "
                    f"\"/bin/cat\"]\nCMD []\n")


def require_image():
    if not image_exists(IMAGE):
        raise AssertionError(f"no {IMAGE} in {BUILDDIR}: run container/build first")


def save_image(name, path):
    podman("save", "--format", "docker-archive", "--output", path, name, timeout=300)


def image_files(archive):
    """{path: (type, mode, uid, gid, size)} of every layer of a docker-archive, in order."""
    files = {}
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                for m in inner.getmembers():
                    path = "/" + m.name.lstrip("./").rstrip("/")
                    kind = "dir" if m.isdir() else "file" if m.isfile() else "other"
                    files[path] = (kind, m.mode & 0o7777, m.uid, m.gid, m.size)
    return files


class ImageTest(unittest.TestCase):
    def setUp(self):
        require_image()
        self.image = inspect(IMAGE, "image")

    def test_a_image_is_non_root_with_entry_point_health_check_and_labels(self):
        config = self.image["Config"]
        self.assertEqual(config["User"], "1000:1000")
        self.assertEqual(config["Entrypoint"],
                         ["portmapd", "--no-bus", "--config-from-env", "--state-dir", "/config"])
        self.assertFalse(config.get("Cmd"))
        self.assertEqual(sorted(config["Volumes"]), ["/config", "/run/portmap"])
        self.assertEqual(config["StopSignal"], "SIGTERM")
        # exec form (no shell in the image): podman keeps it with --format docker only
        self.assertEqual(self.image["Healthcheck"]["Test"], ["CMD", "portmapd", "--health"])
        labels = self.image["Labels"]
        for key in ("title", "description", "version", "revision", "licenses"):
            self.assertTrue(labels.get(f"org.opencontainers.image.{key}"), key)
        self.assertEqual(labels["org.opencontainers.image.licenses"], "GPL-2.0-or-later")

    def test_b_image_size_under_target(self):
        compressed = int(subprocess.run(
            ["sh", "-c", f"'{PODMAN}' save {IMAGE} | gzip -c | wc -c"], check=True,
            capture_output=True, text=True, timeout=300).stdout)
        raw = int(subprocess.run(["sh", "-c", f"'{PODMAN}' save {IMAGE} | wc -c"], check=True,
                                 capture_output=True, text=True, timeout=300).stdout)
        print(f"image {IMAGE}: podman save | gzip -c | wc -c = {compressed:,} bytes "
              f"(target {TARGET_BYTES:,}), uncompressed {raw:,} bytes")
        with open(SIZES) as f:
            for part, s in json.load(f)["parts"].items():
                print(f"  {part:44} {s['files']:3} files {s['bytes']:11,} bytes "
                      f"{s['gzip']:11,} gzip")
        self.assertLessEqual(compressed, TARGET_BYTES)

    def test_c_version_and_health_check_run(self):
        version = self.image["Labels"]["org.opencontainers.image.version"]
        cp = podman("run", "--rm", "--network", "none", IMAGE, "--version")
        self.assertEqual(cp.stdout.strip(), f"portmapd {version}")
        # the health check's command where no portmapd has written status.json: it fails
        # and says why
        cp = podman("run", "--rm", "--network", "none", "--entrypoint", "portmapd", IMAGE,
                    "--health", check=False)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("/run/portmap/status.json", cp.stderr)

    def test_d_build_options_say_what_is_left_out(self):
        """-Dbus=disabled: without --no-bus portmapd says this build has no bus;
        -Dnftables=disabled: Router=nftables is a configuration error naming the build."""
        cp = podman("run", "--rm", "--network", "none", "--entrypoint", "portmapd", IMAGE,
                    "--config", "/dev/null", "--state-dir", "/config", check=False)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("built without the system bus (-Dbus=disabled): run it with --no-bus",
                      cp.stderr)
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o755)
            conf = os.path.join(d, "gw.conf")
            with open(conf, "w") as f:
                f.write("[Provider vpn]\nType=natpmp\nGateway=10.2.0.1\n[Gateway]\n"
                        "Listen=192.168.1.1\nAllowedNetworks=192.168.1.0/24\nUpstream=vpn\n"
                        "Router=nftables\n")
            os.chmod(conf, 0o644)
            cp = podman("run", "--rm", "--network", "none", "-v", f"{d}:/etc/portmap:ro",
                        "--entrypoint", "portmapd", IMAGE, "--no-bus", "--config",
                        "/etc/portmap/gw.conf", "--state-dir", "/config", check=False)
        self.assertEqual(cp.returncode, 2)
        self.assertIn("Router=nftables: this portmapd was built without it "
                      "(-Dnftables=disabled", cp.stderr)

    def test_e_nothing_but_portmapd_and_its_files(self):
        """The image's files are the staged list, and its ELF files are portmapd, libsoup,
        GIO's TLS module and what they need (DT_NEEDED, PT_INTERP) - no shell, nothing else."""
        with tempfile.TemporaryDirectory() as d:
            archive = os.path.join(d, "image.tar")
            save_image(IMAGE, archive)
            files = image_files(archive)
            with open(STAGED) as f:
                staged = {e["path"]: (e["type"], e["mode"], e["uid"], e["gid"], e["size"])
                          for e in json.load(f)}
            self.assertEqual(sorted(files), sorted(staged))
            self.assertEqual(files, staged)
            print(f"{len(files)} entries in the image:")
            for path, (kind, mode, uid, gid, size) in sorted(files.items()):
                print(f"  {kind:4} {mode:04o} {uid}:{gid} {size:9} {path}")
            for volume in ("/config", "/run/portmap"):
                self.assertEqual(files[volume][:4], ("dir", 0o755, 1000, 1000))
            self.assertNotIn("/bin/sh", files)
            self.assertFalse([p for p in files if "busybox" in p or p.endswith("/sh")])
            # the closure, from the image's own ELF files
            root = os.path.join(d, "root")
            with tarfile.open(archive) as outer:
                manifest = json.load(outer.extractfile("manifest.json"))
                for layer in manifest[0]["Layers"]:
                    with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                        inner.extractall(root)
            def is_elf(path):
                with open(root + path, "rb") as f:
                    return f.read(4) == b"\x7fELF"
            elf = {p for p, (kind, *_rest) in files.items() if kind == "file" and is_elf(p)}
            libdirs = sorted({os.path.dirname(p) for p in elf if ".so" in p})
            roots = {"/usr/bin/portmapd"}
            roots |= {p for p in elf if os.path.basename(p).startswith("libsoup-3.0.so")}
            roots |= {p for p in elf if "/gio/modules/" in p}
            self.assertEqual(len(roots), 3, roots)
            needed, todo = set(), list(roots)
            while todo:
                path = todo.pop()
                if path in needed:
                    continue
                needed.add(path)
                dyn = subprocess.run(["readelf", "-d", "-l", "-W", root + path], check=True,
                                     capture_output=True, text=True).stdout
                for line in dyn.splitlines():
                    if "(NEEDED)" in line:
                        soname = line.split("[", 1)[1].rstrip("]")
                        where = [os.path.join(dir, soname) for dir in libdirs
                                 if os.path.join(dir, soname) in files]
                        self.assertTrue(where, f"{path} needs {soname}, not in the image")
                        todo.append(where[0])
                    if "Requesting program interpreter:" in line:
                        interp = line.split(":", 1)[1].strip().rstrip("]")
                        self.assertIn(interp, files)
                        todo.append(interp)
            self.assertEqual(sorted(elf - needed), [], "libraries nothing needs")
            data = {p for p, (kind, *_rest) in files.items() if kind == "file"} - elf
            self.assertEqual(sorted(data), sorted([
                "/etc/nsswitch.conf", "/etc/ssl/certs/ca-certificates.crt",
                "/usr/lib/x86_64-linux-gnu/gio/modules/giomodule.cache",
                "/usr/share/portmap/pia-ca.rsa.4096.crt"]))


class ContainerLabTest(unittest.TestCase):
    def setUp(self):
        require_image()
        self.workdir = tempfile.mkdtemp(prefix="portmap-container-")
        os.chmod(self.workdir, 0o755)
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.lab = pmlab.Lab(gateway="miniupnpd")
        self.lab.up()
        self.addCleanup(self.lab.down)
        self.suffix = self.lab.suffix
        self.netns = os.path.join(pmlab.RUN_NETNS, self.lab.ns_lan)
        # containers of a run that died: their processes died with its pid namespace
        self.remove_test_containers()
        self.addCleanup(self.remove_test_containers)

    def remove_test_containers(self):
        for pod in KUBE_PODS:
            podman("pod", "rm", "--force", pod, check=False)
        names = podman("ps", "-a", "-q", "--filter", f"label={TEST_LABEL}",
                       check=False).stdout.split()
        if names:
            podman("rm", "--force", "--volumes", "--time", "0", *names, check=False)
        # the image's anonymous volumes that kube down and compose down leave (the storage
        # is the tests' own)
        podman("volume", "prune", "--force", check=False)

    # --- helpers -----------------------------------------------------------------------------
    def run_container(self, name, env, args=(), options=()):
        argv = ["run", "--detach", "--name", name, "--label", TEST_LABEL,
                "--network", f"ns:{self.netns}"]
        for key, value in env.items():
            argv += ["--env", f"{key}={value}"]
        podman(*argv, *options, IMAGE, *args)
        return name

    def logs(self, name):
        cp = podman("logs", name, check=False)
        return cp.stdout + cp.stderr

    def status(self, name):
        """status.json from the container's /run/portmap (podman cp: no shell inside)."""
        cp = subprocess.run([PODMAN, "cp", f"{name}:/run/portmap/status.json", "-"],
                            capture_output=True, timeout=30)
        if cp.returncode != 0:
            return None
        try:
            with tarfile.open(fileobj=io.BytesIO(cp.stdout)) as t:
                return json.load(t.extractfile(t.getmembers()[0]))
        except (tarfile.TarError, ValueError, IndexError):
            return None

    def wait_active(self, name, timeout=30):
        def active():
            state = inspect(name)["State"]
            if not state["Running"]:
                raise AssertionError(f"{name} exited ({state['ExitCode']}): {self.logs(name)}")
            maps = (self.status(name) or {}).get("Mappings") or []
            return maps and all(m["State"] == "active" for m in maps) and maps
        try:
            return pmlab.wait_for(active, timeout, interval=0.5)
        except AssertionError:
            print(self.logs(name), file=sys.stderr)
            raise AssertionError(f"{name}: no active mapping in {timeout} s: "
                                 f"{self.status(name)}") from None

    def assert_runs_as_1000(self, name):
        pid = inspect(name)["State"]["Pid"]
        with open(f"/proc/{pid}/status") as f:
            ids = {line.split(":")[0]: line.split()[1:]
                   for line in f if line.startswith(("Uid:", "Gid:"))}
        self.assertEqual(ids, {"Uid": ["1000"] * 4, "Gid": ["1000"] * 4})

    def assert_healthy(self, name):
        cp = podman("healthcheck", "run", name, check=False)
        self.assertEqual(cp.returncode, 0, f"healthcheck: {cp.stdout} {cp.stderr}")

    def stop_within_limit(self, name):
        start = time.monotonic()
        podman("stop", name, timeout=60)
        elapsed = time.monotonic() - start
        state = inspect(name)["State"]
        print(f"podman stop {name}: {elapsed:.2f} s, exit status {state['ExitCode']}")
        self.assertLess(elapsed, STOP_LIMIT)
        # portmapd's own exit after SIGTERM, not podman's SIGKILL (137)
        self.assertEqual(state["ExitCode"], 0, self.logs(name))

    def lab_dropin(self, pia):
        """What the replaced tools' variables cannot say: the fake's CA and token API, in a
        directory mounted at /etc/portmap/lab."""
        d = os.path.join(self.workdir, "lab-etc")
        os.makedirs(d, mode=0o755, exist_ok=True)
        shutil.copy(pia.ca, os.path.join(d, "lab-ca.crt"))
        with open(os.path.join(d, "lab.conf"), "w") as f:
            f.write(f"[Provider pia]\nCAFile=/etc/portmap/lab/lab-ca.crt\n"
                    f"TokenURL={pia.token_url}\nTokenCAFile=/etc/portmap/lab/lab-ca.crt\n")
        for name in os.listdir(d):
            os.chmod(os.path.join(d, name), 0o644)
        return d

    def config_volume(self, name="config"):
        """A host directory for /config, owned by the image's user (the PIA manager's
        README: chown 1000:1000 ./config)."""
        d = os.path.join(self.workdir, name)
        os.makedirs(d, mode=0o755, exist_ok=True)
        os.chown(d, 1000, 1000)
        return d

    def probe_tcp(self, external_port, timeout=5):
        """From inet, through gw's public address and the mapped port: an echo server
        answers with what it was sent."""
        token = os.urandom(8).hex()
        cp = self.lab.run(self.lab.ns_inet, [pmlab.PYTHON, "-B", pmlab.PMLAB, "helper",
                                             "tcp-probe", self.lab.GW_WAN_ADDR,
                                             str(external_port), token, str(timeout)],
                          timeout=timeout + 5, check=False)
        return cp.returncode == 0

    def read(self, path):
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    # --- podman run --------------------------------------------------------------------------
    def test_a_natpmp_http_client_environment(self):
        """The natpmp-http-api client's README variables: the mapping active in status.json,
        reachable from inet, healthy, non-root, stopped within 10 s."""
        token = "container-token-5e1d"
        api = self.lab.start_natpmp_http_api(token=token)
        name = self.run_container(
            f"pmtest-natpmp-{self.suffix}",
            {"NATPMP_SERVICE": "natpmp-service:8080", "INTERNAL_PORT": str(APP_PORT),
             "API_TOKEN": token, "ENABLE_TCP": "true", "ENABLE_UDP": "true"},
            # the service's name, as the replaced client's Compose network resolves it
            options=["--add-host", f"natpmp-service:{api.address}"])
        maps = self.wait_active(name)
        ports = {p["Protocol"]: p["ExternalPort"] for p in maps[0]["Ports"]}
        self.assertEqual(sorted(ports), ["tcp", "udp"])
        self.assertTrue(api.forwards() and all(e["authorized"] for e in api.forwards()))
        self.assertTrue(self.lab.tcp_reachable(ports["tcp"], APP_PORT))
        self.assert_healthy(name)
        self.assert_runs_as_1000(name)
        self.assertNotIn(token, self.logs(name))
        self.stop_within_limit(name)

    def test_b_pia_manager_environment_keeps_port_across_restart(self):
        """The PIA port-forwarding manager's variables with /config on the host: the port in
        /config/pia-port.txt; after the container is removed and run again on the same
        /config, the same port, without a new signature."""
        pia = self.lab.start_fake_pia()
        config = self.config_volume()
        labdir = self.lab_dropin(pia)
        env = {"PIA_USER": pia.username, "PIA_PASS": pia.password}
        options = ["--volume", f"{config}:/config", "--volume", f"{labdir}:/etc/portmap/lab:ro"]
        args = ["--config", "/etc/portmap/lab/lab.conf"]
        name = self.run_container(f"pmtest-pia-{self.suffix}", env, args, options)
        maps = self.wait_active(name)
        port = maps[0]["ExternalPort"]
        self.assertEqual(port, pia.state()["signatures"][-1]["port"])
        port_file = os.path.join(config, "pia-port.txt")
        pmlab.wait_for(lambda: self.read(port_file) == f"{port}\n", 10,
                       message=f"pia-port.txt: {self.read(port_file)!r}")
        for f in ("pia-port.txt", "pia-port-data.json", "state.json"):
            self.assertEqual(os.stat(os.path.join(config, f)).st_uid, 1000, f)
        self.assert_healthy(name)
        self.assertNotIn(pia.password, self.logs(name))
        self.stop_within_limit(name)
        podman("rm", "--volumes", name)
        signatures = len(pia.state()["signatures"])
        binds = len(pia.requests("gateway", "/bindPort", 200))
        name = self.run_container(f"pmtest-pia2-{self.suffix}", env, args, options)
        maps = self.wait_active(name)
        self.assertEqual(maps[0]["ExternalPort"], port)
        self.assertEqual(len(pia.state()["signatures"]), signatures)
        self.assertGreater(len(pia.requests("gateway", "/bindPort", 200)), binds)
        self.assertEqual(self.read(port_file), f"{port}\n")
        self.stop_within_limit(name)

    # --- podman kube play --------------------------------------------------------------------
    def kube_play(self, shipped, patch):
        """`podman kube play` of @shipped (data/deploy/kubernetes/) in lan: its Secrets made
        with `podman secret create` (podman 4.3 reads no kind: Secret), the rest as shipped
        but for @patch(docs). Returns the file played (for kube down) and the documents."""
        with open(os.path.join(DEPLOY, "kubernetes", shipped)) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        played = []
        for doc in docs:
            if doc["kind"] != "Secret":
                played.append(doc)
                continue
            name = doc["metadata"]["name"]
            data = {k: base64.b64encode(v.encode()).decode()
                    for k, v in doc.get("stringData", {}).items()}
            data.update(doc.get("data", {}))
            secret = os.path.join(self.workdir, f"secret-{name}.json")
            with open(secret, "w") as f:
                json.dump(data, f)
            podman("secret", "rm", name, check=False)
            podman("secret", "create", name, secret)
            self.addCleanup(podman, "secret", "rm", name, check=False)
            os.unlink(secret)
        patch(played)
        path = os.path.join(self.workdir, shipped)
        with open(path, "w") as f:
            yaml.safe_dump_all(played, f)
        self.addCleanup(self.kube_down, path)
        cp = subprocess.run(["nsenter", f"--net={self.netns}", PODMAN, "kube", "play",
                             "--network", "host", path], capture_output=True, text=True,
                            timeout=180)
        self.assertEqual(cp.returncode, 0, f"kube play: {cp.stdout} {cp.stderr}")
        return path, docs

    def kube_down(self, path):
        subprocess.run([PODMAN, "kube", "down", path], capture_output=True, timeout=120)

    @staticmethod
    def pod_spec(docs, kind="Deployment"):
        return next(d for d in docs if d["kind"] == kind)["spec"]["template"]["spec"]

    def wait_probe(self, container, probe, timeout=30):
        """Run the probe's exec command in the container until it succeeds."""
        command = probe["exec"]["command"]
        self.assertEqual(command, ["portmapd", "--health"])

        def ok():
            return podman("exec", container, *command, check=False).returncode == 0
        try:
            pmlab.wait_for(ok, timeout, interval=0.5)
        except AssertionError:
            print(self.logs(container), file=sys.stderr)
            raise AssertionError(f"{container}: {command} failed for {timeout} s") from None

    def test_c_kube_play_natpmp_http_sidecar(self):
        """The natpmp-http-api client's sidecar example: the application and portmap in one
        pod, the token from the Secret, the 32 MiB limit; the probe passes and the
        application answers from inet through the mapped port."""
        token = "your-secret-token"     # the Secret's, as shipped
        api = self.lab.start_natpmp_http_api(token=token)

        def patch(docs):
            spec = self.pod_spec(docs)
            # the natpmp-http-api Service's address for its name: kube play has no cluster
            # DNS, and podman 4.3 leaves hostAliases out of a host-network pod's /etc/hosts
            for c in spec["containers"]:
                for e in c.get("env", []):
                    if e["name"] == "NATPMP_SERVICE":
                        self.assertEqual(e["value"], "natpmp-service:8080")
                        e["value"] = f"{api.address}:{api.port}"
            # podman 4.3 makes a port mapping of every containerPort, which host networking
            # refuses; in a pod the port is the pod's anyway
            for c in spec["containers"]:
                c.pop("ports", None)

        ensure_substitute_images()
        _, docs = self.kube_play("natpmp-http-api-sidecar.yaml", patch)
        spec = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
        sidecar = next(c for c in spec["containers"] if c["name"] == "natpmp-refresh")
        name = "my-app-pod-0-natpmp-refresh"
        for probe in ("readinessProbe", "livenessProbe"):
            self.wait_probe(name, sidecar[probe])
        maps = self.status(name)["Mappings"]
        ports = {p["Protocol"]: p["ExternalPort"] for p in maps[0]["Ports"]}
        self.assertEqual(maps[0]["InternalPort"], APP_PORT)
        self.assertTrue(api.forwards() and all(e["authorized"] for e in api.forwards()))
        self.assertTrue(self.probe_tcp(ports["tcp"]), "my-app not reachable from inet")
        self.assertEqual(inspect(name)["HostConfig"]["Memory"], 32 * 1024 * 1024)
        self.assert_runs_as_1000(name)
        self.assertNotIn(token, self.logs(name))

    def test_d_kube_play_pia_deployment_keeps_port(self):
        """The PIA manager's Deployment: ConfigMap, Secret and PVC; the probe passes, the
        port is on the claim's volume, and after kube down and play again the same port."""
        pia = self.lab.start_fake_pia(username="p1234567", password="your_password")
        labdir = self.lab_dropin(pia)

        def patch(docs):
            spec = self.pod_spec(docs)
            container = spec["containers"][0]
            container["args"] = ["--config", "/etc/portmap/lab/lab.conf"]
            container["volumeMounts"].append({"name": "lab", "mountPath": "/etc/portmap/lab",
                                              "readOnly": True})
            spec["volumes"].append({"name": "lab", "hostPath": {"path": labdir,
                                                                "type": "Directory"}})

        path, docs = self.kube_play("pia-portforward.yaml", patch)
        self.addCleanup(podman, "volume", "rm", "--force", "pia-portforward-config",
                        check=False)
        spec = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
        container = spec["containers"][0]
        self.assertTrue(container["securityContext"]["runAsNonRoot"])
        self.assertFalse(container["securityContext"]["allowPrivilegeEscalation"])
        name = "pia-portforward-pod-0-pia-portforward"
        for probe in ("startupProbe", "livenessProbe"):
            self.wait_probe(name, container[probe])
        self.assert_runs_as_1000(name)
        volume = inspect("pia-portforward-config", "volume")["Mountpoint"]
        port_file = os.path.join(volume, "pia-port.txt")
        pmlab.wait_for(lambda: self.read(port_file).strip().isdigit(), 10,
                       message=f"pia-port.txt: {self.read(port_file)!r}")
        port = int(self.read(port_file))
        self.assertEqual(port, pia.state()["signatures"][-1]["port"])
        self.assertEqual(os.stat(port_file).st_uid, 1000)
        signatures = len(pia.state()["signatures"])
        self.kube_down(path)
        # the same again, but for the claim: its volume is there (podman 4.3 refuses to
        # make it twice, where Kubernetes finds it bound)
        with open(path) as f:
            again = [d for d in yaml.safe_load_all(f) if d["kind"] != "PersistentVolumeClaim"]
        path = os.path.join(self.workdir, "pia-portforward-again.yaml")
        with open(path, "w") as f:
            yaml.safe_dump_all(again, f)
        self.addCleanup(self.kube_down, path)
        cp = subprocess.run(["nsenter", f"--net={self.netns}", PODMAN, "kube", "play",
                             "--network", "host", path], capture_output=True, text=True,
                            timeout=180)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.wait_probe(name, container["startupProbe"])
        self.assertEqual(self.status(name)["Mappings"][0]["ExternalPort"], port)
        self.assertEqual(len(pia.state()["signatures"]), signatures)

    # --- podman-compose ----------------------------------------------------------------------
    def compose_up(self, shipped, override):
        """podman-compose up of a copy of data/deploy/compose/@shipped (the same bytes) with
        @override as a second file, in a directory of the test (its ./ volumes go there)."""
        d = os.path.join(self.workdir, "compose")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, shipped)
        shutil.copyfile(os.path.join(DEPLOY, "compose", shipped), path)
        over = os.path.join(d, "override.yaml")
        with open(over, "w") as f:
            yaml.safe_dump(override, f)
        project = f"pmtest{self.suffix}"
        base = ["podman-compose", "--podman-path", COMPOSE_PODMAN, "--project-name", project,
                "--file", path, "--file", over]
        self.addCleanup(podman, "network", "rm", "--force", f"{project}_default",
                        check=False)
        self.addCleanup(subprocess.run, base + ["down"], capture_output=True, timeout=120,
                        cwd=d)
        cp = subprocess.run(base + ["up", "--detach"], capture_output=True, text=True,
                            timeout=300, cwd=d)
        self.assertEqual(cp.returncode, 0, f"podman-compose up: {cp.stdout} {cp.stderr}")
        with open(path, "rb") as a, open(os.path.join(DEPLOY, "compose", shipped), "rb") as b:
            self.assertEqual(a.read(), b.read())
        return project, d

    def busybox_service(self, **more):
        return {"image": BUSYBOX_IMAGE, "command": ["sleep", "3600"],
                "labels": [TEST_LABEL], **more}

    def test_e_compose_pia_on_gluetun(self):
        """The PIA manager's Compose example on gluetun's network (gluetun and qBittorrent's
        containers are busybox stand-ins; gluetun's network is lan, where the real
        qbittorrent-nox listens on localhost:8080 as the file says): the port in
        ./pia-config/pia-port.txt and qBittorrent listening on it."""
        pia = self.lab.start_fake_pia(username="p1234567", password="your_password")
        qbt = QbittorrentPeer(self.lab, self.lab.ns_lan, self.workdir, "adminpass",
                              webui_port=8080, username="admin").start()
        self.addCleanup(qbt.stop)
        ensure_substitute_images()
        labdir = self.lab_dropin(pia)
        compose_dir = os.path.join(self.workdir, "compose")
        os.makedirs(os.path.join(compose_dir, "pia-config"), exist_ok=True)
        os.chown(os.path.join(compose_dir, "pia-config"), 1000, 1000)
        override = {"services": {
            "gluetun": self.busybox_service(network_mode=f"ns:{self.netns}"),
            "qbittorrent": self.busybox_service(),
            "pia-portforward": {"command": ["--config", "/etc/portmap/lab/lab.conf"],
                                "volumes": [f"{labdir}:/etc/portmap/lab:ro"],
                                "labels": [TEST_LABEL]},
        }}
        project, d = self.compose_up("pia-gluetun.yaml", override)
        name = f"{project}_pia-portforward_1"
        maps = self.wait_active(name)
        port = maps[0]["ExternalPort"]
        port_file = os.path.join(d, "pia-config", "pia-port.txt")
        pmlab.wait_for(lambda: self.read(port_file) == f"{port}\n", 10,
                       message=f"pia-port.txt: {self.read(port_file)!r}")
        pmlab.wait_for(lambda: qbt.listen_port() == port, 15,
                       message=f"qBittorrent listens on {qbt.listen_port()}, not {port}")
        self.assert_healthy(name)
        self.assert_runs_as_1000(name)

    def test_f_compose_natpmp_http_client(self):
        """The natpmp-http-api client's Compose example: the mapping active, the token used."""
        token = "your-secret-token"     # the file's
        api = self.lab.start_natpmp_http_api(token=token)
        override = {"services": {"natpmp-refresh": {
            "network_mode": f"ns:{self.netns}",
            "extra_hosts": [f"natpmp-service:{api.address}"],
            "labels": [TEST_LABEL]}}}
        project, _ = self.compose_up("natpmp-http-api-client.yaml", override)
        name = f"{project}_natpmp-refresh_1"
        maps = self.wait_active(name)
        self.assertEqual(maps[0]["InternalPort"], APP_PORT)
        self.assertTrue(api.forwards() and all(e["authorized"] for e in api.forwards()))
        self.assert_healthy(name)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("ContainerLabTest"):
        pmlab.reexec_in_private_netns()
    unittest.main(verbosity=2)
