#!/usr/bin/env python3
"""Independent PyTorch (autograd, float64) implementations of FineCLIPER's low
level and of DFER-CLIP, for parity with dfer's training step.

Written from the specifications (docs/method.md, shared/reference/dfer.md §1-2),
not from dfer's C code. Reads one safetensors file written by the test tool
`model_dump` (tests/tools/model_dump.c) holding the CLIP weights (Hugging Face
names), the trainable parameters under dfer's names ("param.<name>"), the
inputs ("input.frames", "input.labels", "input.ids_pos", "input.ids_neg") and
dfer's outputs ("output.logits", "output.loss", "grad.<name>"), recomputes all
of them with autograd, and reports the largest relative differences.

    models_ref.py DUMP.safetensors [--steps-file STEPS.json]
Exit status 1 when any relative error exceeds 1e-4 (the issue's bound).
"""
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    kinds = {"F64": "<f8", "F32": "<f4", "I32": "<i4", "I64": "<i8"}
    for name, info in header.items():
        b, e = info["data_offsets"]
        arr = np.frombuffer(data[8 + n + b:8 + n + e], dtype=kinds[info["dtype"]]).copy()
        t = torch.from_numpy(arr).reshape(info["shape"])
        out[name] = t.double() if t.is_floating_point() else t.long()
    return out, meta


def layer_norm(x, g, b):
    return F.layer_norm(x, (x.shape[-1],), g, b, eps=1e-5)


def mha(x, w_qkv, b_qkv, w_out, b_out, heads, causal=False):
    """x [N, S, X]: softmax(q k^T / sqrt(d) + mask) v per head, then the output projection."""
    n, s, width = x.shape
    qkv = x @ w_qkv.t() + (b_qkv if b_qkv is not None else 0)
    q, k, v = qkv.split(width, dim=-1)
    d = width // heads
    q, k, v = (t.reshape(n, s, heads, d).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    if causal:
        scores = scores + torch.full((s, s), float("-inf")).triu(1)
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, s, width)
    return out @ w_out.t() + b_out


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class ClipWeights:
    def __init__(self, t):
        self.t = t
        self.vis_layers = self._count("vision_model")
        self.txt_layers = self._count("text_model")

    def _count(self, prefix):
        n = 0
        while f"{prefix}.encoder.layers.{n}.layer_norm1.weight" in self.t:
            n += 1
        return n

    def layer(self, prefix, i):
        p = f"{prefix}.encoder.layers.{i}."
        t = self.t
        return {
            "ln1": (t[p + "layer_norm1.weight"], t[p + "layer_norm1.bias"]),
            "qkv": (torch.cat([t[p + f"self_attn.{c}_proj.weight"] for c in "qkv"]),
                    torch.cat([t[p + f"self_attn.{c}_proj.bias"] for c in "qkv"])),
            "out": (t[p + "self_attn.out_proj.weight"], t[p + "self_attn.out_proj.bias"]),
            "ln2": (t[p + "layer_norm2.weight"], t[p + "layer_norm2.bias"]),
            "fc1": (t[p + "mlp.fc1.weight"], t[p + "mlp.fc1.bias"]),
            "fc2": (t[p + "mlp.fc2.weight"], t[p + "mlp.fc2.bias"]),
        }


def attn_sub(L, x, heads, causal=False):
    return mha(layer_norm(x, *L["ln1"]), L["qkv"][0], L["qkv"][1], L["out"][0], L["out"][1], heads, causal)


def mlp_sub(L, h, act=quick_gelu):
    return act(h @ L["fc1"][0].t() + L["fc1"][1]) @ L["fc2"][0].t() + L["fc2"][1]


def block(L, x, heads, causal=False):
    x = x + attn_sub(L, x, heads, causal)
    return x + mlp_sub(L, layer_norm(x, *L["ln2"]))


def adapter(P, prefix, x, skip):
    h = F.gelu(x @ P[prefix + ".fc1.weight"].t() + P[prefix + ".fc1.bias"])  # exact erf GELU
    y = h @ P[prefix + ".fc2.weight"].t() + P[prefix + ".fc2.bias"]
    return x + y if skip else y


def tokens(cw, frames, proj_override=None):
    """frames [N,3,R,R] -> token sequence [N, S, W] (cls + pos)."""
    t = cw.t
    conv = t["vision_model.embeddings.patch_embedding.weight"]
    p = conv.shape[-1]
    x = F.conv2d(frames, conv, stride=p).flatten(2).transpose(1, 2)
    cls = t["vision_model.embeddings.class_embedding"].expand(x.shape[0], 1, -1)
    return torch.cat([cls, x], 1) + t["vision_model.embeddings.position_embedding.weight"]


def stretch_positions(pos, keep=20):
    """Long-CLIP's initialisation of 4L-60 positions from L (77 -> 248): keep the
    first 20 rows, interpolate every later gap into 4 steps, extrapolate the last."""
    rows = [pos[i] for i in range(keep)]
    L = pos.shape[0]
    for i in range(L - keep - 1):
        for k in range(4):
            rows.append((1 - k / 4) * pos[keep + i] + (k / 4) * pos[keep + i + 1])
    for k in range(4):
        rows.append(pos[L - 1] + (k / 4) * (pos[L - 1] - pos[L - 2]))
    return torch.stack(rows)


def text_features(cw, ids, heads, P=None, prefix=None, ctx=None, n_ctx=0, positions=None, embeddings=None):
    """embeddings: the prompts' input embeddings [N, length] in place of the ids' token embeddings."""
    t = cw.t
    eot = ids.argmax(-1)
    length = int(eot.max()) + 1
    ids = ids[:, :length]
    x = t["text_model.embeddings.token_embedding.weight"][ids] if embeddings is None else embeddings
    assert x.shape[1] == length
    if ctx is not None:
        x = torch.cat([x[:, :1], ctx, x[:, 1 + n_ctx:]], 1)
    if positions is None:
        positions = t["text_model.embeddings.position_embedding.weight"]
    x = x + positions[:length]
    for i in range(cw.txt_layers):
        x = block(cw.layer("text_model", i), x, heads, causal=True)
        if P is not None:
            x = adapter(P, f"{prefix}.blocks.{i}.adapter", x, skip=True)
    x = layer_norm(x[torch.arange(x.shape[0]), eot], t["text_model.final_layer_norm.weight"],
                   t["text_model.final_layer_norm.bias"])
    return x @ t["text_projection.weight"].t()


def aim_video(cw, P, frames, T, heads, scale, prefix):
    """Frames [B*T,3,R,R] through the frozen ViT with the AIM adapter set `prefix`
    (visual or mid) and its temporal embedding -> video feature [B,E]."""
    t = cw.t
    B = frames.shape[0] // T
    x = tokens(cw, frames)  # [B*T, S, W]
    S, W = x.shape[1], x.shape[2]
    x = (x.reshape(B, T, S, W) + P[prefix + ".temporal_embedding"].reshape(1, T, 1, W)).reshape(B * T, S, W)
    x = layer_norm(x, t["vision_model.pre_layrnorm.weight"], t["vision_model.pre_layrnorm.bias"])
    adapters = prefix + ".blocks.0.temporal_adapter.fc1.weight" in P
    for i in range(cw.vis_layers):
        L = cw.layer("vision_model", i)
        pre = f"{prefix}.blocks.{i}"
        if adapters:
            xt = x.reshape(B, T, S, W).transpose(1, 2).reshape(B * S, T, W)
            ta = adapter(P, pre + ".temporal_adapter", attn_sub(L, xt, heads), skip=False)
            x = x + ta.reshape(B, S, T, W).transpose(1, 2).reshape(B * T, S, W)
            x = x + adapter(P, pre + ".spatial_adapter", attn_sub(L, x, heads), skip=True)
            h = layer_norm(x, *L["ln2"])
            x = x + mlp_sub(L, h) + scale * adapter(P, pre + ".mlp_adapter", h, skip=False)
        else:
            x = block(L, x, heads)
    cls = layer_norm(x[:, 0], t["vision_model.post_layernorm.weight"], t["vision_model.post_layernorm.bias"])
    return (cls @ t["visual_projection.weight"].t()).reshape(B, T, -1).mean(1)


def finecliper(cw, P, d, meta, labels):
    """FineCLIPER with the levels of the dump: features per modality, PN scores,
    adaptive weights (max PN score per modality, normalised, constants), the
    fused prediction and the weighted loss. Returns (logits, summed loss)."""
    T = int(meta["frames"])
    vh, th = int(meta["vision_heads"]), int(meta["text_heads"])
    scale = float(meta["mlp_adapter_scale"])
    low = int(meta.get("low", "1"))  # 0: the levels without the frames (paper Tab. 4)
    feats = [aim_video(cw, P, d["input.frames"], T, vh, scale, "visual")] if low else []
    mid = int(meta.get("mid_streams", "0"))
    for bit, name in ((1, "parsing"), (2, "landmarks")):
        if mid & bit:
            v = aim_video(cw, P, d["input." + name], T, vh, scale, "mid")
            feats.append(v @ P[f"mid.{name}.projection.weight"].t() + P[f"mid.{name}.projection.bias"])
    if int(meta.get("high", "0")):
        pos = stretch_positions(cw.t["text_model.embeddings.position_embedding.weight"])
        f = text_features(cw, d["input.ids_desc"], th, P, "description", positions=pos)
        feats.append(f @ P["description.projection.weight"].t() + P["description.projection.bias"])
    text_adapters = "text.positive.blocks.0.adapter.fc1.weight" in P
    tp = F.normalize(text_features(cw, d["input.ids_pos"], th, P if text_adapters else None, "text.positive"), dim=-1)
    tn = None
    if int(meta["use_negative"]):
        tn = F.normalize(text_features(cw, d["input.ids_neg"], th, P if text_adapters else None, "text.negative"),
                         dim=-1)

    def pn(n):
        return n @ tp.t() - (n @ tn.t() if tn is not None else 0)

    temp = float(meta["temperature"])
    norms = [F.normalize(f, dim=-1) for f in feats]
    scores = [pn(n) for n in norms]
    conf = torch.stack([s.max(1).values for s in scores], 1).detach()  # [B, M]
    kind = meta.get("fusion_weights", "softmax")
    if kind == "softmax":
        w = torch.softmax(conf / float(meta.get("fusion_temperature", "1")), 1)
    elif kind == "sum":
        c = conf.clamp(min=0)
        total = c.sum(1, keepdim=True)
        w = torch.where(total > 0, c / total.clamp(min=1e-300), torch.full_like(c, 1 / c.shape[1]))
    elif kind == "fixed":  # the paper's Fig. 8: the video feature's weight fixed, the rest shared evenly
        M = conf.shape[1]
        vw = float(meta["fusion_video_weight"])
        row = [1.0] if M == 1 else [vw] + [(1 - vw) / (M - 1)] * (M - 1)  # the video feature is the first
        w = torch.tensor(row, dtype=conf.dtype).expand_as(conf)
    else:
        w = torch.full_like(conf, 1 / conf.shape[1])
    fused = sum(w[:, i:i + 1] * n for i, n in enumerate(norms))
    logits = pn(F.normalize(fused, dim=-1)) / temp
    loss_kind = meta.get("fusion_loss", "modalities")
    loss = 0
    if loss_kind != "fused":
        for i, s in enumerate(scores):
            loss = loss + (w[:, i] * F.cross_entropy(s / temp, labels, reduction="none")).sum()
    if loss_kind != "modalities":
        loss = loss + F.cross_entropy(logits, labels, reduction="sum")
    return logits, loss


PLACEHOLDER = 343  # CLIP's "x</w>": the context slots of DFER-CLIP's prompts ("X X X X <class text>")


def prompt_text_features(cw, ids, heads, ctx):
    """DFER-CLIP's class prompts through the frozen text tower. ctx: None (no contexts: the tokenized class texts
    alone), [M, W] (one set shared by all classes) or [C, M, W]. The slots are found from the placeholders in the
    ids: h at positions 1..h, the other M - h right before the EOT (the argmax id); h = M is the "end" layout,
    h = M // 2 CoOp's "middle"."""
    C = ids.shape[0]
    eot = ids.argmax(-1)
    if ctx is None:
        assert not (ids == PLACEHOLDER).any(), "placeholders in the prompts but no prompt_learner.ctx"
        return text_features(cw, ids, heads)
    if ctx.dim() == 2:  # shared: every class gets the same M vectors
        ctx = ctx.unsqueeze(0).expand(C, -1, -1)
    assert ctx.shape[0] == C, f"prompt_learner.ctx has {ctx.shape[0]} rows for {C} classes"
    M = ctx.shape[1]
    hs = set()
    for k in range(C):
        row = ids[k]
        e = int(eot[k])
        h = 0
        while h < M and int(row[1 + h]) == PLACEHOLDER:
            h += 1
        assert h in (M, M // 2), f"class {k}: {h} leading placeholders for {M} contexts"
        assert all(int(row[e - j]) == PLACEHOLDER for j in range(1, M - h + 1)), \
            f"class {k}: the last {M - h} contexts are not right before the EOT (position {e})"
        assert int((row[1:e] == PLACEHOLDER).sum()) == M, f"class {k}: {M} contexts but other placeholders too"
        assert e - (M - h) > 1 + h, f"class {k}: no class tokens between the contexts"
        hs.add(h)
    assert len(hs) == 1, f"the classes' prompts lay their contexts out differently: {sorted(hs)}"
    h = hs.pop()
    if h == M:  # "end": all right after the SOT, as before
        return text_features(cw, ids, heads, ctx=ctx, n_ctx=M)
    # "middle": concat(SOT, ctx[:h], the class tokens, ctx[h:], the EOT and after), per class (spans differ)
    t = cw.t
    length = int(eot.max()) + 1
    emb = t["text_model.embeddings.token_embedding.weight"][ids[:, :length]]
    rows = []
    for k in range(C):
        e = int(eot[k])
        rows.append(torch.cat([emb[k, :1], ctx[k, :h], emb[k, 1 + h:e - (M - h)], ctx[k, h:], emb[k, e:]], 0))
    return text_features(cw, ids, heads, embeddings=torch.stack(rows))


def dfer_clip(cw, P, d, meta, labels):
    t = cw.t
    T = int(meta["frames"])
    frames = d["input.frames"]
    B = frames.shape[0] // T
    if "image_encoder.patch_embedding.weight" in P:  # fine-tuned image encoder: its own weights
        vis = dict(t)
        ren = {"patch_embedding.weight": "vision_model.embeddings.patch_embedding.weight",
               "class_embedding": "vision_model.embeddings.class_embedding",
               "position_embedding": "vision_model.embeddings.position_embedding.weight",
               "pre_layernorm.weight": "vision_model.pre_layrnorm.weight",
               "pre_layernorm.bias": "vision_model.pre_layrnorm.bias",
               "post_layernorm.weight": "vision_model.post_layernorm.weight",
               "post_layernorm.bias": "vision_model.post_layernorm.bias",
               "projection.weight": "visual_projection.weight"}
        for k, v in P.items():
            if not k.startswith("image_encoder."):
                continue
            k = k[len("image_encoder."):]
            if k in ren:  # dfer keeps the patch convolution flattened: [W, 3*P*P]
                vis[ren[k]] = v.reshape(t[ren[k]].shape)
            else:  # layers.N.<hf name> with q/k/v packed as self_attn.qkv
                i, rest = k.split(".", 2)[1], k.split(".", 2)[2]
                pre = f"vision_model.encoder.layers.{i}."
                if rest.startswith("self_attn.qkv."):
                    kind = rest.split(".")[-1]
                    for j, c in enumerate("qkv"):
                        n = v.shape[0] // 3
                        vis[pre + f"self_attn.{c}_proj.{kind}"] = v[j * n:(j + 1) * n]
                else:
                    vis[pre + rest] = v
        cw = ClipWeights(vis)
        t = vis
    x = tokens(cw, frames)
    heads = int(meta["vision_heads"])
    x = layer_norm(x, t["vision_model.pre_layrnorm.weight"], t["vision_model.pre_layrnorm.bias"])
    for i in range(cw.vis_layers):
        x = block(cw.layer("vision_model", i), x, heads)
    cls = layer_norm(x[:, 0], t["vision_model.post_layernorm.weight"], t["vision_model.post_layernorm.bias"])
    f = (cls @ t["visual_projection.weight"].t()).reshape(B, T, -1)
    E = f.shape[-1]
    # temporal transformer: cls + pos, pre-LN blocks (temporal_net.block, block2, block3, ...) with tanh-GELU MLP,
    # output = cls; without any block (no temporal_net.* at all) the mean of the frame features
    q = "temporal_net."
    blocks = []
    while q + ("block" if not blocks else f"block{len(blocks) + 1}") + ".layer_norm1.weight" in P:
        blocks.append(q + ("block." if not blocks else f"block{len(blocks) + 1}."))
    stray = [k for k in P if k.startswith(q) and not any(k.startswith(b) for b in blocks)
             and k not in (q + "cls_token", q + "pos_embedding")]
    assert not stray, f"temporal_net tensors outside the blocks found: {stray}"
    if blocks:
        y = torch.cat([P[q + "cls_token"].expand(B, 1, E), f], 1) + P[q + "pos_embedding"]
        th = E // 64 if E >= 64 else 1
        for bl in blocks:
            L = {"ln1": (P[bl + "layer_norm1.weight"], P[bl + "layer_norm1.bias"]),
                 "qkv": (P[bl + "self_attn.qkv.weight"], None),
                 "out": (P[bl + "self_attn.out_proj.weight"], P[bl + "self_attn.out_proj.bias"]),
                 "ln2": (P[bl + "layer_norm2.weight"], P[bl + "layer_norm2.bias"]),
                 "fc1": (P[bl + "mlp.fc1.weight"], P[bl + "mlp.fc1.bias"]),
                 "fc2": (P[bl + "mlp.fc2.weight"], P[bl + "mlp.fc2.bias"])}
            y = y + attn_sub(L, y, th)
            y = y + mlp_sub(L, layer_norm(y, *L["ln2"]), act=lambda z: F.gelu(z, approximate="tanh"))
        v = y[:, 0]
    else:
        assert not any(k.startswith(q) for k in P), "temporal_net tensors without a block"
        v = f.mean(1)
    tf = prompt_text_features(cw, d["input.ids_pos"], int(meta["text_heads"]), P.get("prompt_learner.ctx"))
    logits = float(meta["logit_scale"]) * F.normalize(v, dim=-1) @ F.normalize(tf, dim=-1).t()
    return logits, F.cross_entropy(logits, labels, reduction="sum")


def make_sgd(P, meta):
    """torch.optim.SGD configured as the dump's optimiser: one parameter group per
    dfer learning-rate group (its lr and weight decay), momentum, coupled decay."""
    sgd = json.loads(meta["sgd"])
    groups = {}
    for name, g in sgd["group"].items():
        groups.setdefault(g, []).append(P[name])
    return torch.optim.SGD([{"params": ps, "lr": sgd["lr"][g], "weight_decay": sgd["weight_decay"][g]}
                            for g, ps in sorted(groups.items())], lr=sgd["lr"][0], momentum=sgd["momentum"])


def sgd_replay(cw, P0, d, meta, forward):
    """The dump's SGD run with torch.optim.SGD (per-group lr, momentum, coupled
    weight decay) on the mean loss of the same batch; returns the losses before
    each update and the final parameters."""
    sgd = json.loads(meta["sgd"])
    P = {k: v.detach().clone().requires_grad_(True) for k, v in P0.items()}
    opt = make_sgd(P, meta)
    labels = d["input.labels"].long()
    losses = []
    for _ in sgd["losses"]:
        opt.zero_grad()
        loss = forward(cw, P, d, meta, labels)[1] / labels.shape[0]
        loss.backward()
        losses.append(loss.item())
        opt.step()
    return sgd["losses"], losses, P


def main():
    d, meta = read_safetensors(sys.argv[1])
    frozen = ("param", "grad", "input", "output", "final")
    cw = ClipWeights({k: v for k, v in d.items() if k.split(".")[0] not in frozen})
    P = {k[len("param."):]: v.clone().requires_grad_(True) for k, v in d.items() if k.startswith("param.")}
    model = meta["model"]
    forward = finecliper if model == "finecliper" else dfer_clip
    labels = d["input.labels"].long()
    logits, loss = forward(cw, P, d, meta, labels)
    loss.backward()
    worst = 0.0
    report = []

    def compare(name, ours, ref):
        nonlocal worst
        ref = torch.as_tensor(ref).detach().double()
        ours = torch.as_tensor(ours).double()
        scale = max(ref.abs().max().item(), 1e-6)
        err = (ours - ref).abs().max().item() / scale
        worst = max(worst, err)
        report.append((err, name))

    compare("logits", d["output.logits"], logits)
    compare("loss", d["output.loss"].reshape(()), loss)
    for k, p in P.items():
        if p.grad is None:
            raise SystemExit(f"{k}: torch computed no gradient (the parameter is unused in the reference)")
        compare("grad." + k, d["grad." + k], p.grad)
    ours_losses, torch_losses, final = sgd_replay(cw, P, d, meta, forward)
    for i, (a, b) in enumerate(zip(ours_losses, torch_losses)):
        compare(f"sgd loss {i}", a, b)
    for k, p in final.items():
        compare("final." + k, d["final." + k], p)
    report.sort(reverse=True)
    print(f"{model}: {len(P)} trainable tensors; summed loss ours {d['output.loss'].item():.10g} "
          f"torch {loss.item():.10g}")
    if torch_losses:
        print(f"  {len(torch_losses)} SGD steps: mean loss {torch_losses[0]:.6g} -> {torch_losses[-1]:.6g} (torch), "
              f"{ours_losses[0]:.6g} -> {ours_losses[-1]:.6g} (dfer)")
    for err, name in report[:5]:
        print(f"  {name}: max |ours - torch| / max |torch| = {err:.3g}")
    print(f"worst relative error {worst:.3g} over {len(report)} comparisons "
          f"({'ok' if worst <= 1e-4 else 'FAIL'}, bound 1e-4)")
    sys.exit(0 if worst <= 1e-4 else 1)


if __name__ == "__main__":
    main()
