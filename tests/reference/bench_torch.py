#!/usr/bin/env python3
"""The PyTorch peer of `dfer bench --peer torch`: the same model (bench_models.py:
FineCLIPER in any variant, or DFER-CLIP; random weights of the same
architecture, the same frozen/trainable split), the same batch shape, the same
optimiser, timed the same way: warm-up steps, then the median over the timed
steps, each phase ended by a device synchronisation. Plain eager PyTorch with
F.scaled_dot_product_attention, as the methods' research code runs; on CUDA
under torch.autocast(bfloat16) (parameters and optimiser state in float32), on
the CPU in float32. torch.compile is off unless --compile is given.

    bench_torch.py --spec JSON [--compile]
The spec is what dfer bench passes: method, variant, the CLIP shapes
(image_size, patch_size, vision_width/layers/heads, text_width/layers/heads,
embed_dim, vocab_size, context_length), frames, batch, eval_batch, classes, the
text lengths dfer ran (len_pos, len_neg, len_text, len_desc), optimizer, lr,
weight_decay, momentum, steps, warmup, threads, device (cpu|cuda), precision
(the model dtype dfer ran: BF16 -> autocast), seed.
Prints one JSON line."""
import argparse
import inspect
import json
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

import bench_models  # noqa: E402


def rss_peak_reset():
    """Resets the resident high-water mark to the current RSS (Linux >= 4.0), as dfer bench does after building."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def vm_hwm_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (off by default)")
    a = ap.parse_args()
    s = json.loads(a.spec)
    device = s.get("device", "cpu")
    cuda = device == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("bench_torch.py: device cuda asked, but torch sees no GPU")
    if s.get("threads", 0) > 0:
        torch.set_num_threads(s["threads"])
    bf16 = cuda and s.get("precision", "BF16").upper() == "BF16"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True  # what fp32 leftovers get on a GPU in practice
        torch.backends.cudnn.allow_tf32 = True
    model, trainable = bench_models.build(s, device)
    step_model = torch.compile(model) if a.compile else model
    batch, eval_batch = s["batch"], s.get("eval_batch") or s["batch"]
    inp, labels = bench_models.inputs(s, device, batch)
    lr = s.get("lr") or [0.01]
    kind = torch.optim.AdamW if s.get("optimizer", "sgd") == "adamw" else torch.optim.SGD
    # on a GPU the fused update where this torch has one (AdamW from 2.0, SGD from 2.3), as dfer's is one kernel;
    # else torch's default (multi-tensor on CUDA)
    fused = {"fused": True} if cuda and "fused" in inspect.signature(kind).parameters else {}
    if kind is torch.optim.AdamW:
        opt = kind(trainable, lr=lr[0], weight_decay=s.get("weight_decay", 1e-4), **fused)
    else:
        opt = kind(trainable, lr=lr[0], momentum=s.get("momentum", 0.9), weight_decay=s.get("weight_decay", 1e-4),
                   **fused)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16) if cuda else torch.autocast("cpu",
                                                                                                       enabled=False)

    hwm = False
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    else:
        hwm = rss_peak_reset()
    total = s["warmup"] + s["steps"]
    fb, fwd, upd, step = [], [], [], []
    for _ in range(total):
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = step_model(inp, labels)
        sync()
        t1 = time.perf_counter()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        opt.step()
        sync()
        t3 = time.perf_counter()
        fwd.append(t1 - t0), fb.append(t2 - t0), upd.append(t3 - t2), step.append(t3 - t0)
    # the training steps' peak, read before the evaluation as dfer bench reads its own (peak_bytes); the
    # evaluation's peak apart (eval_peak_bytes)
    if cuda:
        train_peak, train_reserved = float(torch.cuda.max_memory_allocated()), float(torch.cuda.max_memory_reserved())
        torch.cuda.reset_peak_memory_stats()
    elif hwm:
        train_peak = vm_hwm_bytes()
        hwm = rss_peak_reset()
    else:
        train_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0
    # evaluation: the forward without gradients
    ev_inp, ev_labels = (inp, labels) if eval_batch == batch else bench_models.inputs(s, device, eval_batch)
    ev = []
    with torch.no_grad():
        for _ in range(total):
            sync()
            t0 = time.perf_counter()
            with autocast():
                step_model(ev_inp, ev_labels)
            sync()
            ev.append(time.perf_counter() - t0)
    w = s["warmup"]

    def med(v):
        return statistics.median(v[w:])

    out = {"side": "pytorch", "method": s["method"], "variant": s.get("variant", ""), "device": device,
           "device_name": torch.cuda.get_device_name() if cuda else "cpu",
           "dtype": "bf16 autocast (float32 parameters)" if bf16 else "float32",
           "mode": ("torch.compile" if a.compile else "eager, no torch.compile") + ", " + bench_models.ATTENTION,
           "batch": batch, "frames": s["frames"], "eval_batch": eval_batch,
           "train_clips_per_s": batch / med(step), "train_step_s": med(step), "train_step_min_s": min(step[w:]),
           "eval_clips_per_s": eval_batch / med(ev),
           "split_s": {"forward": med(fwd), "backward": med(fb) - med(fwd), "update": med(upd)},
           "trainable_parameters": sum(p.numel() for p in trainable),
           "frozen_parameters": sum(p.numel() for p in model.parameters() if not p.requires_grad),
           "optimizer": s.get("optimizer", "sgd") + (" (fused)" if fused else ""), "loss": float(loss),
           "version": torch.__version__}
    if cuda:
        # which cuBLAS this process loaded: the bundle's LD_LIBRARY_PATH may put the toolkit's first
        with open("/proc/self/maps") as maps:
            out["cublas_libraries"] = sorted({l.split()[-1] for l in maps if "libcublas" in l})
        out["cuda_version"] = torch.version.cuda
        out["peak_bytes"], out["peak_reserved_bytes"] = train_peak, train_reserved
        out["peak_method"] = "torch.cuda.max_memory_allocated over the training steps (weights included)"
        out["eval_peak_bytes"] = float(torch.cuda.max_memory_allocated())
        out["eval_peak_method"] = "torch.cuda.max_memory_allocated over the evaluation passes (weights included)"
    elif hwm:
        out["peak_bytes"] = train_peak
        out["peak_method"] = ("resident set high-water mark (VmHWM) from the end of model building to the end of "
                              "the training steps")
        out["eval_peak_bytes"] = vm_hwm_bytes()
        out["eval_peak_method"] = "resident set high-water mark (VmHWM) over the evaluation passes"
    else:
        out["peak_bytes"] = train_peak
        out["peak_method"] = "process peak resident set (ru_maxrss) at the end of the training steps"
    out["process_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0
    out["peak_gib"] = out["peak_bytes"] / 2 ** 30
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
