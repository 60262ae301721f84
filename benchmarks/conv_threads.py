"""Whether a ResNet-50's features (rule embed_faces, the trait regressor's resnet50 backbone) give
the same bits on 1, 2 and 4 torch threads, with and without Intel MKL's strict mode
(``MKL_CBWR``) and oneDNN, and what each costs.

Run from the repository root (about 2 minutes on 2 cores):

    nice -n 10 python benchmarks/conv_threads.py [--batch 8] [--repeats 2]

For each mode (``MKL_CBWR`` unset or ``AUTO,STRICT``; ``torch.backends.mkldnn`` on or off) the
script runs itself in a fresh interpreter (MKL reads ``MKL_CBWR`` once, at its first
computation) and, on 1, 2 and 4 threads in turn, passes one seeded batch of ``--batch`` random
224 px images through :class:`polface.images.resnet.ResNet50` (the VGGFace2 layout, seeded random
weights; :meth:`features`, what :class:`polface.images.embed.Embedder` returns on the CPU). It
prints each mode's digests per thread count, whether they agree, and the CPU and wall seconds of
a batch (the best of ``--repeats`` after a warm-up). Results go to
benchmarks/out/conv_threads.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREADS = (1, 2, 4)
MODES = [(cbwr, onednn) for cbwr in ("off", "AUTO,STRICT") for onednn in ("on", "off")]


def measure(batch: int, repeats: int, onednn: bool) -> dict[str, dict[str, object]]:
    """Digest, CPU and wall seconds of the batch's features on each of :data:`THREADS`."""
    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    from polface.images.resnet import ResNet50, preprocess

    torch.backends.mkldnn.enabled = onednn
    torch.manual_seed(7)
    net = ResNet50("caffe").eval()
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (batch, 224, 224, 3), generator=generator, dtype=torch.uint8)
    out = {}
    with torch.inference_mode():
        for threads in THREADS:
            torch.set_num_threads(threads)
            net.features(preprocess(images[:2], "caffe"))  # warm-up
            cpu, wall = [], []
            for _ in range(repeats):
                start_cpu, start_wall = time.process_time(), time.perf_counter()
                features = net.features(preprocess(images, "caffe"))
                cpu.append(time.process_time() - start_cpu)
                wall.append(time.perf_counter() - start_wall)
            data = features.contiguous().numpy().tobytes()
            out[str(threads)] = {
                "digest": hashlib.sha1(data).hexdigest()[:12],
                "cpu_s": min(cpu),
                "wall_s": min(wall),
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("MKL_CBWR", "ONEDNN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = measure(args.batch, args.repeats, args.child[1] == "on")
        print(json.dumps(result))
        return 0
    report = {"load_average_before": os.getloadavg(), "batch": args.batch, "modes": {}}
    for cbwr, onednn in MODES:
        env = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "OMP_NUM_THREADS")}
        if cbwr != "off":
            env["MKL_CBWR"] = cbwr
        command = [sys.executable, __file__, "--batch", str(args.batch)]
        command += ["--repeats", str(args.repeats), "--child", cbwr, onednn]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.splitlines()[-1])
        digests = {r["digest"] for r in result.values()}
        name = f"MKL_CBWR={cbwr} oneDNN={onednn}"
        report["modes"][name] = {"same_bits": len(digests) == 1, "threads": result}
        timing = ", ".join(
            f"{t} threads {r['cpu_s']:.2f} CPU-s / {r['wall_s']:.2f} s" for t, r in result.items()
        )
        same = "same bits" if len(digests) == 1 else f"{len(digests)} different results"
        print(f"{name}: {same} on threads {THREADS}; batch of {args.batch}: {timing}", flush=True)
    report["load_average_after"] = os.getloadavg()
    before, after = report["load_average_before"], report["load_average_after"]
    print(f"load average before {before}, after {after}")
    out = ROOT / "benchmarks" / "out" / "conv_threads.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
