#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 18: the images of `container/build --arch amd64,arm64,armhf` (its build directory
CONTAINER_BUILDDIR, default build-container, and its podman storage): one per architecture,
each under the size target and with the architecture in its config, a manifest list naming
the three, and each image's portmapd answering --version from the unpacked image (its own
loader and libraries) under qemu-user. tests/run builds them before it runs this suite
(`meson test --suite multiarch`); a missing image is a failure.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
PODMAN = os.path.join(TOP, "container", "podman")
BUILDDIR = os.environ.get("CONTAINER_BUILDDIR") or "build-container"
BUILDDIR = BUILDDIR if os.path.isabs(BUILDDIR) else os.path.join(TOP, BUILDDIR)
IMAGE = "localhost/portmap"
MANIFEST = IMAGE + ":multiarch"
# the container issue's target: podman save | gzip -c | wc -c
TARGET_BYTES = 9_000_000
# Debian architecture -> (image tag suffix, OCI architecture, variant, qemu-user)
ARCHES = {"amd64": ("", "amd64", None, None),
          "arm64": ("-arm64", "arm64", None, "qemu-aarch64-static"),
          "armhf": ("-armhf", "arm", "v7", "qemu-arm-static")}


def podman(*args):
    cp = subprocess.run([PODMAN, *args], capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, CONTAINER_BUILDDIR=BUILDDIR))
    if cp.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {cp.stderr.strip()}")
    return cp.stdout


def tag(arch):
    return f"{IMAGE}:latest{ARCHES[arch][0]}"


class MultiarchTest(unittest.TestCase):
    def image_config(self, arch):
        return json.loads(podman("image", "inspect", tag(arch)))[0]

    def test_a_images_have_their_architecture(self):
        for arch, (_, oci_arch, _, _) in ARCHES.items():
            with self.subTest(arch=arch):
                config = self.image_config(arch)
                self.assertEqual(config["Architecture"], oci_arch)
                self.assertEqual(config["Os"], "linux")
                # (podman 4.3's inspect has no variant: test_c reads it from the manifest)
                self.assertEqual(config["Config"]["User"], "1000:1000")

    def test_b_sizes_under_target(self):
        with open(os.path.join(BUILDDIR, "multiarch.json")) as f:
            images = json.load(f)["images"]
        print(f"{'architecture':12} {'podman save | gzip -c':>22} {'podman save':>12}")
        for arch in ARCHES:
            sizes = images[arch]
            print(f"{arch:12} {sizes['compressed']:22,} {sizes['uncompressed']:12,}")
        for arch in ARCHES:
            with self.subTest(arch=arch):
                # the recorded size is this image's
                self.assertEqual(images[arch]["id"], self.image_config(arch)["Id"])
                self.assertLessEqual(images[arch]["compressed"], TARGET_BYTES)

    def test_c_manifest_lists_the_three(self):
        manifest = json.loads(podman("manifest", "inspect", MANIFEST))
        listed = {(m["platform"]["architecture"], m["platform"].get("variant"))
                  for m in manifest["manifests"]}
        self.assertEqual(listed, {(a[1], a[2]) for a in ARCHES.values()})
        self.assertEqual(len(manifest["manifests"]), len(ARCHES))
        digests = {m["digest"] for m in manifest["manifests"]}
        for arch in ARCHES:
            digest = self.image_config(arch)["Digest"]
            self.assertIn(digest, digests, arch)

    def test_d_version_under_qemu_from_the_image(self):
        version = subprocess.run(["meson", "introspect", "--projectinfo",
                                  os.path.join(TOP, "meson.build")], capture_output=True,
                                 text=True, check=True).stdout
        version = json.loads(version)["version"]
        for arch, (_, _, _, qemu) in ARCHES.items():
            if qemu is None:
                continue
            with self.subTest(arch=arch):
                self.assertTrue(shutil.which(qemu), f"{qemu}: install qemu-user-static")
                with tempfile.TemporaryDirectory(prefix="pm-multiarch-") as root:
                    # the image's only layer, unpacked: nothing of the sysroot's
                    archive = os.path.join(root, "image.tar")
                    podman("save", "--format", "docker-archive", "-o", archive, tag(arch))
                    rootfs = os.path.join(root, "rootfs")
                    with tarfile.open(archive) as outer:
                        manifest = json.load(outer.extractfile("manifest.json"))
                        layers = manifest[0]["Layers"]
                        self.assertEqual(len(layers), 1)
                        with tarfile.open(fileobj=outer.extractfile(layers[0])) as layer:
                            layer.extractall(rootfs)
                    cp = subprocess.run([qemu, "-L", rootfs,
                                         os.path.join(rootfs, "usr", "bin", "portmapd"),
                                         "--version"], capture_output=True, text=True,
                                        timeout=60, env={"LC_ALL": "C"})
                    self.assertEqual(cp.returncode, 0, cp.stderr)
                    self.assertIn(version, cp.stdout)
                    print(f"{arch}: {cp.stdout.strip()}")
                    # it is the foreign architecture's binary: the host cannot run it
                    with self.assertRaises(OSError):
                        subprocess.run([os.path.join(rootfs, "usr", "bin", "portmapd"),
                                        "--version"], capture_output=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
