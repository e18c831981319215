#!/usr/bin/env python3
"""The PyTorch side of bench/train_step_vs_torch.sh: one training step (forward,
autograd backward, torch.optim.SGD update) of the reference model in
tests/reference/models_ref.py, in float32, on the batch, weights and trainable
parameters of a model_dump file (steps 0). Frozen CLIP weights do not require
gradients, so autograd skips their weight gradients as dfer does.
    train_step_torch.py DUMP.safetensors ITERS THREADS
Prints one JSON line like bench_train_step."""
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import models_ref as ref  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    path, iters, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    d, meta = ref.read_safetensors(path)
    torch.set_default_dtype(torch.float32)
    d = {k: (v.float() if v.is_floating_point() else v) for k, v in d.items()}
    frozen = ("param", "grad", "input", "output", "final")
    cw = ref.ClipWeights({k: v for k, v in d.items() if k.split(".")[0] not in frozen})
    P = {k[len("param."):]: v.clone().requires_grad_(True) for k, v in d.items() if k.startswith("param.")}
    forward = ref.finecliper if meta["model"] == "finecliper" else ref.dfer_clip
    opt = ref.make_sgd(P, meta)
    labels = d["input.labels"].long()
    before = peak_rss_mib()
    times = []
    for _ in range(iters + 1):  # the first step warms up
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(forward(cw, P, d, meta), labels)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    times = sorted(times[1:])
    batch = labels.shape[0]
    print(json.dumps({"side": "pytorch", "method": meta["model"], "batch": batch, "frames": int(meta["frames"]),
                      "trainable": sum(p.numel() for p in P.values()), "best_step_s": times[0],
                      "median_step_s": times[len(times) // 2], "clips_per_s": batch / times[len(times) // 2],
                      "peak_rss_mib": peak_rss_mib(), "step_rss_growth_mib": peak_rss_mib() - before,
                      "version": torch.__version__}))


if __name__ == "__main__":
    main()
