/* The op interface: the one vocabulary in which every model (CLIP towers,
 * adapters, FineCLIPER, DFER-CLIP) is written. Two backends implement it:
 *   - CPU (src/ops/cpu_ops.c): fp32 everywhere, GEMMs through OpenBLAS. It is the
 *     executable specification; every other backend is tested against it.
 *   - CUDA (kernels/): bf16 storage, fp32 accumulation and statistics.
 * Model code never touches a device; kernels never know about models.
 *
 * Conventions
 *  - Floating tensors are F32, BF16 or F64. F64 is CPU-only and then every
 *    floating operand of the call is F64 (gradient checks, tight parity tests).
 *    Otherwise F32 and BF16 mix freely within one call, on both backends: an op
 *    reads each operand in its own dtype, computes in fp32 (accumulations,
 *    layer-norm statistics, softmax, loss) and rounds each result once to its
 *    output's dtype (round to nearest even). The mixed-precision model (the CUDA
 *    path, and the CPU backend when asked for it) stores frozen weights,
 *    activations and activation gradients in BF16, and trainable parameters,
 *    their gradients and the optimiser state in F32; layer-norm mean/rstd and
 *    per-row losses are F32. Optimiser updates take F32 only.
 *  - Tensors are row-major and contiguous; the leading dimensions of an
 *    activation are flattened into rows: x [N, D] means N rows of D features.
 *  - Linear weights are stored [out, in] (y = x W^T + b), as in PyTorch.
 *  - Tensors passed to an op live on the op context's device.
 *  - Shape disagreements are programming errors: fatal, naming the tensors. */
#ifndef DFER_OPS_OPS_H
#define DFER_OPS_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/check.h"
#include "core/tensor.h"

typedef enum Backend { BACKEND_CPU = 0, BACKEND_CUDA = 1 } Backend;

typedef struct Ops Ops;

/* Creates a context. BACKEND_CUDA fails with a message when there is no GPU or
 * the build has no CUDA. threads <= 0: this rank's share of the node's cores (CPU backend; see
 * ops_set_ranks_per_node). */
int ops_create(Backend backend, int threads, Ops **out, Err *err);
void ops_destroy(Ops *ops);
Backend ops_backend(const Ops *ops);
const char *ops_describe(const Ops *ops); /* "cpu (2 threads, OpenBLAS 0.3.21, Haswell kernels)" */
int ops_threads(const Ops *ops);
/* The backend that `auto` (train.device, --device) means here: what ops_set_default_backend last set
 * (dist_init: the GPU only where every node has one for each of its ranks, agreed by all ranks), else CUDA
 * if built with it and a GPU exists, else the CPU. */
Backend ops_default_backend(void);
void ops_set_default_backend(Backend backend);
/* The ranks of this process's node (dist_init): a CPU context of threads <= 0 takes the node's cores over
 * this many, at least 1 and at most the cores this process may run on (its affinity), so that N ranks of a
 * matrix on one machine do not each start a thread per core. 1 until set. */
void ops_set_ranks_per_node(int ranks);
int ops_default_cpu_threads(void);
/* A counting context (the memory planner): every op and transfer is a no-op, every
 * allocation returns an address that is never backed and only adds to the account
 * (ops_memory_in_use); sizes that depend on the backend
 * (op_attention_saved_bytes) are those of `as`. Works without a GPU. */
Ops *ops_create_counting(Backend as);
int ops_is_counting(const Ops *ops);
/* Per-op timing (ops_profile.c; `dfer bench --profile-steps N`). ops_profile_start wraps the context's op
 * table: from then on every op is timed in its stream's order (host clock on the CPU, whose ops return done;
 * events on the CUDA stream) and added to an entry per op and operand shapes, with the matrix FLOPs it
 * computes (linear, matmul and attention, forward and backward; 2 per multiply-add) and the bytes of its
 * operands. An op that a backend runs through another op counts once, as the outer one. After each profiled
 * step, with the device synced, ops_profile_step reads the step's timings and adds its wall time;
 * ops_profile_stop restores the table (ops_destroy stops a profile left on). */
typedef struct OpsProfileEntry {
    const char *op;      /* "linear", "attention_backward", ... */
    char operands[200];  /* dtype and shape of every tensor operand, in the op's argument order */
    long calls;          /* over all profiled steps */
    double ms;           /* device (or host) time over all profiled steps */
    double flops, bytes; /* over all profiled steps; bytes: the operands' sizes, each read or written once */
} OpsProfileEntry;
void ops_profile_start(Ops *ops);
void ops_profile_step(Ops *ops, double wall_seconds);
/* The entries so far, most time first; *steps and *wall_seconds: the profiled steps and their wall time. */
int ops_profile_entries(Ops *ops, const OpsProfileEntry **entries, int *steps, double *wall_seconds);
/* The same added up per op (operands empty), most time first; the caller frees *sums. */
int ops_profile_by_op(Ops *ops, OpsProfileEntry **sums);
void ops_profile_stop(Ops *ops);

/* What op_attention_saved_bytes answers on a backend, without a context. */
size_t ops_attention_saved_bytes_for(Backend backend, int64_t batch, int64_t seq, int heads);
/* 1 where the backend's attention backward computes q k^T again from qkv (CUDA keeps each row's softmax statistics,
 * never the [S,S] probabilities); 0 where it keeps the probabilities (the CPU). The FLOP counts of bench and of the
 * op profile take this product as recompute. */
int ops_attention_recomputes_scores(Backend backend);

/* Device memory. Every allocation is charged in 256-byte units (cudaMalloc's granularity)
 * to the context's account; with a cap set, an allocation beyond it is fatal, naming the cap. */
void *ops_alloc(Ops *ops, size_t bytes);
void ops_set_memory_cap(Ops *ops, size_t bytes);
size_t ops_memory_in_use(const Ops *ops);
size_t ops_memory_peak(const Ops *ops);
void ops_free(Ops *ops, void *ptr);
void ops_upload(Ops *ops, void *dst_device, const void *src_host, size_t bytes);
void ops_download(Ops *ops, void *dst_host, const void *src_device, size_t bytes);
/* A whole F32, BF16 or F64 tensor to or from host doubles (small tensors: parameters
 * initialised on the host, per-clip weights and losses read back). */
void ops_upload_f64(Ops *ops, Tensor t, const double *src_host);
void ops_download_f64(Ops *ops, double *dst_host, Tensor t);
void ops_zero(Ops *ops, Tensor t);
/* dst = src on the device (same size). */
void ops_copy(Ops *ops, Tensor dst, Tensor src);
/* dst = src element by element, converting between floating dtypes (F32 <-> BF16);
 * a plain copy when the dtypes agree. */
void ops_copy_convert(Ops *ops, Tensor dst, Tensor src);
/* A whole floating tensor from host reals: doubles for an F64 tensor, floats for
 * F32 and BF16 ones (narrowed on the host, round to nearest even). Frames and
 * other host inputs of the models go through here. */
void ops_upload_reals(Ops *ops, Tensor dst, const void *src_host);
void ops_sync(Ops *ops);
/* Host memory for buffers that are uploaded again and again (the loader's batches):
 * page-locked (cudaHostAlloc) on CUDA, so that the copy is a DMA the GPU runs
 * asynchronously; plain 64-byte-aligned memory on the CPU. ops_upload from such
 * memory does not wait on CUDA: the copy is queued on the stream, and the caller
 * must leave the source unchanged until the stream has passed it (the next
 * ops_download, ops_sync or op_sum_squares returns after it). Uploads from other
 * host memory are complete when ops_upload returns, as before. Free with
 * ops_free_host on the same context. Not counted against the device memory cap. */
void *ops_alloc_host(Ops *ops, size_t bytes);
void ops_free_host(Ops *ops, void *ptr);
/* Prefetch (train/input_feed.h: the next batch goes up while this one computes). On CUDA the copy runs
 * on a second stream, the copy engine's, beside the compute stream:
 *   ops_prefetch_upload: dst <- src, queued after every op queued so far on the compute stream (so dst may
 *     be a buffer those ops still read); src must be ops_alloc_host memory (anything else is copied at
 *     once, waiting for the compute stream) and stay unchanged until ops_prefetch_wait_host returns.
 *   ops_prefetch_join: ops queued from now on wait for every prefetch queued so far (and no longer).
 *   ops_prefetch_wait_host: returns when every prefetch queued so far is done; their sources may change.
 * On a backend without a copy engine (the CPU) ops_prefetch_upload is ops_upload, done when it returns, and
 * the other two do nothing. */
void ops_prefetch_upload(Ops *ops, void *dst_device, const void *src_host, size_t bytes);
void ops_prefetch_join(Ops *ops);
void ops_prefetch_wait_host(Ops *ops);
/* 1 when the backend has a copy engine that ops_prefetch_upload runs beside the compute (CUDA). */
int ops_has_prefetch(const Ops *ops);
/* 1 when p lies in device memory of this context (an ops_alloc on CUDA); 0 for host memory, and always on
 * the CPU, whose device memory is host memory. */
int ops_is_device_memory(Ops *ops, const void *p);

/* ---- activation functions ---------------------------------------------- */
typedef enum Activation {
    ACT_QUICKGELU = 0, /* x * sigmoid(1.702 x): CLIP */
    ACT_GELU_ERF,      /* exact GELU 0.5 x (1 + erf(x / sqrt 2)): AIM adapters */
    ACT_GELU_TANH,     /* tanh approximation: DFER-CLIP temporal transformer */
} Activation;

/* ---- forward ops --------------------------------------------------------- */

/* y[N,O] = x[N,I] w[O,I]^T (+ b[O] when b != NULL). */
void op_linear(Ops *ops, Tensor y, Tensor x, Tensor w, const Tensor *b);

/* c[M,N] = alpha * op(a) op(b) + beta * c, op(a) = a [M,K] or a^T (a stored [K,M]),
 * op(b) = b [K,N] or b^T (b stored [N,K]). */
void op_matmul(Ops *ops, Tensor c, Tensor a, Tensor b, int trans_a, int trans_b, float alpha, float beta);

/* Row-wise layer norm of x[N,D]: y = (x - mean) * rstd * g + b.
 * mean[N], rstd[N] are written when their data is non-NULL (kept for backward). */
void op_layernorm(Ops *ops, Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor g, Tensor b, float eps);

/* y = act(x), elementwise, same shape. */
void op_activation(Ops *ops, Activation act, Tensor y, Tensor x);

/* y = a + b (same shapes; y may alias a or b). */
void op_add(Ops *ops, Tensor y, Tensor a, Tensor b);
/* y += alpha * x. */
void op_axpy(Ops *ops, Tensor y, float alpha, Tensor x);
/* y[n,:] = beta * y[n,:] + w[n] * x[n,:] for y, x [N,D], w [N] (x may alias y; beta 0
 * does not read y):
 * per-clip weights of FineCLIPER's fusion and weighted losses. */
void op_axpy_rows(Ops *ops, Tensor y, Tensor w, Tensor x, float beta);
/* y[B,S,D] += p[S,D] for every b (positional embeddings). */
void op_add_broadcast(Ops *ops, Tensor y, Tensor p);

/* Multi-head self-attention core on packed projections.
 * qkv[B,S,3*H*Dh] (q, k, v blocks of H*Dh features each; head h at h*Dh),
 * out[B,S,H*Dh] = concat_h softmax(q_h k_h^T / sqrt(Dh) + mask) v_h.
 * causal = 1 masks j > i. `saved` keeps what backward needs; size it with
 * op_attention_saved_bytes (backend-specific; may be 0 for inference: pass a
 * tensor with data == NULL). */
void op_attention(Ops *ops, Tensor out, Tensor saved, Tensor qkv, int heads, int causal);
size_t op_attention_saved_bytes(const Ops *ops, int64_t batch, int64_t seq, int heads);

/* y[N,D] = table[ids[n], :]; ids is I32 [N], each in [0, V). */
void op_embedding(Ops *ops, Tensor y, Tensor table, Tensor ids);
/* y[N,D] = x[idx[n], :] for a row index per output row (EOT pooling, CLS pick). idx is I32 [N]. */
void op_gather_rows(Ops *ops, Tensor y, Tensor x, Tensor idx);

/* y[idx[n], :] = x[n, :] (overwrite; DFER-CLIP's learnable contexts placed into
 * prompt embeddings). Its backward is op_gather_rows of dy at idx. */
void op_scatter_rows(Ops *ops, Tensor y, Tensor x, Tensor idx);

/* Cuts images[B,3,R,R] into patches[B*g*g, 3*P*P] (patch index = row*g + col,
 * features in (channel, ky, kx) order): the conv-as-GEMM layout of CLIP's conv1. */
void op_im2col_patches(Ops *ops, Tensor patches, Tensor images, int patch);
/* Image preprocessing on the device: x U8 [N, 3, ...] raw pixels (N images of 3
 * channel planes, each of numel/(3N) pixels: [N,3,R,R] in the models), y the same
 * shape in F32, BF16 or F64:  y = (x / 255 - mean[c]) / std[c]  for channel c,
 * evaluated in fp32 in exactly that order, IEEE division (the loader's float path,
 * image_to_chw_float in data/preprocess.c, and the map colouring of face/render.c),
 * so an F32 y is bitwise the frames the loader would have written; BF16 rounds that
 * value once, F64 widens it. Raw [0,1] pixels (DFER-CLIP): mean 0, std 1.
 * Division by std, not multiplication by 1/std: that is what the loader does, and
 * the two differ in the last bit. */
void op_normalize_images(Ops *ops, Tensor y, Tensor x, const float mean[3], const float std[3]);

/* y[B,S+1,D]: row 0 of each batch item is tok[D], rows 1..S are x[B,S,D]. */
void op_prepend_token(Ops *ops, Tensor y, Tensor x, Tensor tok);

/* y[N,D] = x / max(||x||_2, eps) per row. */
void op_l2_normalize(Ops *ops, Tensor y, Tensor x, float eps);

/* y[A,C,B,D] = x[A,B,C,D] (swap of the two middle axes: frames <-> tokens). */
void op_permute_0213(Ops *ops, Tensor y, Tensor x);

/* y[B,D] = mean over T of x[B,T,D]. */
void op_mean_dim1(Ops *ops, Tensor y, Tensor x);

/* y *= alpha. */
void op_scale(Ops *ops, Tensor y, float alpha);

/* Bottleneck adapter (AIM's three per block, FineCLIPER's text adapters) with the residual it feeds, one op:
 *   z[r]      = scale * (gelu_erf(x[r] fc1_w^T + fc1_b) fc2_w^T + fc2_b)  (+ x[r] when skip)
 *   out[m(r)] = res[m(r)] + z[r]            (res.data NULL: out[m(r)] = z[r])
 * x [N, X]; fc1_w [R, X], fc1_b [R]; fc2_w [X, R], fc2_b [X]; res, out [N, X] (out may alias res, not x).
 * m is the identity, or with form.swap_p, swap_q > 0 (N a multiple of their product) the rows of x taken as
 * [N / (P Q), P, Q] land in out as [N / (P Q), Q, P]: op_permute_0213's reordering, for AIM's temporal
 * adapter, which runs on frame sequences and adds into the token-major stream.
 * Precision: computed in the order written; each intermediate (fc1's output, the GELU's, fc2's, the scaled
 * and skip sums, the reordered rows) is either kept in fp32 or rounded to x's dtype, the GELU's output
 * rounded to it at least (the operand of the second product, as a BF16 GEMM takes it); out rounded once.
 * The composed form (ops_adapter_composed: the CPU backend, and CUDA by default) rounds each; CUDA's fused
 * kernels (DFER_ADAPTER=fused) keep the others in fp32. */
typedef struct AdapterWeights {
    Tensor fc1_w, fc1_b; /* [R, X], [R]  (R = the bottleneck) */
    Tensor fc2_w, fc2_b; /* [X, R], [X] */
} AdapterWeights;
typedef struct AdapterForm {
    int skip;
    float scale;
    int64_t swap_p, swap_q; /* 0, 0: out's rows are x's */
} AdapterForm;
/* scratch: U8 of at least op_adapter_scratch_bytes (the composed form's temporaries, the fused kernels'
 * weight copies and hidden activations): the caller's, as op_attention's saved state, so that no op
 * allocates (data NULL: a measuring arena's, on the counting context). */
void op_adapter(Ops *ops, Tensor out, Tensor x, const AdapterWeights *w, Tensor res, AdapterForm form,
                Tensor scratch);
/* Bytes of scratch op_adapter (backward = 0) or op_adapter_backward (1) takes for rows x [rows, width]
 * of dtype act, bottleneck R, on any backend. */
size_t op_adapter_scratch_bytes(int64_t rows, int64_t width, int64_t bottleneck, DType act, AdapterForm form,
                                int backward);

/* Softmax cross-entropy, forward and backward in one pass, over logits[N,C]
 * with labels (I32 [N], each in [0,C)). Writes loss[N] (per row) and, when
 * dlogits.data != NULL, dlogits = (softmax - onehot) * grad_scale (grad_scale
 * is typically 1/global_batch). */
void op_cross_entropy(Ops *ops, Tensor loss, Tensor dlogits, Tensor logits, Tensor labels, float grad_scale);

/* Sum of squares of all elements (for gradient norms), returned to the host. */
double op_sum_squares(Ops *ops, Tensor x);

/* ---- optimiser updates (elementwise over flat buffers) ----------------------------
 * SGD, PyTorch semantics with coupled weight decay:
 *   g' = g + wd*w;  buf = momentum*buf + g' (buf = g' on the first step);  w -= lr*buf
 * AdamW (decoupled decay), step counted from 1:
 *   w -= lr*wd*w;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   w -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps) */
void op_sgd_update(Ops *ops, Tensor w, Tensor g, Tensor buf, float lr, float momentum, float weight_decay,
                   int first_step);
void op_adamw_update(Ops *ops, Tensor w, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                     float weight_decay, int step);

/* ---- backward ops ---------------------------------------------------------------
 * Gradient conventions: gradients of parameters ACCUMULATE (+=; the trainer
 * zeroes them once per step), so micro-batches and shared parameters add up.
 * Gradients of activations OVERWRITE unless the op takes `accumulate`, used
 * where an activation feeds several consumers (residual streams).
 * A NULL gradient (or one with data == NULL) is not computed: frozen weights
 * get no weight-gradient GEMM. */

/* For y = x w^T + b: dx (=, or += if accumulate) = dy w; dw += dy^T x; db += sum_rows dy. */
void op_linear_backward(Ops *ops, Tensor dx, Tensor dw, Tensor db, Tensor dy, Tensor x, Tensor w, int accumulate);

/* For y = layernorm(x): dx (= or +=) ; dg += sum(dy * xhat); db += sum(dy). */
void op_layernorm_backward(Ops *ops, Tensor dx, Tensor dg, Tensor db, Tensor dy, Tensor x, Tensor mean, Tensor rstd,
                           Tensor g, int accumulate);

/* dx = dy * act'(x) (dx may alias dy). */
void op_activation_backward(Ops *ops, Activation act, Tensor dx, Tensor dy, Tensor x);

/* dqkv[B,S,3W] (overwritten) from dout[B,S,W], the forward input qkv and what
 * the forward saved. */
void op_attention_backward(Ops *ops, Tensor dqkv, Tensor dout, Tensor qkv, Tensor saved, int heads, int causal);

/* For out = op_adapter(x, w, res, form), from dout (in out's rows): the weights' gradients are added to g (each
 * one whose data is NULL skipped); dx (= or += by accumulate; data NULL: not computed) gets the fc1 path
 * and, with skip, dout itself (in x's rows). The fc1 output and GELU are computed again from x (nothing is
 * kept). res's gradient is dout: the caller's. Precision as the forward's: dout's rows scaled and rounded
 * to x's dtype, the hidden's gradient rounded to x's dtype before its products; the composed form rounds
 * every step's result, the fused kernels the hidden's gradient once (not its product before the GELU's
 * derivative) and dx once. */
void op_adapter_backward(Ops *ops, Tensor dx, const AdapterWeights *g, Tensor dout, Tensor x, const AdapterWeights *w,
                         AdapterForm form, int accumulate, Tensor scratch);
/* The adapter and its backward as a sequence of the ops above, their temporaries in scratch: the CPU
 * backend's implementation, and the CUDA backend's where it does not fuse (ops_adapter.c). */
void ops_adapter_composed(Ops *ops, Tensor out, Tensor x, const AdapterWeights *w, Tensor res, AdapterForm form,
                          Tensor scratch);
void ops_adapter_backward_composed(Ops *ops, Tensor dx, const AdapterWeights *g, Tensor dout, Tensor x,
                                   const AdapterWeights *w, AdapterForm form, int accumulate, Tensor scratch);

/* dtable[ids[n]] += dy[n] (scatter-add; also the backward of op_gather_rows with
 * the roles named: dx += scatter of dy at idx). */
void op_embedding_backward(Ops *ops, Tensor dtable, Tensor dy, Tensor ids);
void op_gather_rows_backward(Ops *ops, Tensor dx, Tensor dy, Tensor idx);

/* For y = prepend_token(x, tok): dx (=) = dy[:,1:], dtok += sum_b dy[:,0]. */
void op_prepend_token_backward(Ops *ops, Tensor dx, Tensor dtok, Tensor dy);

/* For y += p broadcast: dp += sum over copies of dy. */
void op_add_broadcast_backward(Ops *ops, Tensor dp, Tensor dy);

/* For y = x / max(|x|, eps): dx (=) = (dy - y (y . dy)) / |x| where |x| > eps, and dy / eps where |x| <= eps
 * (there y = x / eps is linear in x; the first form would wrongly project out y). */
void op_l2_normalize_backward(Ops *ops, Tensor dx, Tensor dy, Tensor x, float eps);

/* For y = mean_T x: dx[b,t,:] (=) = dy[b,:] / T. */
void op_mean_dim1_backward(Ops *ops, Tensor dx, Tensor dy);

#endif
