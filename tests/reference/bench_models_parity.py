#!/usr/bin/env python3
"""Checks that the benchmark's PyTorch peer (bench_models.py, the model `dfer bench --peer torch`
times) computes dfer's function, not only a model of the same size: it builds the peer's model
for the shapes of one `model_dump` file (tests/tools/model_dump.c), loads the dump's frozen CLIP
weights and dfer's trainable parameters into it by name, runs the dump's batch in float64 on the
CPU and compares the summed loss and the gradient of every trainable tensor with dfer's.

The load is a bijection: every tensor of the peer's model receives a dump tensor (no random
weight stays), and the peer's trainable tensors are exactly dfer's (by name, so a frozen/trainable
split that differed while the counts agreed would fail here).

The peer has no options for what the benchmark never sets (FineCLIPER's temperature 0.01, MLP
adapter scale 0.5, softmax fusion of the modalities' losses at fusion temperature 1, both middle-
level streams; DFER-CLIP's fine-tuned image encoder, 8 contexts, logit scale 100): a dump made
with other settings is refused, naming them.

    bench_models_parity.py DUMP.safetensors
Exit status 1 when a relative error exceeds 1e-6. The peer casts its scores to float32 for the
cross-entropy (and DFER-CLIP's features for the cosines), the precision of its loss under autocast;
here, where the whole model is float64, that cast is made the identity (the errors would be ~2e-5
with it, float32's rounding amplified by 1/temperature, and would hide a wrong term of that size).
dfer passes scalar factors such as 1/temperature as F32, so agreement is ~1e-8."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

import bench_models  # noqa: E402
from models_ref import read_safetensors, stretch_positions  # noqa: E402

BOUND = 1e-6


def refuse_unbenched_settings(meta):
    """The dump's settings that bench_models.py does not implement (it has no option for them)."""
    wrong = []

    def want(key, value, default=None):
        got = meta.get(key, default)  # numbers: dfer's float32 setting, widened (0.01 reads 0.0099999997...)
        if got is None or (abs(float(got) - value) > 1e-6 * value if isinstance(value, float) else got != value):
            wrong.append(f"{key} = {got} (the peer: {value})")

    if meta["model"] == "finecliper":
        want("temperature", 0.01)
        want("mlp_adapter_scale", 0.5)
        want("fusion_weights", "softmax", "softmax")
        want("fusion_temperature", 1.0, "1")
        want("fusion_loss", "modalities", "modalities")
        if meta.get("mid_streams", "0") not in ("0", "3"):
            wrong.append(f"mid_streams = {meta['mid_streams']} (the peer: both streams or none)")
    else:
        want("logit_scale", 100.0)
    if wrong:
        sys.exit("bench_models_parity.py: the dump was made with settings the benchmark's peer does not take: "
                 + "; ".join(wrong))


def spec_of(d, meta):
    """bench_torch.py's spec for the dump's shapes (what `dfer bench` would pass for this model)."""
    conv = d["vision_model.embeddings.patch_embedding.weight"]  # [W, 3, P, P]
    vis_pos = d["vision_model.embeddings.position_embedding.weight"]  # [g*g + 1, W]
    W, P = conv.shape[0], conv.shape[-1]
    grid = round((vis_pos.shape[0] - 1) ** 0.5)

    def layers(prefix):
        n = 0
        while f"{prefix}.encoder.layers.{n}.layer_norm1.weight" in d:
            n += 1
        return n

    s = {"method": meta["model"], "image_size": grid * P, "patch_size": P, "vision_width": W,
         "vision_layers": layers("vision_model"), "vision_heads": int(meta["vision_heads"]),
         "text_width": d["text_model.embeddings.token_embedding.weight"].shape[1],
         "text_layers": layers("text_model"), "text_heads": int(meta["text_heads"]),
         "embed_dim": d["visual_projection.weight"].shape[0],
         "vocab_size": d["text_model.embeddings.token_embedding.weight"].shape[0],
         "context_length": d["text_model.embeddings.position_embedding.weight"].shape[0],
         "frames": int(meta["frames"]), "classes": d["input.ids_pos"].shape[0]}
    if s["method"] == "finecliper":
        low = meta.get("low", "1") == "1"
        mid, high = meta.get("mid_streams", "0") != "0", meta.get("high", "0") == "1"
        s["variant"] = "+".join(level for level, on in (("low", low), ("mid", mid), ("high", high)) if on)
        s["len_neg"] = d["input.ids_neg"].shape[1] if meta["use_negative"] == "1" else 0
        s["bottleneck_divisor"] = W // d["param.visual.blocks.0.temporal_adapter.fc1.weight"].shape[0] if low else \
            s["text_width"] // d["param.text.positive.blocks.0.adapter.fc1.weight"].shape[0]
        upper = ("param.mid.blocks.0.temporal_adapter.fc1.weight", W) if mid else \
            ("param.description.blocks.0.adapter.fc1.weight", s["text_width"]) if high else None
        if upper:
            s["mid_high_bottleneck_divisor"] = upper[1] // d[upper[0]].shape[0]
    return s


def block_names(ours, theirs):
    """A transformer block's tensors: the peer's module names -> the dump's (Hugging Face layout)."""
    m = {f"{ours}.ln_1.weight": f"{theirs}.layer_norm1.weight", f"{ours}.ln_1.bias": f"{theirs}.layer_norm1.bias",
         f"{ours}.out.weight": f"{theirs}.self_attn.out_proj.weight",
         f"{ours}.out.bias": f"{theirs}.self_attn.out_proj.bias",
         f"{ours}.ln_2.weight": f"{theirs}.layer_norm2.weight", f"{ours}.ln_2.bias": f"{theirs}.layer_norm2.bias"}
    for fc in ("fc1", "fc2"):
        for kind in ("weight", "bias"):
            m[f"{ours}.{fc}.{kind}"] = f"{theirs}.mlp.{fc}.{kind}"
    return m


def frozen_sources(d, spec):
    """The peer's CLIP tensors -> the dump's frozen weights (Hugging Face names; q/k/v packed as the peer packs
    them). DFER-CLIP's fine-tuned image encoder is loaded from dfer's parameters instead (trainable_names)."""
    src = {"patch.weight": "vision_model.embeddings.patch_embedding.weight",
           "class_emb": "vision_model.embeddings.class_embedding",
           "vis_pos": "vision_model.embeddings.position_embedding.weight",
           "ln_pre.weight": "vision_model.pre_layrnorm.weight", "ln_pre.bias": "vision_model.pre_layrnorm.bias",
           "ln_post.weight": "vision_model.post_layernorm.weight",
           "ln_post.bias": "vision_model.post_layernorm.bias", "vis_proj.weight": "visual_projection.weight",
           "tok_emb.weight": "text_model.embeddings.token_embedding.weight",
           "txt_pos": "text_model.embeddings.position_embedding.weight",
           "ln_final.weight": "text_model.final_layer_norm.weight", "ln_final.bias": "text_model.final_layer_norm.bias",
           "txt_proj.weight": "text_projection.weight"}
    src = {"clip." + k: (lambda key=v: d[key]) for k, v in src.items()}
    for tower, prefix, layers in (("vis_blocks", "vision_model", spec["vision_layers"]),
                                  ("txt_blocks", "text_model", spec["text_layers"])):
        for i in range(layers):
            layer = f"{prefix}.encoder.layers.{i}"
            for ours, theirs in block_names(f"clip.{tower}.{i}", layer).items():
                src[ours] = lambda key=theirs: d[key]
            for kind in ("weight", "bias"):
                src[f"clip.{tower}.{i}.qkv.{kind}"] = \
                    lambda layer=layer, kind=kind: torch.cat([d[f"{layer}.self_attn.{c}_proj.{kind}"] for c in "qkv"])
    return src


def encoder_name(peer_name):
    """clip.<a vision tensor of the peer> -> dfer's name of DFER-CLIP's fine-tuned copy, image_encoder.<name>
    (q/k/v packed as self_attn.qkv, the patch convolution flattened to [W, 3*P*P])."""
    rest = peer_name[len("clip."):]
    fixed = {"patch.weight": "patch_embedding.weight", "class_emb": "class_embedding",
             "vis_pos": "position_embedding", "ln_pre.weight": "pre_layernorm.weight",
             "ln_pre.bias": "pre_layernorm.bias", "ln_post.weight": "post_layernorm.weight",
             "ln_post.bias": "post_layernorm.bias", "vis_proj.weight": "projection.weight"}
    if rest in fixed:
        return "image_encoder." + fixed[rest]
    _, i, tail = rest.split(".", 2)  # vis_blocks.<i>.<tensor>
    if tail.startswith("qkv."):
        return f"image_encoder.layers.{i}.self_attn.{tail}"
    return block_names("x", f"image_encoder.layers.{i}")["x." + tail]


def trainable_names(spec, model):
    """The peer's tensors that dfer trains -> dfer's parameter names (the dump's "param.<name>")."""
    names = {}

    def adapter(ours, theirs):
        for fc in ("fc1", "fc2"):
            for kind in ("weight", "bias"):
                names[f"{ours}.{fc}.{kind}"] = f"{theirs}.{fc}.{kind}"

    if spec["method"] == "finecliper":
        sets = ([("video", "visual")] if model.low else []) + ([("mid_set", "mid")] if model.mid else [])
        for ours, theirs in sets:
            names[f"{ours}.temb"] = f"{theirs}.temporal_embedding"
            for i in range(spec["vision_layers"]):
                for short, long in (("t", "temporal_adapter"), ("s", "spatial_adapter"), ("m", "mlp_adapter")):
                    adapter(f"{ours}.{short}.{i}", f"{theirs}.blocks.{i}.{long}")
        projections = [("proj_parsing", "mid.parsing.projection"), ("proj_landmarks", "mid.landmarks.projection")] \
            if model.mid else []
        towers = [("pos_adapters", "text.positive")]
        if model.use_negative:
            towers.append(("neg_adapters", "text.negative"))
        if model.high:
            towers.append(("desc_adapters", "description"))
            projections.append(("desc_proj", "description.projection"))
        for ours, theirs in projections:
            names[f"{ours}.weight"], names[f"{ours}.bias"] = f"{theirs}.weight", f"{theirs}.bias"
        for ours, theirs in towers:
            for i in range(spec["text_layers"]):
                adapter(f"{ours}.{i}", f"{theirs}.blocks.{i}.adapter")
    else:
        names.update({"cls": "temporal_net.cls_token", "pos": "temporal_net.pos_embedding",
                      "ctx": "prompt_learner.ctx", "temporal.qkv.weight": "temporal_net.block.self_attn.qkv.weight"})
        names.update(block_names("temporal", "temporal_net.block"))
        for name, _ in model.named_parameters():
            if name.startswith("clip.") and not name.startswith(("clip.tok_emb", "clip.txt_", "clip.ln_final")):
                names[name] = encoder_name(name)
    return names


def load(model, d, spec):
    """Copies the dump into the peer's model; returns {peer name: dfer parameter name} of its trainable tensors."""
    frozen = frozen_sources(d, spec)
    trainable = trainable_names(spec, model)
    params = dict(model.named_parameters())
    missing = sorted(set(params) - set(frozen) - set(trainable))
    if missing:
        sys.exit(f"bench_models_parity.py: the peer's model has tensors no dump tensor fills: {', '.join(missing[:8])}")
    with torch.no_grad():
        for name, p in params.items():
            value = d["param." + trainable[name]] if name in trainable else frozen[name]()
            if value.numel() != p.numel():
                sys.exit(f"bench_models_parity.py: {name} has {tuple(p.shape)} in the peer, the dump's "
                         f"{trainable.get(name, name)} {tuple(value.shape)}")
            p.copy_(value.reshape(p.shape))
        if spec["method"] == "finecliper" and model.high:  # derived from the peer's random positions when built
            model.desc_pos.copy_(stretch_positions(model.clip.txt_pos.detach()))
    peer_trainable = {n for n, p in params.items() if p.requires_grad}
    dfer_trainable = {k[len("param."):] for k in d if k.startswith("param.")}
    mapped = {trainable[n] for n in peer_trainable if n in trainable}
    extra_peer = sorted(n for n in peer_trainable if n not in trainable)
    frozen_in_peer = sorted(n for n in trainable if not params[n].requires_grad)
    if extra_peer or frozen_in_peer or mapped != dfer_trainable:
        sys.exit("bench_models_parity.py: the peer's trainable tensors are not dfer's: the peer also trains "
                 f"[{', '.join(extra_peer[:6])}], freezes [{', '.join(frozen_in_peer[:6])}]; dfer also trains "
                 f"[{', '.join(sorted(dfer_trainable - mapped)[:6])}]")
    return {n: trainable[n] for n in peer_trainable}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench_models_parity.py DUMP.safetensors")
    d, meta = read_safetensors(sys.argv[1])
    refuse_unbenched_settings(meta)
    spec = spec_of(d, meta)
    torch.set_default_dtype(torch.float64)
    torch.Tensor.float = lambda self: self  # keep float64 through the peer's float32 casts (see the top)
    model, _ = bench_models.build(spec, "cpu")
    model.double()
    trainable = load(model, d, spec)

    inp = {}
    for key, name in (("frames", "input.frames"), ("parsing", "input.parsing"), ("landmarks", "input.landmarks"),
                      ("desc_ids", "input.ids_desc"),
                      ("pos_ids", "input.ids_pos"), ("neg_ids", "input.ids_neg"), ("class_ids", "input.ids_pos")):
        if name in d:
            inp[key] = d[name]
    labels = d["input.labels"].long()
    batch = labels.shape[0]
    loss = model(inp, labels) * batch  # the peer's mean loss; the dump holds the summed one and its gradients
    loss.backward()
    params = dict(model.named_parameters())
    report = []

    def compare(name, ours, ref):
        ref, ours = torch.as_tensor(ref).detach().double(), torch.as_tensor(ours).double().reshape(ref.shape)
        report.append(((ours - ref).abs().max().item() / max(ref.abs().max().item(), 1e-6), name))

    compare("loss", d["output.loss"].reshape(()), loss)
    for peer_name, dfer_name in sorted(trainable.items()):
        if params[peer_name].grad is None:
            sys.exit(f"bench_models_parity.py: the peer computed no gradient for {peer_name} ({dfer_name})")
        compare(f"grad.{dfer_name} (peer {peer_name})", d["grad." + dfer_name], params[peer_name].grad)
    report.sort(reverse=True)
    worst = report[0][0]
    model_name = " ".join(filter(None, (spec["method"], spec.get("variant"))))
    print(f"bench_models {model_name}: {len(trainable)} trainable tensors loaded from dfer's; summed loss dfer "
          f"{d['output.loss'].item():.10g}, peer {loss.item():.10g}")
    for err, name in report[:4]:
        print(f"  {name}: max |dfer - peer| / max |peer| = {err:.3g}")
    print(f"worst relative error {worst:.3g} over {len(report)} comparisons "
          f"({'ok' if worst <= BOUND else 'FAIL'}, bound {BOUND:g})")
    sys.exit(0 if worst <= BOUND else 1)


if __name__ == "__main__":
    main()
